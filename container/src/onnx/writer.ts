// Builds ONNX graphs in TypeScript and serialises them to model bytes: used by `train`, the example model
// and the test fixtures. Only standard ONNX operators are emitted unless a caller names another domain.
import { AttributeType, DataType, type DataTypeName, ModelProto } from './proto';

/** A dimension: fixed, named (symbolic), or null for one of unknown size (what skl2onnx writes for None). */
export type Dim = number | string | null;

export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | number[] | string[] | boolean[];

type Attribute = { type: number; value: unknown };

/** Typed attribute values (ONNX distinguishes INT from FLOAT, so the caller says which). */
export const attr = {
  int: (v: number): Attribute => ({ type: AttributeType.INT, value: v }),
  float: (v: number): Attribute => ({ type: AttributeType.FLOAT, value: v }),
  string: (v: string): Attribute => ({ type: AttributeType.STRING, value: v }),
  ints: (v: number[]): Attribute => ({ type: AttributeType.INTS, value: v }),
  floats: (v: number[]): Attribute => ({ type: AttributeType.FLOATS, value: v }),
  strings: (v: string[]): Attribute => ({ type: AttributeType.STRINGS, value: v }),
  graph: (v: GraphBuilder): Attribute => ({ type: AttributeType.GRAPH, value: v }),
  /** A tensor-valued attribute (ai.onnx.ml TreeEnsemble's weights and thresholds). */
  tensor: (elem: DataTypeName, dims: number[], data: TensorData): Attribute => ({ type: AttributeType.TENSOR, value: { elem, dims, data } }),
};

interface ValueType {
  tensor?: { elem: DataTypeName; shape?: Dim[] };
  sequenceOfMaps?: { key: DataTypeName; value: DataTypeName };
}

function typeProto(t: ValueType): Record<string, unknown> {
  if (t.tensor) {
    const tensorType: Record<string, unknown> = { elem_type: DataType[t.tensor.elem] };
    if (t.tensor.shape) {
      tensorType.shape = { dim: t.tensor.shape.map((d) => (d === null ? {} : typeof d === 'number' ? { dim_value: d } : { dim_param: d })) };
    }
    return { tensor_type: tensorType };
  }
  const m = t.sequenceOfMaps!;
  return {
    sequence_type: {
      elem_type: { map_type: { key_type: DataType[m.key], value_type: { tensor_type: { elem_type: DataType[m.value] } } } },
    },
  };
}

function tensorProto(name: string, elem: DataTypeName, dims: number[], data: TensorData): Record<string, unknown> {
  const count = dims.reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new Error(`tensor ${name}: ${data.length} values for shape [${dims.join(', ')}]`);
  const t: Record<string, unknown> = { name, data_type: DataType[elem], dims };
  let raw: ArrayBufferView;
  switch (elem) {
    case 'FLOAT':
      raw = data instanceof Float32Array ? data : Float32Array.from(data as number[]);
      break;
    case 'DOUBLE':
      raw = data instanceof Float64Array ? data : Float64Array.from(data as number[]);
      break;
    case 'INT32':
      raw = data instanceof Int32Array ? data : Int32Array.from(data as number[]);
      break;
    case 'INT64':
      raw = data instanceof BigInt64Array ? data : BigInt64Array.from((data as number[]).map((v) => BigInt(v)));
      break;
    case 'BOOL':
    case 'UINT8':
      raw = Uint8Array.from(data as number[], (v) => Number(v));
      break;
    case 'STRING':
      t.string_data = (data as string[]).map((s) => Buffer.from(s, 'utf8'));
      return t;
    default:
      throw new Error(`tensor ${name}: unsupported element type ${elem}`);
  }
  // raw_data is little-endian, which is what typed arrays hold on every platform Node runs on here.
  t.raw_data = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  return t;
}

export class GraphBuilder {
  private readonly nodes: Record<string, unknown>[] = [];
  private readonly inputs: Record<string, unknown>[] = [];
  private readonly outputs: Record<string, unknown>[] = [];
  private readonly initializers: Record<string, unknown>[] = [];
  private counter = 0;

  constructor(readonly name: string) {}

  /** A fresh value name with a readable prefix. */
  fresh(prefix: string): string {
    this.counter += 1;
    return `${prefix}_${this.counter}`;
  }

  input(name: string, elem: DataTypeName, shape?: Dim[]): string {
    this.inputs.push({ name, type: typeProto({ tensor: { elem, shape } }) });
    return name;
  }

  output(name: string, elem: DataTypeName, shape?: Dim[]): string {
    this.outputs.push({ name, type: typeProto({ tensor: { elem, shape } }) });
    return name;
  }

  /** An output of type seq(map(key, value)), as ai.onnx.ml ZipMap produces. */
  sequenceOfMapsOutput(name: string, key: DataTypeName, value: DataTypeName): string {
    this.outputs.push({ name, type: typeProto({ sequenceOfMaps: { key, value } }) });
    return name;
  }

  /** A constant tensor stored as an initializer; returns its name. */
  constant(prefix: string, elem: DataTypeName, dims: number[], data: TensorData): string {
    const name = this.fresh(prefix);
    this.initializers.push(tensorProto(name, elem, dims, data));
    return name;
  }

  /**
   * Adds a node. `outputs` is how many outputs to create (named automatically) or their names; returns the
   * output names (a single name when there is one). Nodes are named automatically unless `name` is given
   * (a subgraph's builder numbers its own nodes, so names that onnxruntime reports should be given).
   */
  node(opType: string, inputs: string[], attributes: Record<string, Attribute> = {}, options: { outputs?: number | string[]; domain?: string; name?: string } = {}): string & string[] {
    const outs = Array.isArray(options.outputs)
      ? options.outputs
      : Array.from({ length: options.outputs ?? 1 }, () => this.fresh(opType.toLowerCase()));
    this.nodes.push({
      op_type: opType,
      name: options.name ?? this.fresh(`node_${opType}`),
      input: inputs,
      output: outs,
      domain: options.domain ?? '',
      attribute: Object.entries(attributes).map(([name, a]) => attributeProto(name, a)),
    });
    return (outs.length === 1 ? outs[0] : outs) as string & string[];
  }

  toProto(): Record<string, unknown> {
    return {
      name: this.name,
      node: this.nodes,
      input: this.inputs,
      output: this.outputs,
      initializer: this.initializers,
    };
  }
}

function attributeProto(name: string, a: Attribute): Record<string, unknown> {
  const p: Record<string, unknown> = { name, type: a.type };
  switch (a.type) {
    case AttributeType.INT: p.i = a.value; break;
    case AttributeType.FLOAT: p.f = a.value; break;
    case AttributeType.STRING: p.s = Buffer.from(a.value as string, 'utf8'); break;
    case AttributeType.INTS: p.ints = a.value; break;
    case AttributeType.FLOATS: p.floats = a.value; break;
    case AttributeType.STRINGS: p.strings = (a.value as string[]).map((s) => Buffer.from(s, 'utf8')); break;
    case AttributeType.GRAPH: p.g = (a.value as GraphBuilder).toProto(); break;
    case AttributeType.TENSOR: {
      const t = a.value as { elem: DataTypeName; dims: number[]; data: TensorData };
      p.t = tensorProto(name, t.elem, t.dims, t.data);
      break;
    }
    default: throw new Error(`attribute ${name}: unsupported type ${a.type}`);
  }
  return p;
}

export interface ModelOptions {
  /** Default-domain opset; 17 keeps ReduceMax/ReduceMean axes as attributes. */
  opset?: number;
  /** Extra operator domains, e.g. { 'ai.onnx.ml': 3 }. */
  domains?: Record<string, number>;
  /** metadata_props, readable by ONNX tools. */
  metadata?: Record<string, string>;
  docString?: string;
}

export function serializeModel(graph: GraphBuilder, options: ModelOptions = {}): Uint8Array {
  const opsets = [{ domain: '', version: options.opset ?? 17 }];
  for (const [domain, version] of Object.entries(options.domains ?? {})) opsets.push({ domain, version });
  const message = ModelProto.fromObject({
    ir_version: 8,
    opset_import: opsets,
    producer_name: 'sagemaker-onnx-serving',
    producer_version: '0.1.0',
    doc_string: options.docString ?? '',
    graph: graph.toProto(),
    metadata_props: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
  });
  return ModelProto.encode(message).finish();
}
