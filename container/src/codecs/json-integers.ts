// Integers a JSON text spells beyond 2^53 - 1, read exactly from its digits. JSON.parse rounds every number
// to the nearest double before anything sees it (Node 20 gives a reviver no source text), so the V2 values
// of INT64 and UINT64 tensors that Python's json.dumps writes as plain digits (9223372036854775807) are
// read again from the body: each such number becomes a BigInt in the parsed document.
import { randomBytes } from 'node:crypto';

/**
 * A run of 16 or more digits that is not a fraction or an exponent: where such an integer may be. Cheap to
 * look for, so the bodies without one (nearly all) are not scanned.
 */
const CANDIDATE = /(?:^|[^\d.eE+])\d{16,}(?![\d.eE])/;
const NUMBER = /-?\d+(\.\d+)?([eE][+-]?\d+)?/y;
const STRING = /"(?:[^"\\]|\\.)*"/y;

/**
 * `doc` (JSON.parse of `text`, a valid JSON text) with every integer number written beyond 2^53 - 1 in
 * magnitude replaced by its exact BigInt. Numbers with a fraction or an exponent stay doubles.
 */
export function withExactIntegers(text: string, doc: unknown): unknown {
  if (!CANDIDATE.test(text)) return doc;
  // Each such number is rewritten as a string no body can hold (it carries a fresh random marker), which
  // JSON.parse's reviver then turns into the BigInt of its digits, wherever it is in the document.
  const marker = `exact-integer-${randomBytes(12).toString('hex')}:`;
  let out = '';
  let copied = 0;
  for (let i = 0; i < text.length; ) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      STRING.lastIndex = i;
      i += STRING.exec(text)![0].length;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      NUMBER.lastIndex = i;
      const [token, fraction, exponent] = NUMBER.exec(text)!;
      if (fraction === undefined && exponent === undefined && !Number.isSafeInteger(Number(token))) {
        out += `${text.slice(copied, i)}"${marker}${token}"`;
        copied = i + token.length;
      }
      i += token.length;
    } else i++;
  }
  if (copied === 0) return doc;
  return JSON.parse(out + text.slice(copied), (_key, value: unknown) => (typeof value === 'string' && value.startsWith(marker) ? BigInt(value.slice(marker.length)) : value));
}
