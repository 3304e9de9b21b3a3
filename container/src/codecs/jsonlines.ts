// application/jsonlines (alias application/x-jsonlines): one row per line in, one JSON object per line out.
import type { Predictions } from '../vocabulary';
import { recordKeys } from './records';
import { addRow, parseJson, recordObject } from './json';
import { MatrixBuilder, tabularSchema } from './rows';
import type { Codec, DecodeContext, Decoded, EncodeContext } from './types';

function decode(text: string, ctx: DecodeContext): Decoded {
  const schema = tabularSchema(ctx);
  const lines = text.split('\n');
  const builder = new MatrixBuilder(schema, lines.length);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, '');
    if (line.trim() === '') continue;
    addRow(builder, parseJson(line, i + 1), `line ${i + 1}`, schema.featureNames);
  }
  return { kind: 'rows', matrix: builder.finish('the JSON Lines body has no records: send one JSON row per line') };
}

function encode(p: Predictions, ctx: EncodeContext): string {
  const keys = recordKeys(p, ctx.keys);
  let out = '';
  for (let r = 0; r < p.rows; r++) out += `${JSON.stringify(recordObject(p, ctx, r, keys))}\n`;
  return out;
}

export const jsonLinesCodec: Codec = { mediaType: 'application/jsonlines', aliases: ['application/x-jsonlines', 'application/jsonl'], decode, encode };
