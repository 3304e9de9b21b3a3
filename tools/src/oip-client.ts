// A client of the Open Inference Protocol's REST API, written from its specification (KServe's "V2
// protocol", and Triton's binary tensor data extension) and from nothing in this server, so that the tests
// and the image check speak to the server as any other client would. Tensors go as JSON "data" or, with
// `binary`, as raw little-endian bytes after the JSON; answers are read back either way.
import * as http from 'node:http';

export type Datatype = 'BOOL' | 'UINT8' | 'UINT16' | 'UINT32' | 'UINT64' | 'INT8' | 'INT16' | 'INT32' | 'INT64' | 'FP16' | 'FP32' | 'FP64' | 'BYTES';

/** A tensor as the client holds it: numbers (bigints for 64-bit integers), booleans or strings, flat, row-major. */
export interface Tensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  data: (number | bigint | boolean | string)[];
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** What the server answered to an inference request. */
export interface InferResult {
  model_name: string;
  model_version?: string;
  id?: string;
  outputs: Tensor[];
}

/** An HTTP error answer: the status and the specification's {"error": "..."} message. */
export class ProtocolError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: string,
  ) {
    super(message);
  }
}

const SIZES: Partial<Record<Datatype, number>> = { BOOL: 1, UINT8: 1, INT8: 1, UINT16: 2, INT16: 2, FP16: 2, UINT32: 4, INT32: 4, FP32: 4, UINT64: 8, INT64: 8, FP64: 8 };

/** Half-precision bits from a number (round to nearest even), for FP16 binary data. */
function toHalf(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = (mant | 0x800000) >> (1 - e);
    return sign | ((m + 0x1000) >> 13);
  }
  return sign | (e << 10) | ((mant + 0x1000) >> 13);
}

function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** A tensor's data as the extension's bytes: little-endian, row-major; BYTES as 4-byte lengths and UTF-8. */
export function toBinary(t: Tensor): Buffer {
  if (t.datatype === 'BYTES') {
    return Buffer.concat(t.data.map((s) => {
      const bytes = Buffer.from(String(s), 'utf8');
      const head = Buffer.alloc(4);
      head.writeUInt32LE(bytes.length);
      return Buffer.concat([head, bytes]);
    }));
  }
  const size = SIZES[t.datatype]!;
  const out = Buffer.alloc(size * t.data.length);
  t.data.forEach((v, i) => {
    const at = i * size;
    switch (t.datatype) {
      case 'BOOL': out.writeUInt8(v ? 1 : 0, at); break;
      case 'UINT8': out.writeUInt8(Number(v), at); break;
      case 'INT8': out.writeInt8(Number(v), at); break;
      case 'UINT16': out.writeUInt16LE(Number(v), at); break;
      case 'INT16': out.writeInt16LE(Number(v), at); break;
      case 'FP16': out.writeUInt16LE(toHalf(Number(v)), at); break;
      case 'UINT32': out.writeUInt32LE(Number(v), at); break;
      case 'INT32': out.writeInt32LE(Number(v), at); break;
      case 'FP32': out.writeFloatLE(Number(v), at); break;
      case 'UINT64': out.writeBigUInt64LE(BigInt(v as number), at); break;
      case 'INT64': out.writeBigInt64LE(BigInt(v as number), at); break;
      case 'FP64': out.writeDoubleLE(Number(v), at); break;
    }
  });
  return out;
}

/** `bytes` of the extension as a tensor's data. */
export function fromBinary(datatype: Datatype, bytes: Buffer): Tensor['data'] {
  if (datatype === 'BYTES') {
    const out: string[] = [];
    for (let at = 0; at < bytes.length; ) {
      const n = bytes.readUInt32LE(at);
      out.push(bytes.subarray(at + 4, at + 4 + n).toString('utf8'));
      at += 4 + n;
    }
    return out;
  }
  const size = SIZES[datatype]!;
  const out: Tensor['data'] = [];
  for (let at = 0; at < bytes.length; at += size) {
    switch (datatype) {
      case 'BOOL': out.push(bytes.readUInt8(at) !== 0); break;
      case 'UINT8': out.push(bytes.readUInt8(at)); break;
      case 'INT8': out.push(bytes.readInt8(at)); break;
      case 'UINT16': out.push(bytes.readUInt16LE(at)); break;
      case 'INT16': out.push(bytes.readInt16LE(at)); break;
      case 'FP16': out.push(fromHalf(bytes.readUInt16LE(at))); break;
      case 'UINT32': out.push(bytes.readUInt32LE(at)); break;
      case 'INT32': out.push(bytes.readInt32LE(at)); break;
      case 'FP32': out.push(bytes.readFloatLE(at)); break;
      case 'UINT64': out.push(bytes.readBigUInt64LE(at)); break;
      case 'INT64': out.push(bytes.readBigInt64LE(at)); break;
      case 'FP64': out.push(bytes.readDoubleLE(at)); break;
    }
  }
  return out;
}

/** JSON has no bigints: 64-bit integers go as numbers when exact, else as decimal strings. */
const jsonValue = (v: Tensor['data'][number]) => (typeof v === 'bigint' ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : v);

export interface InferOptions {
  /** Send the inputs as binary data after the JSON. */
  binaryInputs?: boolean;
  /** Ask for every output as binary data (binary_data_output), or per output name. */
  binaryOutputs?: boolean | string[];
  /** Only these outputs (all when absent). */
  outputs?: string[];
  id?: string;
  version?: string;
  headers?: Record<string, string>;
}

export class OipClient {
  /** `base` such as http://127.0.0.1:8080 (no trailing slash). */
  constructor(readonly base: string) {}

  request(method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Reply> {
    const url = new URL(this.base + path);
    return new Promise((resolve, reject) => {
      const req = http.request({ host: url.hostname, port: url.port, method, path: url.pathname + url.search, headers: { ...headers, ...(body ? { 'Content-Length': String(body.length) } : {}) }, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.setTimeout(60_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** A JSON answer, or a ProtocolError carrying the specification's error message. */
  private async json<T>(method: string, path: string): Promise<T> {
    const reply = await this.request(method, path);
    return this.read<T>(reply);
  }

  private read<T>(reply: Reply): T {
    const text = reply.body.toString('utf8');
    if (reply.status !== 200) {
      let message = text;
      try {
        const doc = JSON.parse(text) as { error?: unknown };
        if (typeof doc.error === 'string') message = doc.error;
      } catch {
        // not JSON: the body is the message
      }
      throw new ProtocolError(reply.status, message, text);
    }
    return JSON.parse(text) as T;
  }

  /** Server Live: the status says it (200 true, anything else false). */
  async isServerLive(): Promise<boolean> {
    return (await this.request('GET', '/v2/health/live')).status === 200;
  }

  async isServerReady(): Promise<boolean> {
    return (await this.request('GET', '/v2/health/ready')).status === 200;
  }

  async isModelReady(model: string, version?: string): Promise<boolean> {
    return (await this.request('GET', `${this.modelPath(model, version)}/ready`)).status === 200;
  }

  serverMetadata(): Promise<{ name: string; version: string; extensions: string[] }> {
    return this.json('GET', '/v2');
  }

  modelMetadata(model: string, version?: string): Promise<{ name: string; versions?: string[]; platform: string; inputs: { name: string; datatype: Datatype; shape: number[] }[]; outputs: { name: string; datatype: Datatype; shape: number[] }[] }> {
    return this.json('GET', this.modelPath(model, version));
  }

  modelPath(model: string, version?: string): string {
    return `/v2/models/${encodeURIComponent(model)}${version !== undefined ? `/versions/${encodeURIComponent(version)}` : ''}`;
  }

  /** The request's body and headers as the protocol lays them out (exposed so tests can alter them). */
  inferRequest(inputs: Tensor[], options: InferOptions = {}): { body: Buffer; headers: Record<string, string> } {
    const binaryParts: Buffer[] = [];
    const doc: Record<string, unknown> = {
      ...(options.id !== undefined ? { id: options.id } : {}),
      inputs: inputs.map((t) => {
        const head = { name: t.name, shape: t.shape, datatype: t.datatype };
        if (!options.binaryInputs) return { ...head, data: t.data.map(jsonValue) };
        const bytes = toBinary(t);
        binaryParts.push(bytes);
        return { ...head, parameters: { binary_data_size: bytes.length } };
      }),
    };
    const wanted = options.binaryOutputs;
    if (options.outputs) doc.outputs = options.outputs.map((name) => ({ name, ...(wanted !== undefined ? { parameters: { binary_data: wanted === true || (Array.isArray(wanted) && wanted.includes(name)) } } : {}) }));
    else if (wanted === true) doc.parameters = { binary_data_output: true };
    const json = Buffer.from(JSON.stringify(doc), 'utf8');
    if (binaryParts.length === 0) return { body: json, headers: { 'Content-Type': 'application/json', ...options.headers } };
    return {
      body: Buffer.concat([json, ...binaryParts]),
      headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(json.length), ...options.headers },
    };
  }

  /** An answer body (JSON, or JSON then binary outputs) as outputs with their data. */
  static readInferBody(reply: Reply): InferResult {
    const headerLength = reply.headers['inference-header-content-length'];
    const length = typeof headerLength === 'string' ? Number(headerLength) : reply.body.length;
    const doc = JSON.parse(reply.body.subarray(0, length).toString('utf8')) as { model_name: string; model_version?: string; id?: string; outputs: (Tensor & { parameters?: { binary_data_size?: number } })[] };
    let at = length;
    const outputs = doc.outputs.map((o) => {
      const size = o.parameters?.binary_data_size;
      if (size === undefined) return { name: o.name, datatype: o.datatype, shape: o.shape, data: o.data };
      const data = fromBinary(o.datatype, reply.body.subarray(at, at + size));
      at += size;
      return { name: o.name, datatype: o.datatype, shape: o.shape, data };
    });
    if (at !== reply.body.length) throw new Error(`the answer has ${reply.body.length - at} bytes after its last binary output`);
    return { ...doc, outputs };
  }

  async infer(model: string, inputs: Tensor[], options: InferOptions = {}): Promise<InferResult> {
    const { body, headers } = this.inferRequest(inputs, options);
    const reply = await this.request('POST', `${this.modelPath(model, options.version)}/infer`, body, headers);
    if (reply.status !== 200) this.read(reply);
    return OipClient.readInferBody(reply);
  }
}
