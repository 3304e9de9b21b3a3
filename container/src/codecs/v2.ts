// KServe V2 (Open Inference Protocol) JSON tensors, for any ONNX model:
// {"inputs": [{"name", "shape", "datatype", "data"}], "outputs"?: [{"name"}], "id"?} in, and
// {"model_name", "id"?, "outputs": [{"name", "shape", "datatype", "data"}]} out.
// Every input is checked against the model's own inputs, because onnxruntime-node silently ignores
// unknown names and reports shape problems without saying which request field caused them. Values JSON
// cannot hold (NaN, infinities, 64-bit integers beyond 2^53 - 1) are spelled as numbers.ts says, both ways.
import { ServerError } from '../errors';
import type { TensorData, TensorInfo, TensorValues } from '../vocabulary';
import { halfToNumber, jsonFloat, jsonInt64, numberToHalf, readNonFinite } from './numbers';
import { tidyFloat32 } from './records';
import { joinBinaryBody, tensorFromBinary, tensorToBinary } from './v2-binary';

export interface V2Request {
  id?: string;
  inputs: TensorData[];
  /** Output names the caller asked for; all outputs when absent. */
  outputs?: string[];
  /** Outputs to answer as binary data (the binary tensor extension's "binary_data" / "binary_data_output"). */
  binaryOutputs?: string[];
}

const V2_TO_ORT: Record<string, string> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  INT8: 'int8',
  UINT16: 'uint16',
  INT16: 'int16',
  UINT32: 'uint32',
  INT32: 'int32',
  UINT64: 'uint64',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
};
const ORT_TO_V2: Record<string, string> = Object.fromEntries(Object.entries(V2_TO_ORT).map(([v2, ort]) => [ort, v2]));

export const v2Type = (ortType: string): string => ORT_TO_V2[ortType] ?? ortType.toUpperCase();

const INT_RANGES: Record<string, [number, number]> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The typed array each onnxruntime type is held in: values another codec (npy) already typed are taken as they are. */
const TYPED: Record<string, Function> = {
  float16: Uint16Array, float32: Float32Array, float64: Float64Array, int8: Int8Array, uint8: Uint8Array, int16: Int16Array,
  uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array, int64: BigInt64Array, uint64: BigUint64Array, bool: Uint8Array,
};

/** A "parameters" member: an object, or absent. */
function parametersOf(v: unknown, place: string): Record<string, unknown> {
  if (v === undefined) return {};
  if (!isObject(v)) bad(`${place}: "parameters" must be an object`);
  return v;
}

/** A boolean parameter of the binary tensor extension, or undefined when absent. */
function flag(params: Record<string, unknown>, name: string, place: string): boolean | undefined {
  const v = params[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') bad(`${place}: parameter "${name}" must be true or false`);
  return v;
}

export function isV2Request(doc: unknown): boolean {
  return isObject(doc) && Array.isArray(doc.inputs);
}

function bad(message: string): never {
  throw new ServerError('INVALID_TENSOR', message);
}

function describeInputs(inputs: readonly TensorInfo[]): string {
  return inputs.map((i) => `${i.name} (${v2Type(i.type)} [${i.shape.join(', ')}])`).join(', ');
}

/** Nested or flat data, flattened without recursion (deep nesting cannot overflow the stack). */
function flatten(data: unknown, place: string): unknown[] {
  if (!Array.isArray(data)) return [data];
  if (!data.some(Array.isArray)) return data;
  const out: unknown[] = [];
  const stack: unknown[][] = [data];
  const index: number[] = [0];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const i = index[index.length - 1];
    if (i >= top.length) {
      stack.pop();
      index.pop();
      continue;
    }
    index[index.length - 1] = i + 1;
    const v = top[i];
    if (Array.isArray(v)) {
      if (stack.length > 64) bad(`${place}: "data" is nested more than 64 levels deep`);
      stack.push(v);
      index.push(0);
    } else out.push(v);
  }
  return out;
}

/** V2 JSON values (flattened) as a typed tensor of onnxruntime type `type`; `place` names them in errors. */
export function tensorValuesFromJson(values: unknown[], type: string, place: string): TensorValues {
  const at = (i: number) => `${place}, data[${i}]`;
  const show = (v: unknown) => (typeof v === 'string' ? JSON.stringify(v) : v === null ? 'null' : typeof v === 'object' ? 'an object' : String(v));
  switch (type) {
    case 'float16':
    case 'float32':
    case 'float64': {
      const out = type === 'float16' ? new Uint16Array(values.length) : type === 'float32' ? new Float32Array(values.length) : new Float64Array(values.length);
      values.forEach((raw, i) => {
        // JSON has no NaN or infinities: they come as the strings "NaN", "Infinity", "-Infinity" (see numbers.ts).
        const v = typeof raw === 'string' ? readNonFinite(raw) : raw;
        if (typeof v !== 'number') bad(`${at(i)}: ${show(raw)} is not a number (NaN and the infinities are written "NaN", "Infinity", "-Infinity")`);
        if (typeof raw === 'number' && !Number.isFinite(v)) bad(`${at(i)}: the number is too large`);
        if (type === 'float32' && Math.abs(v) > 3.4028234663852886e38 && Number.isFinite(v)) bad(`${at(i)}: ${v} is outside the range FP32 can hold`);
        if (out instanceof Uint16Array) {
          const bits = numberToHalf(v);
          if (Number.isFinite(v) && (bits & 0x7c00) === 0x7c00) bad(`${at(i)}: ${v} is outside the range FP16 can hold`);
          out[i] = bits;
        } else out[i] = v;
      });
      return out;
    }
    case 'int64':
    case 'uint64': {
      const out = type === 'int64' ? new BigInt64Array(values.length) : new BigUint64Array(values.length);
      values.forEach((v, i) => {
        // Integers beyond 2^53 - 1 lose precision as JSON numbers; a decimal string carries any value exactly,
        // and the server answers those values as strings too, so every answer can be sent back unchanged.
        let big: bigint;
        if (typeof v === 'number' && Number.isSafeInteger(v)) big = BigInt(v);
        else if (typeof v === 'string' && /^-?\d{1,20}$/.test(v)) big = BigInt(v);
        else bad(`${at(i)}: ${show(v)} is not an integer (${v2Type(type)} values beyond 2^53 - 1 go as decimal strings)`);
        const [lo, hi] = type === 'int64' ? [-(2n ** 63n), 2n ** 63n - 1n] : [0n, 2n ** 64n - 1n];
        if (big < lo || big > hi) bad(`${at(i)}: ${show(v)} is outside the ${v2Type(type)} range`);
        out[i] = big;
      });
      return out;
    }
    case 'bool': {
      const out = new Uint8Array(values.length);
      values.forEach((v, i) => {
        if (v === true || v === 1) out[i] = 1;
        else if (v === false || v === 0) out[i] = 0;
        else bad(`${at(i)}: ${show(v)} is not a boolean`);
      });
      return out;
    }
    case 'string':
      return values.map((v, i) => (typeof v === 'string' ? v : bad(`${at(i)}: ${show(v)} is not a string (BYTES)`)));
    default: {
      const range = INT_RANGES[type];
      if (!range) bad(`${place}: datatype ${v2Type(type)} is not supported by this server`);
      const Ctor = { int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array }[type as 'int8']!;
      const out = new Ctor(values.length);
      values.forEach((v, i) => {
        if (typeof v !== 'number' || !Number.isInteger(v)) bad(`${at(i)}: ${show(v)} is not an integer`);
        if (v < range[0] || v > range[1]) bad(`${at(i)}: ${v} is outside the ${v2Type(type)} range`);
        out[i] = v;
      });
      return out;
    }
  }
}

/**
 * Checks a parsed V2 request against the model's inputs and outputs, and converts its data.
 * `zeroSizeRefusal`, when given, says why inputs with a zero-size dimension are refused for this model
 * (onnxruntime aborts the process on them in some operators); without it they go to the model.
 */
export function decodeV2(doc: unknown, modelInputs: readonly TensorInfo[], modelOutputs: readonly TensorInfo[], zeroSizeRefusal?: string, binary?: Uint8Array): V2Request {
  if (!isObject(doc) || !Array.isArray(doc.inputs)) bad('a V2 request needs "inputs": [{"name", "shape", "datatype", "data"}]');
  // The binary tensor extension: each binary input takes the next binary_data_size bytes after the JSON.
  let binaryAt = 0;
  const byName = new Map(modelInputs.map((i) => [i.name, i]));
  const seen = new Set<string>();
  // A named dynamic dimension (e.g. "batch" in [batch, 3] and [batch]) must have one size across inputs;
  // onnxruntime does not check this, and operators read past a shorter input's end when it differs.
  const namedDims = new Map<string, { input: string; index: number; size: number }>();
  const inputs: TensorData[] = doc.inputs.map((raw, k) => {
    if (!isObject(raw)) bad(`inputs[${k}]: expected an object with name, shape, datatype and data`);
    if (typeof raw.name !== 'string') bad(`inputs[${k}]: "name" must be a string`);
    const place = `input "${raw.name}"`;
    const spec = byName.get(raw.name);
    if (!spec) bad(`${place} is not an input of this model; it takes ${describeInputs(modelInputs)}`);
    if (seen.has(raw.name)) bad(`${place} is given twice`);
    seen.add(raw.name);
    if (typeof raw.datatype !== 'string' || !(raw.datatype.toUpperCase() in V2_TO_ORT)) {
      bad(`${place}: "datatype" must be one of ${Object.keys(V2_TO_ORT).join(', ')}`);
    }
    const type = V2_TO_ORT[raw.datatype.toUpperCase()];
    if (type !== spec.type) bad(`${place}: datatype ${raw.datatype}, but the model takes ${v2Type(spec.type)}`);
    if (!Array.isArray(raw.shape) || !raw.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      bad(`${place}: "shape" must be an array of non-negative integers (use [] for a scalar)`);
    }
    const dims = raw.shape as number[];
    // onnxruntime reports an unknown rank as [] too: only a declared scalar (read from the file) or a
    // non-empty model shape is a promise.
    if (spec.scalar && dims.length !== 0) bad(`${place}: shape [${dims.join(', ')}] has ${dims.length} dimension(s), but the model takes a scalar (shape [])`);
    if (spec.shape.length > 0) {
      if (dims.length !== spec.shape.length) bad(`${place}: shape [${dims.join(', ')}] has ${dims.length} dimension(s), but the model takes [${spec.shape.join(', ')}]`);
      spec.shape.forEach((d, i) => {
        if (typeof d === 'number' && d !== dims[i]) bad(`${place}: dimension ${i} is ${dims[i]}, but the model needs ${d} (shape [${spec.shape.join(', ')}])`);
      });
    }
    // Refused before the model runs when the model uses an operator whose onnxruntime kernel aborts the
    // whole process on an empty tensor instead of failing the run (GRU, TopK, ...: see session.ts).
    const zero = dims.indexOf(0);
    if (zero >= 0 && zeroSizeRefusal) bad(`${place}: dimension ${zero} is 0; zero-size tensors are refused for this model because ${zeroSizeRefusal}`);
    const inputName: string = raw.name;
    if (spec.shape.length > 0) {
      spec.shape.forEach((d, i) => {
        if (typeof d !== 'string' || d === '') return;
        const first = namedDims.get(d);
        if (!first) namedDims.set(d, { input: inputName, index: i, size: dims[i] });
        else if (first.size !== dims[i]) {
          bad(`${place}: dimension ${i} (${d}) is ${dims[i]}, but input "${first.input}" has ${first.size} in its dimension ${first.index} (${d}); inputs sharing a dimension name must agree`);
        }
      });
    }
    const expected = dims.reduce((a, b) => a * b, 1);
    const size = parametersOf(raw.parameters, place).binary_data_size;
    if (size !== undefined) {
      if (!binary) bad(`${place}: "binary_data_size" is given, but the request has no Inference-Header-Content-Length header, so it has no binary data (the binary tensor extension)`);
      if (!Number.isSafeInteger(size) || (size as number) < 0) bad(`${place}: "binary_data_size" must be a byte count`);
      if (raw.data !== undefined) bad(`${place}: give "data" or "binary_data_size", not both`);
      if (binaryAt + (size as number) > binary.byteLength) bad(`${place}: binary_data_size is ${size as number} bytes, but only ${binary.byteLength - binaryAt} bytes of binary data are left after the inputs before it`);
      const data = tensorFromBinary(binary.subarray(binaryAt, binaryAt + (size as number)), type, expected, place);
      binaryAt += size as number;
      return { name: raw.name, type, dims, data };
    }
    if (raw.data === undefined) bad(`${place}: "data" is missing`);
    // Values another codec already typed (application/x-npy): the right array for the type, of the right length.
    if (ArrayBuffer.isView(raw.data)) {
      const typed = raw.data as unknown as TensorData['data'] & { length: number };
      if (!(typed instanceof TYPED[type])) bad(`${place}: the values are not ${v2Type(type)}`);
      if (typed.length !== expected) bad(`${place}: ${typed.length} value(s) for shape [${dims.join(', ')}], which holds ${expected}`);
      return { name: raw.name, type, dims, data: typed };
    }
    const values = flatten(raw.data, place);
    if (values.length !== expected) bad(`${place}: ${values.length} value(s) for shape [${dims.join(', ')}], which holds ${expected}`);
    return { name: raw.name, type, dims, data: tensorValuesFromJson(values, type, place) };
  });
  if (binary && binaryAt !== binary.byteLength) bad(`the binary data after the JSON header is ${binary.byteLength} bytes, but the inputs' binary_data_size add up to ${binaryAt}`);
  const missing = modelInputs.filter((i) => !seen.has(i.name));
  if (missing.length > 0) bad(`missing input(s) ${missing.map((i) => `"${i.name}"`).join(', ')}; the model takes ${describeInputs(modelInputs)}`);

  let outputs: string[] | undefined;
  const allBinary = flag(parametersOf(doc.parameters, 'the request'), 'binary_data_output', 'the request') ?? false;
  const binaryOutputs: string[] = [];
  if (doc.outputs !== undefined) {
    if (!Array.isArray(doc.outputs)) bad('"outputs" must be an array of {"name": ...}');
    const known = new Set(modelOutputs.map((o) => o.name));
    outputs = doc.outputs.map((o, k) => {
      const name = isObject(o) ? o.name : undefined;
      if (typeof name !== 'string') bad(`outputs[${k}]: expected {"name": "..."}`);
      if (!known.has(name)) bad(`output "${name}" is not an output of this model; it has ${[...known].join(', ')}`);
      if (flag(parametersOf((o as Record<string, unknown>).parameters, `output "${name}"`), 'binary_data', `output "${name}"`) ?? allBinary) binaryOutputs.push(name);
      return name;
    });
  } else if (allBinary) binaryOutputs.push(...modelOutputs.map((o) => o.name));
  const id = typeof doc.id === 'string' ? doc.id : undefined;
  return { id, inputs, outputs, ...(binaryOutputs.length > 0 ? { binaryOutputs } : {}) };
}

/**
 * A tensor's values as V2 JSON "data", flat: what the server answers, and exactly what it takes back
 * (non-finite floats and 64-bit integers beyond 2^53 - 1 as strings, see numbers.ts).
 */
export function tensorJson(t: TensorData): unknown[] {
  const d = t.data;
  if (Array.isArray(d)) return d;
  if (d instanceof Float32Array) return Array.from(d, (v) => jsonFloat(tidyFloat32(v)));
  if (d instanceof Float64Array) return Array.from(d, jsonFloat);
  if (t.type === 'float16') return Array.from(d as Uint16Array, (v) => jsonFloat(halfToNumber(v)));
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) return Array.from(d as ArrayLike<bigint>, jsonInt64);
  if (t.type === 'bool') return Array.from(d as Uint8Array, (v) => v !== 0);
  return Array.from(d as ArrayLike<number>);
}

export function encodeV2(outputs: readonly TensorData[], modelName: string, id?: string): string {
  return JSON.stringify({
    model_name: modelName,
    ...(id !== undefined ? { id } : {}),
    outputs: outputs.map((t) => ({ name: t.name, datatype: v2Type(t.type), shape: t.dims, data: tensorJson(t) })),
  });
}

/**
 * A V2 response with the outputs named in `binaryOutputs` as binary data after the JSON (the binary tensor
 * extension): the body, and the JSON header's length when any output is binary.
 */
export function encodeV2Response(outputs: readonly TensorData[], model: { modelName: string; version?: string }, request: { id?: string; binaryOutputs?: readonly string[] }): { body: string | Uint8Array; headerLength?: number } {
  const binary = new Set(request.binaryOutputs ?? []);
  const parts: Uint8Array[] = [];
  const doc = {
    model_name: model.modelName,
    ...(model.version !== undefined ? { model_version: model.version } : {}),
    ...(request.id !== undefined ? { id: request.id } : {}),
    outputs: outputs.map((t) => {
      const head = { name: t.name, datatype: v2Type(t.type), shape: t.dims };
      if (!binary.has(t.name)) return { ...head, data: tensorJson(t) };
      const bytes = tensorToBinary(t);
      parts.push(bytes);
      return { ...head, parameters: { binary_data_size: bytes.byteLength } };
    }),
  };
  if (parts.length === 0) return { body: JSON.stringify(doc) };
  return joinBinaryBody(JSON.stringify(doc), parts);
}
