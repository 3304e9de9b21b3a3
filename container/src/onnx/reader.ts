// Reads an ONNX file's metadata (producer, metadata_props) and a classifier node's class labels without
// loading its weights: initializers and other fields are skipped by length, so this costs a few small
// reads whatever the model's size.
import * as fs from 'node:fs';

export interface ModelMetadata {
  producerName?: string;
  producerVersion?: string;
  metadata: Record<string, string>;
  /** classlabels_strings / classlabels_int64s of an ai.onnx.ml *Classifier node, when the graph has one. */
  classLabels?: (string | number)[];
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

/** Varint at `i` in `b`: [value, next index]. */
function varintAt(b: Buffer, i: number): [number, number] {
  let v = 0;
  let shift = 0;
  for (;;) {
    const x = b[i++];
    v += (x & 0x7f) * 2 ** shift;
    if (x < 0x80) return [v, i];
    shift += 7;
  }
}

/** An AttributeProto's name and its strings (field 9) or ints (field 8, packed or not). */
function attribute(b: Buffer): { name: string; strings: string[]; ints: number[] } {
  const out = { name: '', strings: [] as string[], ints: [] as number[] };
  for (let i = 0; i < b.length; ) {
    let tag: number;
    [tag, i] = varintAt(b, i);
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (wire === 0) {
      let v: number;
      [v, i] = varintAt(b, i);
      if (field === 8) out.ints.push(v);
    } else if (wire === 2) {
      let len: number;
      [len, i] = varintAt(b, i);
      const bytes = b.subarray(i, i + len);
      i += len;
      if (field === 1) out.name = bytes.toString('utf8');
      else if (field === 9) out.strings.push(bytes.toString('utf8'));
      else if (field === 8) for (let k = 0; k < bytes.length; ) [out.ints[out.ints.length], k] = varintAt(bytes, k);
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else break;
  }
  return out;
}

/** Class labels from the graph's classifier node, reading only NodeProtos (initializers are skipped). */
function graphClassLabels(r: FileReader, end: number): (string | number)[] | undefined {
  let found: (string | number)[] | undefined;
  while (r.position < end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (wireType !== 2 || field !== 1) {
      skipField(r, wireType);
      continue;
    }
    // A NodeProto: op_type (4) comes before its attributes (5) in every serialiser's field order.
    const nodeLength = r.varint();
    const nodeEnd = r.position + nodeLength;
    let op = '';
    while (r.position < nodeEnd) {
      const t = r.varint();
      const f = Math.floor(t / 8);
      const w = t % 8;
      if (w === 2 && f === 4) op = r.bytes(r.varint()).toString('utf8');
      else if (w === 2 && f === 5 && op.endsWith('Classifier')) {
        const a = attribute(r.bytes(r.varint()));
        if (a.name === 'classlabels_strings' && a.strings.length > 0) found = a.strings;
        else if ((a.name === 'classlabels_int64s' || a.name === 'classlabels_ints') && a.ints.length > 0) found = a.ints;
      } else skipField(r, w);
    }
    r.seek(nodeEnd);
  }
  return found;
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
    const out: ModelMetadata = { metadata: {} };
    while (r.position < r.size) {
      const tag = r.varint();
      const field = Math.floor(tag / 8);
      const wireType = tag % 8;
      if (wireType === 2 && field === 7) {
        const length = r.varint();
        const end = r.position + length;
        out.classLabels = graphClassLabels(r, end);
        r.seek(end);
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
