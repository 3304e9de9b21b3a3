// Universal Binary JSON (ubjson.org), as XGBoost writes its models (.ubj; the default format from XGBoost
// 2.1): big-endian numbers, length-prefixed keys and strings, and typed arrays ([$d#L<count> then raw
// values), read into the same values JSON.parse gives (typed arrays as plain number arrays).

export class UbjsonError extends Error {}

export function parseUbjson(bytes: Uint8Array): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = new TextDecoder('utf-8');
  let at = 0;

  const need = (n: number) => {
    if (at + n > bytes.length) throw new UbjsonError(`UBJSON ends at byte ${bytes.length}, inside a value that needs ${n} more byte(s) from byte ${at}`);
  };
  const marker = (): number => {
    need(1);
    return bytes[at++];
  };
  const number = (type: number): number => {
    switch (type) {
      case 0x69: need(1); at += 1; return view.getInt8(at - 1); // i
      case 0x55: need(1); at += 1; return view.getUint8(at - 1); // U
      case 0x49: need(2); at += 2; return view.getInt16(at - 2); // I
      case 0x6c: need(4); at += 4; return view.getInt32(at - 4); // l
      case 0x4c: need(8); at += 8; return Number(view.getBigInt64(at - 8)); // L
      case 0x64: need(4); at += 4; return view.getFloat32(at - 4); // d
      case 0x44: need(8); at += 8; return view.getFloat64(at - 8); // D
      default: throw new UbjsonError(`byte ${at - 1}: ${JSON.stringify(String.fromCharCode(type))} is not a UBJSON number type`);
    }
  };
  const length = (): number => {
    const n = number(marker());
    if (!Number.isSafeInteger(n) || n < 0) throw new UbjsonError(`byte ${at}: invalid length ${n}`);
    return n;
  };
  const string = (): string => {
    const n = length();
    need(n);
    at += n;
    return text.decode(bytes.subarray(at - n, at));
  };
  const value = (type: number): unknown => {
    switch (type) {
      case 0x5a: return null; // Z
      case 0x54: return true; // T
      case 0x46: return false; // F
      case 0x53: return string(); // S
      case 0x48: return Number(string()); // H: a high-precision number as its decimal text
      case 0x43: need(1); return String.fromCharCode(bytes[at++]); // C
      case 0x5b: return array(); // [
      case 0x7b: return object(); // {
      default: return number(type);
    }
  };
  /** A container's optional $type and #count. */
  const header = (): { type?: number; count?: number } => {
    let type: number | undefined;
    if (bytes[at] === 0x24) { at += 1; type = marker(); }
    if (bytes[at] === 0x23) { at += 1; return { type, count: length() }; }
    if (type !== undefined) throw new UbjsonError(`byte ${at}: a typed container without a count`);
    return {};
  };
  const array = (): unknown[] => {
    const { type, count } = header();
    const out: unknown[] = [];
    if (count === undefined) {
      for (;;) {
        const t = marker();
        if (t === 0x5d) return out; // ]
        if (t !== 0x4e) out.push(value(t)); // N: no-op
      }
    }
    if (type !== undefined && count > bytes.length - at) throw new UbjsonError(`byte ${at}: an array of ${count} values does not fit in the file`);
    for (let i = 0; i < count; i++) out.push(value(type ?? marker()));
    return out;
  };
  const object = (): Record<string, unknown> => {
    const { type, count } = header();
    const out: Record<string, unknown> = {};
    if (count === undefined) {
      for (;;) {
        if (bytes[at] === 0x7d) { at += 1; return out; } // }
        const key = string();
        out[key] = value(marker());
      }
    }
    for (let i = 0; i < count; i++) {
      const key = string();
      out[key] = value(type ?? marker());
    }
    return out;
  };

  const result = value(marker());
  return result;
}
