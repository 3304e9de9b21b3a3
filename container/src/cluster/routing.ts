// Which workers hold a model in multi-model mode, computed the way nginx routes its invocations, so that
// POST /models/<name>/invoke reaches a worker holding <name> with no hop through another process.
//
// nginx.conf sends those requests through `hash "$name#$copy"` (ngx_http_upstream_hash_module, not
// consistent): the first choice is ((crc32(key) >> 16) & 0x7fff) % workers, with $copy drawn per request
// from 0..MODEL_SERVER_MODEL_COPIES-1. The supervisor asks exactly those workers to load the model. When
// the chosen worker cannot be reached (it is restarting), nginx rehashes to another worker, which (unless
// it holds the model too) waits for the holders to be back and has nginx pass the request to them; a worker
// uses this module to know which those are.

const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE, as nginx's ngx_crc32_long and zlib compute it) of a string's UTF-8 bytes. */
export function crc32(text: string): number {
  let crc = 0xffffffff;
  for (const byte of Buffer.from(text, 'utf8')) crc = TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** The nginx hash key of one copy of a model. */
export const routingKey = (name: string, copy: number): string => `${name}#${copy}`;

/** The worker slot nginx tries first for a key. */
export function firstChoice(key: string, workers: number): number {
  return ((crc32(key) >>> 16) & 0x7fff) % workers;
}

/**
 * The slots that hold a model: one per copy (fewer when two copies land on the same worker), or every
 * worker when there are as many copies as workers (nginx then routes invocations by least connections).
 */
export function holderSlots(name: string, workers: number, copies: number): number[] {
  if (copies >= workers) return Array.from({ length: workers }, (_, slot) => slot);
  const slots = new Set<number>();
  for (let copy = 0; copy < copies; copy++) slots.add(firstChoice(routingKey(name, copy), workers));
  return [...slots].sort((a, b) => a - b);
}
