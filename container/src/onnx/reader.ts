// Reads an ONNX file's top-level metadata (producer, metadata_props) without loading its graph: the graph
// and its weights are skipped by length, so this costs a few small reads whatever the model's size.
import * as fs from 'node:fs';

export interface ModelMetadata {
  producerName?: string;
  producerVersion?: string;
  metadata: Record<string, string>;
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
      if (wireType === 2 && (field === 2 || field === 3 || field === 14)) {
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
