// What a model file is, from its first bytes (never its name): XGBoost's JSON, UBJSON or legacy binary
// format, LightGBM's text format, a Python pickle (SageMaker's XGBoost up to 1.2 pickled its Booster), or
// something else. XGBoost itself dispatches the same way: "{" then a quote is JSON, "{" then a letter UBJSON.
import { looksLikeLightgbm } from './lightgbm';
import { looksLikeXgboostBinary } from './xgboost-binary';

export type FileKind = 'xgboost-json' | 'xgboost-ubjson' | 'xgboost-binary' | 'lightgbm' | 'pickle' | 'other';

/** Bytes enough to tell the kinds apart (the legacy binary's parameter block and objective name). */
export const SNIFF_BYTES = 512;

const isSpace = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

export function sniff(head: Uint8Array): FileKind {
  if (head.length === 0) return 'other';
  if (head[0] === 0x7b) {
    let i = 1;
    while (i < head.length && isSpace(head[i])) i++;
    const text = new TextDecoder().decode(head.subarray(0, Math.min(head.length, 64)));
    if (head[i] === 0x22) return /^\{\s*"(learner|version)"/.test(text) ? 'xgboost-json' : 'other';
    // UBJSON: a key length's type marker, then (for XGBoost) "learner".
    if ((head[i] >= 0x41 && head[i] <= 0x5a) || (head[i] >= 0x61 && head[i] <= 0x7a)) return text.includes('learner') || text.includes('version') ? 'xgboost-ubjson' : 'other';
    return 'other';
  }
  // Pickle protocol 2 to 5 starts with PROTO (0x80) and the protocol number.
  if (head[0] === 0x80 && head.length > 1 && head[1] >= 2 && head[1] <= 5) return 'pickle';
  if (looksLikeLightgbm(new TextDecoder().decode(head.subarray(0, 32)))) return 'lightgbm';
  if (looksLikeXgboostBinary(head)) return 'xgboost-binary';
  return 'other';
}

export const FORMAT_NAMES: Record<Exclude<FileKind, 'pickle' | 'other'>, string> = {
  'xgboost-json': 'XGBoost JSON',
  'xgboost-ubjson': 'XGBoost UBJSON',
  'xgboost-binary': 'XGBoost binary',
  lightgbm: 'LightGBM text',
};
