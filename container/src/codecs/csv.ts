// text/csv: one record per line, numbers; an optional header naming the features; one output line per record.
import { parse } from 'csv-parse/sync';
import { ServerError } from '../errors';
import { decodeCsvBytes, NO_RECORDS } from './csv-bytes';
import { recordValues, type FieldValue } from './records';
import { xgboostCsvLine } from './xgboost-style';
import { looksLikeHeader } from './cells';
import { MatrixBuilder, headerColumns, tabularSchema } from './rows';
import type { Codec, DecodeContext, Decoded, EncodeContext } from './types';
import type { Predictions, TabularSchema } from '../vocabulary';

/**
 * Quoted CSV through csv-parse, each record handed to `take` as soon as it is read (so the first bad
 * record fails before the rest of the body is parsed). `maxRecordChars` bounds one record's text: a
 * single hostile line of millions of fields fails once it is that long, not after it is all parsed.
 */
function parseRecords(text: string, take: (record: string[], line: number) => void, maxRecordChars: number): void {
  try {
    parse(text, {
      bom: true,
      relax_column_count: true,
      skip_empty_lines: true,
      info: true,
      max_record_size: maxRecordChars,
      // With info: true the record comes as { record, info }; the context has the same line number.
      on_record: (value: string[] | { record: string[] }, context: { lines: number }) => {
        take(Array.isArray(value) ? value : value.record, context.lines);
        return undefined;
      },
    });
  } catch (err) {
    if (err instanceof ServerError) throw err;
    const e = err as { code?: string; lines?: number; message?: string };
    const where = e.lines !== undefined ? `line ${e.lines}` : 'CSV';
    if (e.code === 'CSV_MAX_RECORD_SIZE') {
      throw new ServerError('MALFORMED_CSV', `${where}: a record longer than ${maxRecordChars} characters, far more than the model's features take`);
    }
    const reason = (e.message ?? 'cannot be parsed').replace(/^Invalid Record Length: /, '').replace(/\s*at line \d+\.?$/, '');
    throw new ServerError('MALFORMED_CSV', `${where}: ${reason}`);
  }
}

/** Cells of the line text[start, end), counted without splitting it. */
function cellCount(text: string, start: number, end: number): number {
  let cells = 1;
  for (let i = start; i < end; i++) if (text.charCodeAt(i) === 44) cells += 1;
  return cells;
}

/**
 * CSV text without a quote, split by line and comma (the byte path, csv-bytes.ts, reads the usual case
 * faster and comes here only for what it does not take: other charsets, irregular input, errors); quoted
 * fields go through csv-parse. Both count lines the same way and give the same errors.
 */
function decodePlain(text: string, ctx: DecodeContext, schema: TabularSchema): Decoded {
  let lineCount = 1;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lineCount += 1;
  const builder = new MatrixBuilder(schema, lineCount);
  const headerParam = ctx.params.header?.toLowerCase();
  let columns: number[] | undefined;
  let first = true;
  let line = 0;
  for (let start = text.charCodeAt(0) === 0xfeff ? 1 : 0; start <= text.length; ) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const next = end + 1;
    line += 1;
    if (end > start && text.charCodeAt(end - 1) === 13) end -= 1;
    if (end > start) {
      const count = cellCount(text, start, end);
      // A first line far wider than the model is refused as a row rather than split to look for a header.
      if (first && headerParam !== 'absent' && (schema.features === null || count <= schema.features * 4 + 16)) {
        const cells = text.slice(start, end).split(',');
        if (headerParam === 'present' || looksLikeHeader(cells, schema)) {
          columns = headerColumns(cells, schema.featureNames, line) ?? undefined;
          first = false;
          start = next;
          continue;
        }
      }
      first = false;
      builder.checkLength(count, `line ${line}`);
      builder.addCells(text.slice(start, end).split(','), line, columns);
    }
    start = next;
  }
  return { kind: 'rows', matrix: builder.finish(NO_RECORDS) };
}

function decode(text: string, ctx: DecodeContext): Decoded {
  const schema = tabularSchema(ctx);
  if (!text.includes('"')) return decodePlain(text, ctx, schema);
  const builder = new MatrixBuilder(schema, Math.ceil(text.length / 16));
  const headerParam = ctx.params.header?.toLowerCase();
  let columns: number[] | undefined;
  let first = true;
  // Records are taken as they are read: the first bad one (header, width, cell) fails at once.
  const take = (record: string[], line: number) => {
    if (first) {
      first = false;
      if (headerParam !== 'absent' && (headerParam === 'present' || looksLikeHeader(record, schema))) {
        columns = headerColumns(record, schema.featureNames, line) ?? undefined;
        return;
      }
    }
    builder.addCells(record, line, columns);
  };
  // A record's text: generous for any header or row the model takes, unbounded when its width is not fixed.
  parseRecords(text, take, schema.features === null ? 0 : 65_536 + schema.features * 256);
  return { kind: 'rows', matrix: builder.finish(NO_RECORDS) };
}

function csvField(v: FieldValue): string {
  if (typeof v === 'number') return String(v);
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return /[",\r\n]/.test(s) || s !== s.trim() ? `"${s.replace(/"/g, '""')}"` : s;
}

function encode(p: Predictions, ctx: EncodeContext): string {
  const parts: string[] = new Array(p.rows);
  if (ctx.style === 'xgboost' && p.native) {
    const keys = ctx.selected ? ctx.keys : null;
    for (let r = 0; r < p.rows; r++) parts[r] = xgboostCsvLine(p, keys, r);
  } else if (p.kind === 'classification' && ctx.keys.length === 1 && ctx.keys[0] === 'predicted_label') {
    // One label per line (encodeBytes is the fast form). Labels repeat (they are class names), so each
    // distinct one is formatted once.
    const formatted = new Map<string | number, string>();
    for (let r = 0; r < p.rows; r++) {
      const label = p.labels[r];
      let field = formatted.get(label);
      if (field === undefined) {
        field = csvField(label);
        formatted.set(label, field);
      }
      parts[r] = field;
    }
  } else if (p.kind === 'regression') {
    for (let r = 0; r < p.rows; r++) parts[r] = String(recordValues(p, ctx.keys, r)[0]);
  } else {
    for (let r = 0; r < p.rows; r++) parts[r] = recordValues(p, ctx.keys, r).map(csvField).join(',');
  }
  return p.rows === 0 ? '' : `${parts.join('\n')}\n`;
}

/**
 * The default answer (one label per line) straight to bytes: each distinct label's line is encoded once
 * and copied per row, so a 100,000-row batch makes no string at all.
 */
function encodeBytes(p: Predictions, ctx: EncodeContext): Uint8Array | undefined {
  if (ctx.style === 'xgboost' || p.kind !== 'classification' || ctx.keys.length !== 1 || ctx.keys[0] !== 'predicted_label') return undefined;
  // Distinct labels and their lines: a short list searched by identity (labels from one model are the
  // same few values), a Map once there are many.
  const seen: (string | number)[] = [];
  const seenLines: Uint8Array[] = [];
  let many: Map<string | number, Uint8Array> | undefined;
  const rows: Uint8Array[] = new Array(p.rows);
  let total = 0;
  for (let r = 0; r < p.rows; r++) {
    const label = p.labels[r];
    let line: Uint8Array | undefined;
    if (many) line = many.get(label);
    else for (let j = 0; j < seen.length; j++) if (seen[j] === label) line = seenLines[j];
    if (line === undefined) {
      line = new Uint8Array(Buffer.from(`${csvField(label)}\n`));
      seen.push(label);
      seenLines.push(line);
      if (many) many.set(label, line);
      else if (seen.length > 16) many = new Map(seen.map((l, j) => [l, seenLines[j]]));
    }
    rows[r] = line;
    total += line.length;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (let r = 0; r < p.rows; r++) {
    const line = rows[r];
    for (let k = 0; k < line.length; k++) out[at++] = line[k];
  }
  return out;
}

export const csvCodec: Codec = { mediaType: 'text/csv', decode, decodeBytes: decodeCsvBytes, encode, encodeBytes };
