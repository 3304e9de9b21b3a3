// application/jsonlines (alias application/x-jsonlines): one row per line in, one JSON object per line out.
import type { Predictions } from '../vocabulary';
import { recordKeys } from './records';
import { addRow, parseJson, recordObject, xgboostJson, xgboostStyle } from './json';
import { MatrixBuilder, tabularSchema } from './rows';
import type { Codec, DecodeContext, Decoded, EncodeContext } from './types';

function decode(text: string, ctx: DecodeContext): Decoded {
  const schema = tabularSchema(ctx);
  // Sized by the body (the builder caps what it allocates up front), not by counting its lines first.
  const builder = new MatrixBuilder(schema, Math.ceil(text.length / 16));
  // Line by line, with no array of every line first: a bad line fails before the rest is looked at, and
  // runs of blank lines cost a character each.
  const n = text.length;
  let number = 1;
  for (let start = 0; start < n; ) {
    if (text.charCodeAt(start) === 10) {
      number += 1;
      start += 1;
      continue;
    }
    let end = text.indexOf('\n', start);
    if (end < 0) end = n;
    const line = text.slice(start, end > start && text.charCodeAt(end - 1) === 13 ? end - 1 : end);
    if (line.trim() !== '') addRow(builder, parseJson(line, number), `line ${number}`, schema.featureNames);
    number += 1;
    start = end + 1;
  }
  return { kind: 'rows', matrix: builder.finish('the JSON Lines body has no records: send one JSON row per line') };
}

function encode(p: Predictions, ctx: EncodeContext): string {
  let out = '';
  if (xgboostStyle(p, ctx)) {
    for (let r = 0; r < p.rows; r++) out += `${xgboostJson(p, ctx, r)}\n`;
    return out;
  }
  const keys = recordKeys(p, ctx.keys);
  for (let r = 0; r < p.rows; r++) out += `${JSON.stringify(recordObject(p, ctx, r, keys))}\n`;
  return out;
}

export const jsonLinesCodec: Codec = { mediaType: 'application/jsonlines', aliases: ['application/x-jsonlines', 'application/jsonl'], decode, encode };
