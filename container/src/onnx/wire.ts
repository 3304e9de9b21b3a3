// Protocol Buffers' wire format, read field by field from a message in memory: what reader.ts walks to
// read a model's metadata without decoding (or loading) its weights, where protobufjs (proto.ts) would
// decode every field of the message, initializers included.

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

/** One field of a small message: a varint (as a signed 64-bit value), length-delimited bytes, or a fixed 4 or 8 bytes. */
export type Field =
  | { field: number; int: bigint; bytes?: undefined; fixed?: undefined }
  | { field: number; bytes: Buffer; int?: undefined; fixed?: undefined }
  | { field: number; fixed: Buffer; int?: undefined; bytes?: undefined };

/** Signed 64-bit varint at `i` in `b`: [value, next index] (negative int64s take ten bytes). */
function int64At(b: Buffer, i: number): [bigint, number] {
  let v = 0n;
  let shift = 0n;
  for (;;) {
    const x = b[i++];
    if (x === undefined) throw new Error('unexpected end of message');
    v |= BigInt(x & 0x7f) << shift;
    if (x < 0x80) return [BigInt.asIntN(64, v), i];
    shift += 7n;
  }
}

/** Every field of a small message held in `b`, in order. */
export function fields(b: Buffer): Field[] {
  const out: Field[] = [];
  for (let i = 0; i < b.length; ) {
    let tag: number;
    [tag, i] = varintAt(b, i);
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (wire === 0) {
      let v: bigint;
      [v, i] = int64At(b, i);
      out.push({ field, int: v });
    } else if (wire === 2) {
      let len: number;
      [len, i] = varintAt(b, i);
      out.push({ field, bytes: b.subarray(i, i + len) });
      i += len;
    } else if (wire === 1 || wire === 5) {
      const width = wire === 1 ? 8 : 4;
      out.push({ field, fixed: b.subarray(i, i + width) });
      i += width;
    } else break;
  }
  return out;
}

/** Packed int64s (a repeated field's bytes). */
export function packedInts(bytes: Buffer): bigint[] {
  const out: bigint[] = [];
  for (let k = 0; k < bytes.length; ) {
    let v: bigint;
    [v, k] = int64At(bytes, k);
    out.push(v);
  }
  return out;
}
