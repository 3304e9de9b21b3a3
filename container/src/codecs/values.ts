// Any JavaScript value as a response body: what users' inference code returns (from predictFn or outputFn)
// when it leaves the writing to the server. JSON for any value; CSV and JSON Lines for lists (one line per
// element). Typed arrays become lists, 64-bit integers numbers (decimal strings beyond 2^53).

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return Array.from(value as unknown as ArrayLike<unknown>);
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  return value;
}

function json(value: unknown): string {
  return JSON.stringify(value === undefined ? null : value, replacer);
}

function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  const text = typeof value === 'string' ? value : json(value);
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvLine(row: unknown): string {
  if (Array.isArray(row) || (ArrayBuffer.isView(row) && !(row instanceof DataView))) return Array.from(row as ArrayLike<unknown>, csvCell).join(',');
  if (typeof row === 'object' && row !== null) return Object.values(row).map(csvCell).join(',');
  return csvCell(row);
}

const asList = (value: unknown): unknown[] =>
  Array.isArray(value) ? value : ArrayBuffer.isView(value) && !(value instanceof DataView) ? Array.from(value as unknown as ArrayLike<unknown>) : [value];

/** The value written as `mediaType`, or undefined when that type is not one a plain value can be written as. */
export function encodeValue(value: unknown, mediaType: string): string | undefined {
  switch (mediaType) {
    case 'application/json':
      return json(value);
    case 'application/jsonlines':
      return asList(value).map((v) => `${json(v)}\n`).join('');
    case 'text/csv':
      return asList(value).map((v) => `${csvLine(v)}\n`).join('');
    default:
      return undefined;
  }
}
