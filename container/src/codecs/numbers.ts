// How numbers JSON cannot hold travel, in and out alike: NaN and the infinities as the strings "NaN",
// "Infinity", "-Infinity" (protobuf's JSON mapping for float and double; Python's json and Triton write the
// same words, unquoted, which is not JSON); 64-bit integers beyond 2^53 - 1 as decimal strings; float16 as
// the number its bits hold.

/** The one spelling of each non-finite float. */
export const NON_FINITE = { NaN: 'NaN', Infinity: 'Infinity', '-Infinity': '-Infinity' } as const;

/** A float as it goes into JSON: the number, or its word when it is NaN or infinite. */
export function jsonFloat(v: number): number | string {
  if (Number.isFinite(v)) return v;
  return v !== v ? NON_FINITE.NaN : v > 0 ? NON_FINITE.Infinity : NON_FINITE['-Infinity'];
}

/** The float a JSON string spells ("NaN", "Infinity", "-Infinity"), or undefined for any other string. */
export function readNonFinite(s: string): number | undefined {
  if (s === NON_FINITE.NaN) return NaN;
  if (s === NON_FINITE.Infinity) return Infinity;
  if (s === NON_FINITE['-Infinity']) return -Infinity;
  return undefined;
}

/** A 64-bit integer as it goes into JSON: a number while it is exact as one, else its decimal string. */
export function jsonInt64(v: bigint): number | string {
  return v >= -(2n ** 53n - 1n) && v <= 2n ** 53n - 1n ? Number(v) : v.toString();
}

/** The value of IEEE 754 half-precision bits. */
export function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** The half-precision bits nearest `v` (ties to even), as onnxruntime's float16 tensors take them. */
export function numberToHalf(v: number): number {
  if (v !== v) return 0x7e00;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  // Rounded from the double directly, so a value is not rounded twice (double -> float32 -> half).
  const a = Math.abs(v);
  if (a >= 65520) return sign | 0x7c00;
  if (a < 2 ** -14) {
    // Subnormal: multiples of 2^-24, ties to even.
    return sign | roundHalfEven(a * 2 ** 24);
  }
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  else if (2 ** (e + 1) <= a) e += 1;
  let m = roundHalfEven((a / 2 ** e - 1) * 1024);
  if (m === 1024) {
    m = 0;
    e += 1;
  }
  if (e > 15) return sign | 0x7c00;
  return sign | ((e + 15) << 10) | m;
}

function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const rest = x - floor;
  if (rest > 0.5) return floor + 1;
  if (rest < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}
