// Reads an ONNX file's metadata (producer, metadata_props), a classifier node's class labels, how a
// label output is computed and the op types it uses, without loading its weights: large initializers and other fields are skipped
// by length, so this costs a few small reads whatever the model's size.
import * as fs from 'node:fs';
import { fields, packedInts } from './wire';

export interface ModelMetadata {
  producerName?: string;
  producerVersion?: string;
  metadata: Record<string, string>;
  /** classlabels_strings / classlabels_int64s of an ai.onnx.ml *Classifier node, when the graph has one. */
  classLabels?: (string | number)[];
  /**
   * A label output computed as Gather(constant class table, ArgMax(source, axis 1, keepdims 0, first
   * index)): label[r] = names[first index of the row's maximum]. The server then computes it from the
   * source output instead of having onnxruntime build one string per row (the dearest part of a run).
   */
  argmaxLabel?: { output: string; source: string; names: (string | number)[] };
  /** Graph inputs declared as scalars: a tensor type whose shape is present and has no dimensions (no shape = unknown rank). */
  scalarInputs: string[];
  /** Every op type the model uses: its graph's nodes, their subgraphs (If, Loop, Scan) and its local functions'. */
  opTypes: string[];
}

class FileReader {
  private pos = 0;
  private readonly buf = Buffer.alloc(64 * 1024);
  private bufStart = 0;
  private bufEnd = 0;
  constructor(private readonly fd: number, readonly size: number) {}

  get position(): number {
    return this.pos;
  }
  private byte(): number {
    if (this.pos >= this.bufEnd || this.pos < this.bufStart) {
      this.bufStart = this.pos;
      this.bufEnd = this.pos + fs.readSync(this.fd, this.buf, 0, this.buf.length, this.pos);
      if (this.bufEnd <= this.pos) throw new Error('unexpected end of file');
    }
    return this.buf[this.pos++ - this.bufStart];
  }
  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
      if (shift > 63) throw new Error('bad varint');
    }
  }
  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    const read = fs.readSync(this.fd, out, 0, n, this.pos);
    if (read !== n) throw new Error('unexpected end of file');
    this.pos += n;
    return out;
  }
  skip(n: number): void {
    this.pos += n;
    if (this.pos > this.size) throw new Error('unexpected end of file');
  }
  seek(to: number): void {
    this.pos = to;
  }
}


/** An AttributeProto's name, its int (field 3) and its strings (field 9) or ints (field 8, packed or not). */
function attribute(b: Buffer): { name: string; strings: string[]; ints: number[]; i?: number } {
  const out: { name: string; strings: string[]; ints: number[]; i?: number } = { name: '', strings: [], ints: [] };
  for (const f of fields(b)) {
    if (f.int !== undefined) {
      if (f.field === 8) out.ints.push(Number(f.int));
      else if (f.field === 3) out.i = Number(f.int);
      // An INT attribute equal to 0 has no i field at all (proto3 leaves defaults out).
      else if (f.field === 20 && f.int === 2n) out.i ??= 0;
    } else if (f.bytes === undefined) continue;
    else if (f.field === 1) out.name = f.bytes.toString('utf8');
    else if (f.field === 9) out.strings.push(f.bytes.toString('utf8'));
    // (A loop: spreading a large packed array into push() overflows the stack.)
    else if (f.field === 8) for (const v of packedInts(f.bytes)) out.ints.push(Number(v));
  }
  return out;
}

/**
 * An AttributeProto's name when it comes first, as every serialiser writes it (else undefined): a tree
 * ensemble's attributes hold 10^5 values and more, and only its class labels are wanted here.
 */
function leadingName(b: Buffer): string | undefined {
  if (b[0] !== 0x0a || b[1] >= 0x80) return undefined;
  return b.subarray(2, 2 + b[1]).toString('utf8');
}

interface GraphFacts {
  classLabels?: (string | number)[];
  scalarInputs: string[];
  nodes: { op: string; domain: string; inputs: string[]; outputs: string[]; ints: Map<string, number> }[];
  /** Small 1-D string or int64 initializers (class tables), by name. */
  tables: Map<string, (string | number)[]>;
}

/** Initializers larger than this are weights, not class tables: skipped unread. */
const TABLE_BYTES = 256 * 1024;

/** A TensorProto's name and values when it is a 1-D string or int64 tensor; undefined otherwise. */
function table(b: Buffer): { name: string; values: (string | number)[] } | undefined {
  let name = '';
  let type = 0n;
  const dims: bigint[] = [];
  const strings: string[] = [];
  let ints: bigint[] = [];
  for (const f of fields(b)) {
    if (f.int !== undefined) {
      if (f.field === 1) dims.push(f.int);
      else if (f.field === 2) type = f.int;
      else if (f.field === 7) ints.push(f.int);
    } else if (f.bytes === undefined) continue;
    else if (f.field === 8) name = f.bytes.toString('utf8');
    else if (f.field === 6) strings.push(f.bytes.toString('utf8'));
    else if (f.field === 1) for (const v of packedInts(f.bytes)) dims.push(v);
    else if (f.field === 7) for (const v of packedInts(f.bytes)) ints.push(v);
    else if (f.field === 9) ints = Array.from({ length: Math.floor(f.bytes.length / 8) }, (_, k) => f.bytes.readBigInt64LE(k * 8));
  }
  if (dims.length !== 1) return undefined;
  let values: (string | number)[];
  if (type === 8n) values = strings;
  // int64 class values beyond 2^53 would not survive as JS numbers: leave such models to onnxruntime.
  else if (type === 7n && ints.every((v) => v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER))) values = ints.map(Number);
  else return undefined;
  if (BigInt(values.length) !== dims[0]) return undefined;
  return { name, values };
}

/**
 * A graph input (ValueInfoProto: name 1, type 2) and whether it is a declared scalar: its TypeProto's
 * tensor_type (1) has a shape (2) with no dim (1). A tensor_type without a shape is of unknown rank.
 */
function graphInput(b: Buffer): { name: string; scalar: boolean } {
  let name = '';
  let scalar = false;
  for (const f of fields(b)) {
    if (f.bytes === undefined) continue;
    if (f.field === 1) name = f.bytes.toString('utf8');
    else if (f.field === 2) {
      const tensor = submessage(f.bytes, 1);
      const shape = tensor && submessage(tensor, 2);
      scalar = shape !== undefined && !fields(shape).some((d) => d.field === 1);
    }
  }
  return { name, scalar };
}

/** The bytes of the first length-delimited field `field` of a small message, if it has one. */
function submessage(b: Buffer, field: number): Buffer | undefined {
  return fields(b).find((f) => f.field === field && f.bytes !== undefined)?.bytes;
}

/** Nodes (inputs, outputs, op, small int attributes, classifier labels) and class tables of a GraphProto. */
function readGraph(r: FileReader, end: number, ops: Set<string>): GraphFacts {
  const facts: GraphFacts = { nodes: [], tables: new Map(), scalarInputs: [] };
  while (r.position < end) {
    const tag = r.varint();
    const field = fieldOf(tag);
    const wireType = tag % 8;
    if (wireType === 2 && field === 11) {
      const input = graphInput(r.bytes(r.varint()));
      if (input.scalar) facts.scalarInputs.push(input.name);
      continue;
    }
    if (wireType === 2 && field === 5) {
      const length = r.varint();
      if (length > TABLE_BYTES) r.skip(length);
      else {
        const t = table(r.bytes(length));
        if (t) facts.tables.set(t.name, t.values);
      }
      continue;
    }
    if (wireType !== 2 || field !== 1) {
      skipField(r, wireType);
      continue;
    }
    facts.nodes.push(readNode(r, r.varint(), facts, ops));
  }
  return facts;
}

/** A NodeProto of `length` bytes at the reader's position; its op and those of its subgraphs go into `ops`. */
function readNode(r: FileReader, length: number, facts: Pick<GraphFacts, 'classLabels'>, ops: Set<string>): GraphFacts['nodes'][number] {
  // op_type (4) comes before its attributes (5) in every serialiser's field order.
  const nodeEnd = r.position + length;
  const node = { op: '', domain: '', inputs: [] as string[], outputs: [] as string[], ints: new Map<string, number>() };
  while (r.position < nodeEnd) {
    const t = r.varint();
    const f = fieldOf(t);
    const w = t % 8;
    if (w === 2 && (f === 1 || f === 2 || f === 4 || f === 7)) {
      const text = r.bytes(r.varint()).toString('utf8');
      if (f === 1) node.inputs.push(text);
      else if (f === 2) node.outputs.push(text);
      else if (f === 4) node.op = text;
      else node.domain = text;
    } else if (w === 2 && f === 5 && (node.op.endsWith('Classifier') || node.op === 'ArgMax' || node.op === 'Gather')) {
      const bytes = r.bytes(r.varint());
      if (node.op.endsWith('Classifier') && !(leadingName(bytes) ?? 'classlabels_').startsWith('classlabels_')) continue;
      const a = attribute(bytes);
      if (a.i !== undefined) node.ints.set(a.name, a.i);
      if (!node.op.endsWith('Classifier')) continue;
      if (a.name === 'classlabels_strings' && a.strings.length > 0) facts.classLabels = a.strings;
      else if ((a.name === 'classlabels_int64s' || a.name === 'classlabels_ints') && a.ints.length > 0) facts.classLabels = a.ints;
    } else if (w === 2 && f === 5) readSubgraphs(r, r.varint(), ops);
    else skipField(r, w);
  }
  r.seek(nodeEnd);
  ops.add(node.op);
  return node;
}

/** The op types of the subgraphs (If, Loop, Scan bodies: AttributeProto g = 6, graphs = 11) of an attribute; other fields skipped unread. */
function readSubgraphs(r: FileReader, length: number, ops: Set<string>): void {
  const end = r.position + length;
  while (r.position < end) {
    const tag = r.varint();
    const field = fieldOf(tag);
    if (tag % 8 === 2 && (field === 6 || field === 11)) {
      const graphLength = r.varint();
      const graphEnd = r.position + graphLength;
      readGraph(r, graphEnd, ops);
      r.seek(graphEnd);
    } else skipField(r, tag % 8);
  }
}

/** The op types of a model-local FunctionProto's nodes (field 7). */
function readFunction(r: FileReader, length: number, ops: Set<string>): void {
  const end = r.position + length;
  while (r.position < end) {
    const tag = r.varint();
    fieldOf(tag);
    if (tag === (7 << 3) + 2) readNode(r, r.varint(), {}, ops);
    else skipField(r, tag % 8);
  }
}

/** The Gather(table, ArgMax(source)) label pattern, when the graph computes a label that way. */
function argmaxLabel(facts: GraphFacts): ModelMetadata['argmaxLabel'] {
  const standard = (d: string) => d === '' || d === 'ai.onnx';
  for (const gather of facts.nodes) {
    if (gather.op !== 'Gather' || !standard(gather.domain) || gather.inputs.length !== 2 || gather.outputs.length !== 1) continue;
    if ((gather.ints.get('axis') ?? 0) !== 0) continue;
    const names = facts.tables.get(gather.inputs[0]);
    const argmax = facts.nodes.find((n) => n.outputs.length === 1 && n.outputs[0] === gather.inputs[1]);
    if (!names || !argmax || argmax.op !== 'ArgMax' || !standard(argmax.domain) || argmax.inputs.length !== 1) continue;
    const axis = argmax.ints.get('axis') ?? 0;
    if ((axis !== 1 && axis !== -1) || (argmax.ints.get('keepdims') ?? 1) !== 0 || (argmax.ints.get('select_last_index') ?? 0) !== 0) continue;
    // The table must be a graph constant, not also produced by a node (an initializer can be overridden as an input).
    if (facts.nodes.some((n) => n.outputs.includes(gather.inputs[0]))) continue;
    return { output: gather.outputs[0], source: argmax.inputs[0], names };
  }
  return undefined;
}

/**
 * A tag's field number, which protobuf never makes 0: a run of zero bytes (a file padded or extended with
 * them, a sparse file) would otherwise read as endless empty fields, one byte at a time.
 */
function fieldOf(tag: number): number {
  const field = Math.floor(tag / 8);
  if (field === 0) throw new Error('not protobuf: a field number 0');
  return field;
}

function skipField(r: FileReader, wireType: number): void {
  if (wireType === 0) r.varint();
  else if (wireType === 1) r.skip(8);
  else if (wireType === 2) r.skip(r.varint());
  else if (wireType === 5) r.skip(4);
  else throw new Error(`unsupported wire type ${wireType}`);
}

/** key/value of a StringStringEntryProto held in `bytes`. */
function entry(bytes: Buffer): [string, string] {
  let key = '';
  let value = '';
  let i = 0;
  while (i < bytes.length) {
    const tag = bytes[i++];
    let len = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[i++];
      len += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) break;
      shift += 7;
    }
    const text = bytes.subarray(i, i + len).toString('utf8');
    i += len;
    if (tag >> 3 === 1) key = text;
    else if (tag >> 3 === 2) value = text;
  }
  return [key, value];
}

/** Top-level metadata of the model at `file`; throws on a file that is not protobuf. */
export function readModelMetadata(file: string): ModelMetadata {
  const fd = fs.openSync(file, 'r');
  try {
    const r = new FileReader(fd, fs.fstatSync(fd).size);
    const ops = new Set<string>();
    const out: ModelMetadata = { metadata: {}, scalarInputs: [], opTypes: [] };
    while (r.position < r.size) {
      const tag = r.varint();
      const field = fieldOf(tag);
      const wireType = tag % 8;
      if (wireType === 2 && field === 7) {
        const length = r.varint();
        const end = r.position + length;
        const facts = readGraph(r, end, ops);
        out.classLabels = facts.classLabels;
        out.argmaxLabel = argmaxLabel(facts);
        out.scalarInputs = facts.scalarInputs;
        r.seek(end);
      } else if (wireType === 2 && field === 25) {
        readFunction(r, r.varint(), ops);
      } else if (wireType === 2 && (field === 2 || field === 3 || field === 14)) {
        const bytes = r.bytes(r.varint());
        if (field === 2) out.producerName = bytes.toString('utf8');
        else if (field === 3) out.producerVersion = bytes.toString('utf8');
        else {
          const [key, value] = entry(bytes);
          out.metadata[key] = value;
        }
      } else {
        skipField(r, wireType);
      }
    }
    out.opTypes = [...ops].filter((op) => op !== '').sort();
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Feature names declared in the model's metadata_props under "features": a JSON array of strings or a
 * comma-separated list (what this project's `train` and example model write).
 */
export function featuresFromMetadata(metadata: Record<string, string>): string[] | undefined {
  const raw = metadata.features ?? metadata.feature_names;
  if (!raw) return undefined;
  try {
    const parsed: unknown = JSON.parse(raw);
    if (Array.isArray(parsed) && parsed.every((n) => typeof n === 'string' && n !== '')) return parsed as string[];
  } catch {
    // not JSON: a comma-separated list
  }
  const names = raw.split(',').map((n) => n.trim());
  return names.every((n) => n !== '') ? names : undefined;
}
