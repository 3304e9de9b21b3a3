// text/libsvm (alias text/x-libsvm): one record per line, "[label] index:value ...", as SageMaker's XGBoost
// container reads it (1.2-2 to 1.7-1 images): indices 0-based as written, a leading label (a token without a
// colon) ignored, and absent features missing (NaN), not 0. Request side only.
import { ServerError } from '../errors';
import { parseCell } from './cells';
import { MatrixBuilder, tabularSchema } from './rows';
import type { Codec, DecodeContext, Decoded } from './types';

function decode(text: string, ctx: DecodeContext): Decoded {
  const schema = tabularSchema(ctx);
  if (schema.columnTypes) throw new ServerError('UNSUPPORTED_MEDIA_TYPE', 'text/libsvm holds numbers only, and this model has typed (string or integer) columns: send CSV, JSON or JSON Lines');
  const features = schema.features;
  if (features === null) throw new ServerError('UNSUPPORTED_MEDIA_TYPE', "text/libsvm needs the model's feature count, and this model does not fix it: send CSV, JSON or JSON Lines");
  const builder = new MatrixBuilder(schema, Math.ceil(text.length / 32));
  let line = 0;
  for (let start = text.charCodeAt(0) === 0xfeff ? 1 : 0; start <= text.length; ) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    line += 1;
    const tokens = text.slice(start, end).trim().split(/\s+/).filter((t) => t !== '');
    start = end + 1;
    if (tokens.length === 0) continue;
    builder.startRow(features, `line ${line}`);
    for (let c = 0; c < features; c++) builder.put(c, NaN);
    const seen = new Set<number>();
    tokens.forEach((token, i) => {
      const colon = token.indexOf(':');
      if (colon < 0) {
        if (i === 0) return;
        throw new ServerError('INVALID_VALUE', `line ${line}, token ${i + 1}: ${JSON.stringify(token.slice(0, 40))} is not index:value`);
      }
      const raw = token.slice(0, colon);
      const index = /^\d+$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(index)) throw new ServerError('INVALID_VALUE', `line ${line}, token ${i + 1}: index ${JSON.stringify(raw.slice(0, 40))} is not a whole number`);
      if (index >= features) throw new ServerError('WRONG_FEATURE_COUNT', `line ${line}, token ${i + 1}: feature index ${index}, but the model has ${features} feature(s) (indices 0 to ${features - 1}, 0-based as written)`);
      if (seen.has(index)) throw new ServerError('INVALID_VALUE', `line ${line}, token ${i + 1}: feature index ${index} is given twice`);
      seen.add(index);
      builder.put(index, parseCell(token.slice(colon + 1), `line ${line}, feature ${index}`, schema.inputType));
    });
  }
  return { kind: 'rows', matrix: builder.finish('the libsvm body has no records: send one "index:value ..." line per record') };
}

export const libsvmCodec: Codec = { mediaType: 'text/libsvm', aliases: ['text/x-libsvm'], decode };
