// The binary tensor data extension of the Open Inference Protocol (Triton's and KServe's clients send and
// ask for it): the JSON header's length in Inference-Header-Content-Length, each binary tensor's raw bytes
// after it in the order of the JSON's tensors (little-endian, row-major; BOOL one byte; BYTES each element a
// 4-byte little-endian length and its bytes), "binary_data_size" naming each one's byte count. Reading splits
// a body and turns byte ranges into typed tensors; writing lays outputs out the same way.
import { ServerError } from '../errors';
import type { TensorData, TensorValues } from '../vocabulary';

/** The media-type parameter the edge passes the header length in (from the Inference-Header-Content-Length header). */
export const BINARY_HEADER_PARAM = 'inference-header-content-length';

/** The response header that carries the JSON header's length, when any output is binary. */
export const BINARY_HEADER = 'Inference-Header-Content-Length';

const ARRAYS: Record<string, { new (buffer: ArrayBuffer, offset: number, length: number): TensorValues; BYTES_PER_ELEMENT: number }> = {
  float16: Uint16Array as never,
  float32: Float32Array as never,
  float64: Float64Array as never,
  int8: Int8Array as never,
  uint8: Uint8Array as never,
  int16: Int16Array as never,
  uint16: Uint16Array as never,
  int32: Int32Array as never,
  uint32: Uint32Array as never,
  int64: BigInt64Array as never,
  uint64: BigUint64Array as never,
  bool: Uint8Array as never,
};

function bad(message: string): never {
  throw new ServerError('INVALID_TENSOR', message);
}

/** A body of the extension: its JSON header (text) and the binary section after it. */
export function splitBinaryBody(body: Uint8Array, headerLength: string): { json: string; binary: Uint8Array } {
  const length = Number(headerLength);
  if (!/^\d+$/.test(headerLength) || !Number.isSafeInteger(length)) throw new ServerError('INVALID_PARAMETER', `Inference-Header-Content-Length ${JSON.stringify(headerLength)} is not a byte count`);
  if (length > body.byteLength) throw new ServerError('INVALID_PARAMETER', `Inference-Header-Content-Length is ${length}, but the body has only ${body.byteLength} bytes`);
  const json = new TextDecoder('utf-8', { fatal: true });
  let text: string;
  try {
    text = json.decode(body.subarray(0, length));
  } catch {
    throw new ServerError('INVALID_ENCODING', `the JSON header (the first ${length} bytes, Inference-Header-Content-Length) is not valid UTF-8`);
  }
  return { json: text, binary: body.subarray(length) };
}

/** `count` elements of onnxruntime type `type` from their bytes (copied: the body's memory is reused). */
export function tensorFromBinary(bytes: Uint8Array, type: string, count: number, place: string): TensorValues {
  if (type === 'string') {
    const out: string[] = [];
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const text = new TextDecoder('utf-8', { fatal: true });
    let at = 0;
    while (at < bytes.byteLength) {
      if (at + 4 > bytes.byteLength) bad(`${place}: BYTES element ${out.length} has a length prefix cut short (${bytes.byteLength - at} of 4 bytes)`);
      const n = view.getUint32(at, true);
      if (at + 4 + n > bytes.byteLength) bad(`${place}: BYTES element ${out.length} says ${n} bytes, but only ${bytes.byteLength - at - 4} remain in its binary data`);
      try {
        out.push(text.decode(bytes.subarray(at + 4, at + 4 + n)));
      } catch {
        bad(`${place}: BYTES element ${out.length} is not valid UTF-8 (this server's string tensors are text)`);
      }
      at += 4 + n;
    }
    if (out.length !== count) bad(`${place}: the binary data holds ${out.length} BYTES element(s), but the shape holds ${count}`);
    return out;
  }
  const Ctor = ARRAYS[type];
  if (!Ctor) bad(`${place}: datatype ${type} cannot be sent as binary data`);
  const expected = count * Ctor.BYTES_PER_ELEMENT;
  if (bytes.byteLength !== expected) bad(`${place}: binary_data_size is ${bytes.byteLength} bytes, but the shape holds ${count} element(s) of ${Ctor.BYTES_PER_ELEMENT} byte(s): ${expected} bytes`);
  const copy = new Uint8Array(expected);
  copy.set(bytes);
  const values = new Ctor(copy.buffer, 0, count);
  if (type === 'bool') for (let i = 0; i < count; i++) if ((values as Uint8Array)[i] > 1) bad(`${place}: BOOL element ${i} is byte ${(values as Uint8Array)[i]}, not 0 or 1`);
  return values;
}

const utf8 = new TextEncoder();

/** A tensor's values as the extension's bytes (the platform is little-endian, as the extension is). */
export function tensorToBinary(t: TensorData): Uint8Array {
  const d = t.data;
  if (Array.isArray(d)) {
    const parts = d.map((s) => utf8.encode(s));
    const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.byteLength, 0));
    const view = new DataView(out.buffer);
    let at = 0;
    for (const p of parts) {
      view.setUint32(at, p.byteLength, true);
      out.set(p, at + 4);
      at += 4 + p.byteLength;
    }
    return out;
  }
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** The JSON header and the binary parts after it, as one body. */
export function joinBinaryBody(header: string, parts: readonly Uint8Array[]): { body: Uint8Array; headerLength: number } {
  const head = utf8.encode(header);
  const body = new Uint8Array(head.byteLength + parts.reduce((n, p) => n + p.byteLength, 0));
  body.set(head, 0);
  let at = head.byteLength;
  for (const p of parts) {
    body.set(p, at);
    at += p.byteLength;
  }
  return { body, headerLength: head.byteLength };
}
