// Mixed-type tabular models: how rows map onto inputs that are not one [N, F] float matrix. A model with
// one input per column (scikit-learn pipelines exported by skl2onnx: `age` float [N, 1], `gender` string
// [N, 1], ...), one string [N, F] input, or a number [N, F] input beside string ones takes rows when every
// input is a batch of columns ([N, width], N dynamic and shared) and the columns can be told apart; this
// module decides that, once, at load, and turns decoded rows into the inputs' tensors.
import { ServerError } from '../errors';
import { stringSlots, type ColumnType, type Matrix, type TensorData, type TensorInfo } from '../vocabulary';
import type { ModelJson } from './model-json';

const COLUMN_TYPES = new Set<string>(['float32', 'float64', 'int64', 'int32', 'string']);

/** One [N, width] input and the columns it holds: rows' columns [first, first + width). */
export interface ColumnInput {
  name: string;
  type: ColumnType;
  first: number;
  width: number;
}

export interface ColumnPlan {
  /** Every column's type, in column order. */
  types: ColumnType[];
  /** Column names: model.json's features, else the input names when every input is one column. */
  names?: string[];
  inputs: ColumnInput[];
}

/**
 * The column plan of a model whose inputs are batches of typed columns; `refused` when they are, but how
 * rows split between them is not clear (rows are then refused with that reason, and V2 still serves the
 * model); undefined when the inputs are not columns at all (vectors, scalars, images, a fixed or several
 * batch sizes, other types) or are the classic single float [N, F] matrix, which session.ts reads itself.
 */
export function planColumns(inputs: readonly TensorInfo[], json: ModelJson): { plan: ColumnPlan } | { refused: string } | undefined {
  if (inputs.length === 0) return undefined;
  const single = inputs.length === 1 ? inputs[0] : undefined;
  if (single && (single.type === 'float32' || single.type === 'float64') && single.shape.length === 2) return undefined;
  let batch: string | undefined;
  for (const input of inputs) {
    const [n] = input.shape;
    if (!COLUMN_TYPES.has(input.type) || input.shape.length !== 2 || typeof n !== 'string') return undefined;
    // Every input is a batch of the same rows: dimension 0 has one name (or none) across the inputs.
    if (n !== '') {
      if (batch !== undefined && batch !== n) return undefined;
      batch = n;
    }
  }
  const widths = inputs.map((i) => i.shape[1]);
  if (widths.some((w) => typeof w === 'number' && w < 1)) return undefined;
  const open = inputs.filter((_, k) => typeof widths[k] !== 'number');
  const fixed = widths.reduce<number>((sum, w) => sum + (typeof w === 'number' ? w : 0), 0);
  const declared = json.features?.length;
  if (open.length > 1) {
    return { refused: `inputs ${open.map((i) => `"${i.name}"`).join(' and ')} have no fixed number of columns, so a row cannot be split between them; export them with a fixed second dimension` };
  }
  if (open.length === 1) {
    if (declared === undefined) {
      const others = inputs.length > 1 ? ' beside the other inputs' : '';
      return { refused: `input "${open[0].name}" has no fixed number of columns${others}; list every column in model.json "features" so rows can be split` };
    }
    if (declared <= fixed) throw new ServerError('MODEL_INVALID', `model.json lists ${declared} features, which leaves no column for input "${open[0].name}" beside the ${fixed} of the other inputs`);
    widths[inputs.indexOf(open[0])] = declared - fixed;
  }
  const total = (widths as number[]).reduce((a, b) => a + b, 0);
  if (declared !== undefined && declared !== total) {
    throw new ServerError('MODEL_INVALID', `model.json lists ${declared} features but the inputs (${inputs.map((i) => `"${i.name}"`).join(', ')}) hold ${total} columns`);
  }
  // One column per input: the input names are the feature names, and model.json may list them in
  // another order, which is then the order of positional rows (CSV without a header, JSON arrays).
  const perColumn = widths.every((w) => w === 1);
  const byName = perColumn && json.features !== undefined && sameNames(json.features, inputs.map((i) => i.name));
  let next = 0;
  const planned: ColumnInput[] = inputs.map((input, k) => {
    const width = widths[k] as number;
    const first = byName ? json.features!.indexOf(input.name) : next;
    next += width;
    return { name: input.name, type: input.type as ColumnType, first, width };
  });
  const types: ColumnType[] = new Array(total);
  for (const input of planned) for (let c = 0; c < input.width; c++) types[input.first + c] = input.type;
  const names = json.features ?? (perColumn ? inputs.map((i) => i.name) : undefined);
  return { plan: { types, names, inputs: planned } };
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  const set = new Set(a);
  return a.length === b.length && b.every((n) => set.has(n));
}

/** The inputs' tensors for decoded rows (see Matrix: every column in values, string columns' text in strings). */
export function columnTensors(plan: ColumnPlan, matrix: Matrix, slots = stringSlots(plan.types)): TensorData[] {
  const { rows, width, values } = matrix;
  // Rows from the codecs always fit; rows an inputFn built by hand may not.
  if (width !== plan.types.length) throw new ServerError('WRONG_FEATURE_COUNT', `rows of ${width} value(s), but the model has ${plan.types.length} columns`);
  const strings = matrix.strings ?? [];
  if (strings.length !== rows * slots.count) {
    throw new ServerError('INVALID_VALUE', `rows for this model need the text of its ${slots.count} string column(s) in "strings" (${rows * slots.count} values for ${rows} row(s)), got ${strings.length}`);
  }
  return plan.inputs.map((input) => {
    const { first, width: w, type } = input;
    const dims = [rows, w];
    const n = rows * w;
    if (type === 'string') {
      const data: string[] = new Array(n);
      for (let r = 0; r < rows; r++) for (let c = 0; c < w; c++) data[r * w + c] = strings[r * slots.count + slots.slots[first + c]];
      return { name: input.name, type, dims, data };
    }
    if (type === 'int64') {
      const data = new BigInt64Array(n);
      for (let r = 0; r < rows; r++) for (let c = 0; c < w; c++) data[r * w + c] = BigInt(values[r * width + first + c]);
      return { name: input.name, type, dims, data };
    }
    const data = type === 'float64' ? new Float64Array(n) : type === 'int32' ? new Int32Array(n) : new Float32Array(n);
    for (let r = 0; r < rows; r++) for (let c = 0; c < w; c++) data[r * w + c] = values[r * width + first + c];
    return { name: input.name, type, dims, data };
  });
}
