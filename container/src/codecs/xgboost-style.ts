// SageMaker XGBoost's output style (its container's serve.py and serve_utils.py, 1.2-2 to 1.7-1 images):
// without SAGEMAKER_INFERENCE_OUTPUT, the library's raw predict output ({"score": ...} in JSON); with it,
// the selected keys with the container's meaning per objective (a key the objective has not is NaN). Values
// are written as that container's Python writes them: floats as repr() of the double (0.43861907720565796,
// 1.0, 1e-05), lists as Python lists, JSON as json.dumps spaces it, and NaN as str() or json.dumps spells it.
import type { InferenceOutputKey, NativeOutput, Predictions } from '../vocabulary';

/** A value as the container's Python holds it: a float, an int, a list of them. */
export type PyValue = { float: number } | { int: number } | PyValue[];

/** repr() of a Python float. */
export function pyFloat(v: number): string {
  if (v !== v) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  if (v === 0) return Object.is(v, -0) ? '-0.0' : '0.0';
  const [mantissa, exponent] = v.toExponential().split('e');
  const e = Number(exponent);
  if (e < -4 || e >= 16) return `${mantissa}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  const s = String(v);
  return s.includes('.') ? s : `${s}.0`;
}

/** str() of a value, as the container's CSV writes it. */
export function pyStr(v: PyValue): string {
  if (Array.isArray(v)) return `[${v.map(pyStr).join(', ')}]`;
  return 'int' in v ? String(v.int) : pyFloat(v.float);
}

/** json.dumps() of a value (NaN and the infinities as Python writes them, unquoted). */
export function pyJson(v: PyValue): string {
  if (Array.isArray(v)) return `[${v.map(pyJson).join(', ')}]`;
  if ('int' in v) return String(v.int);
  const x = v.float;
  return x !== x ? 'NaN' : x === Infinity ? 'Infinity' : x === -Infinity ? '-Infinity' : pyFloat(x);
}

/** json.dumps() of an object whose values are PyValues, keys in the order given. */
export function pyJsonObject(entries: readonly [string, PyValue][]): string {
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}: ${pyJson(v)}`).join(', ')}}`;
}

/** The keys SAGEMAKER_INFERENCE_OUTPUT may name that each objective has (serve_utils.VALID_OBJECTIVES). */
const VALID: Record<NativeOutput['contract'], readonly InferenceOutputKey[]> = {
  regression: ['predicted_score'],
  'binary:logistic': ['predicted_label', 'labels', 'probability', 'probabilities', 'raw_score', 'raw_scores'],
  'binary:logitraw': ['predicted_label', 'labels', 'raw_score', 'raw_scores'],
  'binary:hinge': ['predicted_label', 'labels', 'raw_score', 'raw_scores'],
  'multi:softmax': ['predicted_label', 'labels', 'raw_score', 'raw_scores'],
  'multi:softprob': ['predicted_label', 'labels', 'probability', 'probabilities', 'raw_score', 'raw_scores'],
};

/** The order the container's get_selected_predictions builds a record's dict in (JSON keeps it). */
const DICT_ORDER: readonly InferenceOutputKey[] = ['predicted_label', 'labels', 'probability', 'probabilities', 'raw_score', 'raw_scores', 'predicted_score'];

const fl = (float: number): PyValue => ({ float });
const NAN = fl(NaN);

function row(n: NativeOutput, r: number): number[] {
  const out = new Array<number>(n.width);
  for (let j = 0; j < n.width; j++) out[j] = n.values[r * n.width + j];
  return out;
}

/** The raw output of row r: one float, or the softprob vector. */
export function rawValue(n: NativeOutput, r: number): PyValue {
  return n.width === 1 ? fl(n.values[r]) : row(n, r).map(fl);
}

/** One key's value for row r, as serve_utils computes it. */
function keyValue(n: NativeOutput, key: InferenceOutputKey, r: number): PyValue {
  if (!VALID[n.contract].includes(key)) return NAN;
  const v = n.values[r * n.width];
  const softprob = n.contract === 'multi:softprob';
  const argmax = () => {
    const xs = row(n, r);
    let best = 0;
    for (let j = 1; j < xs.length; j++) if (xs[j] > xs[best]) best = j;
    return best;
  };
  switch (key) {
    case 'predicted_label':
      if (n.contract === 'binary:hinge' || n.contract === 'multi:softmax') return fl(v);
      if (n.contract === 'binary:logistic') return { int: v > 0.5 ? 1 : 0 };
      if (n.contract === 'binary:logitraw') return { int: v > 0 ? 1 : 0 };
      return { int: argmax() };
    case 'labels':
      if (n.contract.startsWith('binary')) return [{ int: 0 }, { int: 1 }];
      return n.numClass > 0 ? Array.from({ length: n.numClass }, (_, i) => ({ int: i })) : NAN;
    case 'probability':
    case 'raw_score':
      return softprob ? fl(Math.max(...row(n, r))) : fl(v);
    case 'probabilities':
    case 'raw_scores':
      return softprob ? row(n, r).map(fl) : [fl(1 - v), fl(v)];
    case 'predicted_score':
      return fl(v);
  }
}

/** The record of row r: the selected keys, or (keys null) the raw output as "score". */
export function xgboostRecord(p: Predictions, keys: readonly InferenceOutputKey[] | null, r: number): [string, PyValue][] {
  const n = p.native!;
  if (!keys) return [['score', rawValue(n, r)]];
  // Valid keys in the container's dict order, then the others (NaN) in the order asked.
  const valid = DICT_ORDER.filter((k) => keys.includes(k) && VALID[n.contract].includes(k));
  const invalid = keys.filter((k) => !VALID[n.contract].includes(k));
  return [...valid, ...invalid].map((k) => [k, keyValue(n, k, r)]);
}

/** Row r as a CSV line: raw values comma-separated, or the selected keys in the order asked (lists quoted). */
export function xgboostCsvLine(p: Predictions, keys: readonly InferenceOutputKey[] | null, r: number): string {
  const n = p.native!;
  if (!keys) {
    if (n.width === 1) return pyFloat(n.values[r]);
    return row(n, r).map(pyFloat).join(',');
  }
  return keys.map((k) => {
    const v = keyValue(n, k, r);
    return Array.isArray(v) ? `"${pyStr(v)}"` : pyStr(v);
  }).join(',');
}

/** Row r's values as float32 lists by key, as the container's RecordIO-protobuf answer holds them. */
export function xgboostTensors(p: Predictions, keys: readonly InferenceOutputKey[] | null, r: number): [string, number[]][] {
  const flat = (v: PyValue): number[] => (Array.isArray(v) ? v.flatMap(flat) : ['int' in v ? v.int : v.float]);
  return xgboostRecord(p, keys, r).map(([k, v]) => [k, flat(v)]);
}
