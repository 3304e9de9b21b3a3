// The shared vocabulary of the data plane: tensors, matrices, predictions, output keys and what a model
// says about itself. Plain, structured-clone-safe data that every layer speaks; this module imports nothing.

/** Classifier result keys a caller may ask for (SAGEMAKER_INFERENCE_OUTPUT), in the order they are given. */
export const INFERENCE_OUTPUT_KEYS = ['predicted_label', 'probability', 'probabilities', 'labels', 'raw_score', 'raw_scores', 'predicted_score'] as const;
export type InferenceOutputKey = (typeof INFERENCE_OUTPUT_KEYS)[number];
/** The keys of the server's own output style; the others are SageMaker XGBoost's (its output style only). */
export const SERVER_OUTPUT_KEYS: readonly InferenceOutputKey[] = ['predicted_label', 'probability', 'probabilities', 'labels'];

/**
 * How answers are written: the server's own style (class names, the probability of the predicted class,
 * JSON as the server writes it), or SageMaker's XGBoost container's (its raw predict output and its keys,
 * numbers as Python prints them).
 */
export type OutputStyle = 'server' | 'xgboost';

export type FloatArray = Float32Array | Float64Array;

/** A tensor's values as onnxruntime takes and returns them. */
export type TensorValues = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array | string[];

/** A named tensor (type is onnxruntime's name: float32, int64, string, ...). */
export interface TensorData {
  name: string;
  type: string;
  dims: number[];
  data: TensorValues;
}

/** A model input or output as the model declares it. */
export interface TensorInfo {
  name: string;
  /** onnxruntime type name (float32, int64, string, ...), or "sequence/map" for non-tensor values. */
  type: string;
  /** Fixed sizes as numbers, named (symbolic) dimensions as strings. */
  shape: (number | string)[];
  /**
   * Set when the ONNX file declares the input a scalar (a shape with no dimensions): onnxruntime reports
   * both a scalar and an input of unknown rank as shape [], and only the first refuses other shapes.
   */
  scalar?: true;
}

/** The type of one column of a mixed-type tabular model (one input per column, or string inputs). */
export type ColumnType = 'float32' | 'float64' | 'int64' | 'int32' | 'string';

/** What a decoder needs to know about a tabular model: one [N, F] float input, or typed columns. */
export interface TabularSchema {
  /** Columns per row, when the model fixes it. */
  features: number | null;
  featureNames?: readonly string[];
  /** float32 inputs cannot hold values beyond ±3.4e38. */
  inputType?: 'float32' | 'float64';
  /**
   * Set for mixed-type models: every column's type, in column order (features is then its length). Rows
   * are decoded into a Float64Array for the number columns and `strings` for the string columns.
   */
  columnTypes?: readonly ColumnType[];
}

/**
 * Decoded rows, row-major, already in the model input's precision (float32 models get a Float32Array).
 * Mixed-type rows hold every column in `values` (a Float64Array; 0 in string columns) and the string
 * columns' text in `strings`, row-major over the string columns only (see stringSlots).
 */
export interface Matrix {
  rows: number;
  width: number;
  values: FloatArray;
  strings?: string[];
}

/** For each column, its index among the string columns (-1 for a number column), and how many there are. */
export function stringSlots(types: readonly ColumnType[]): { slots: Int32Array; count: number } {
  const slots = new Int32Array(types.length);
  let count = 0;
  for (let c = 0; c < types.length; c++) slots[c] = types[c] === 'string' ? count++ : -1;
  return { slots, count };
}

/** Rows [from, to) of a matrix (views of its values, a copy of its strings). */
export function sliceMatrix(m: Matrix, from: number, to: number): Matrix {
  const values = m.values.subarray(from * m.width, to * m.width);
  if (!m.strings) return { rows: to - from, width: m.width, values };
  const per = m.rows > 0 ? m.strings.length / m.rows : 0;
  return { rows: to - from, width: m.width, values, strings: m.strings.slice(from * per, to * per) };
}

/** Matrices of the same width and kind, one after another (opportunistic batching runs them as one). */
export function concatMatrices(ms: readonly Matrix[]): Matrix {
  const rows = ms.reduce((n, m) => n + m.rows, 0);
  const width = ms[0].width;
  const values = new (ms[0].values.constructor as Float32ArrayConstructor)(rows * width);
  let offset = 0;
  for (const m of ms) {
    values.set(m.values, offset);
    offset += m.values.length;
  }
  if (!ms[0].strings) return { rows, width, values };
  const strings: string[] = [];
  for (const m of ms) for (const s of m.strings ?? []) strings.push(s);
  return { rows, width, values, strings };
}

/** A tree model's own predict output (XGBoost's or LightGBM's), what SageMaker XGBoost's output style writes. */
export interface NativeOutput {
  library: 'xgboost' | 'lightgbm';
  /** As the library names it. */
  objective: string;
  /** The SageMaker XGBoost objective that answers the same way ('regression' for every regression objective). */
  contract: 'binary:logistic' | 'binary:logitraw' | 'binary:hinge' | 'multi:softprob' | 'multi:softmax' | 'regression';
  /** Values per row: the classes of multi:softprob, else 1. */
  width: number;
  /** Classes of a multiclass objective, else 0 (SageMaker XGBoost's num_class). */
  numClass: number;
  /** Row-major [rows, width]; float32 for XGBoost, which predicts in float32. */
  values: FloatArray;
}

/** What a tabular model returns, independent of any wire format; codecs turn these into response bodies. */
export type Predictions =
  | {
      kind: 'classification';
      rows: number;
      classes: number;
      /** predicted_label per row. */
      labels: (string | number)[];
      /** Row-major [rows, classes]. */
      probabilities: FloatArray;
      /** Class names in probability-column order. */
      classNames: (string | number)[];
      /** Tree models: the library's own output. */
      native?: NativeOutput;
    }
  | { kind: 'regression'; rows: number; scores: FloatArray; native?: NativeOutput };

/** Rows [from, to) of a prediction set (views, no copies). */
export function slicePredictions(p: Predictions, from: number, to: number): Predictions {
  const native = p.native && { ...p.native, values: p.native.values.subarray(from * p.native.width, to * p.native.width) };
  if (p.kind === 'regression') return { kind: 'regression', rows: to - from, scores: p.scores.subarray(from, to), ...(native ? { native } : {}) };
  return { ...p, rows: to - from, labels: p.labels.slice(from, to), probabilities: p.probabilities.subarray(from * p.classes, to * p.classes), ...(native ? { native } : {}) };
}

export type ModelKind = 'classifier' | 'regressor' | 'tensor';

/** What a loaded model says about itself: logged at start-up, and what the edge negotiates against. */
export interface ModelDescription {
  /** The name it is served under ("model" for the single-model endpoint). */
  name: string;
  file: string;
  /** The framework that runs it, as the Open Inference Protocol's model metadata names it (onnxruntime_onnx, ...). */
  platform: string;
  kind: ModelKind;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  /** Feature count for tabular models, when fixed. */
  features: number | null;
  featureNames?: string[];
  /** Mixed-type models: every column's type, in column order. */
  columnTypes?: ColumnType[];
  /** Why rows cannot be mapped onto this model's inputs, when they look like columns but do not fit unambiguously. */
  rowsRefused?: string;
  labels?: (string | number)[];
  /** False when the warm-up run could not be made (inputs that need real values, a fixed batch size); warmupError says why. */
  warmed: boolean;
  warmupError?: string;
  /**
   * Set when the label output is names[argmax(probabilities)] in the graph: the server then computes it
   * from the probabilities (same answer, without onnxruntime building a string per row).
   */
  labelsFromProbabilities?: boolean;
  /** The model's own inference code, when it has some. */
  code?: CodeDescription;
  /** XGBoost and LightGBM models: what the file holds (library, format, objective, trees, ...), for the start-up log. */
  tree?: Record<string, unknown>;
  /** How its answers are written (absent: the server's own style). */
  outputStyle?: OutputStyle;
  /** Request media types the model reads (canonical names first, then aliases). */
  consumes: string[];
  /** Response media types the model writes, in order of preference for wildcards. */
  produces: string[];
  /** Alias -> canonical name, for the types in consumes/produces that have several names. */
  aliases: Record<string, string>;
}

/** The hook names of users' inference code, in the order a request meets them. */
export const HOOK_NAMES = ['modelFn', 'warmupFn', 'transformFn', 'inputFn', 'predictFn', 'outputFn'] as const;
export type HookName = (typeof HOOK_NAMES)[number];

/** What a model's inference code (code/inference.mjs) provides. */
export interface CodeDescription {
  file: string;
  hooks: HookName[];
  /** Request media types the module declares it reads; absent: its inputFn/transformFn takes any, else the built-in types. */
  consumes?: string[];
  /** Response media types the module declares it writes; absent: its outputFn/transformFn writes any, else the built-in types. */
  produces?: string[];
  /** The module says its hooks may run for queued requests together (opportunistic batching stays on). */
  batchSafe: boolean;
}

/** Whether a worker (and the server) takes traffic: loading, serving, or finishing in-flight work before exit. */
export type HealthState = 'starting' | 'ready' | 'draining';

/**
 * Model files beyond this run on the inference threads only, never on a worker's own thread
 * (MODEL_SERVER_INLINE, inference/inline.ts): each worker would hold one more copy of the weights. Tree
 * ensembles have a lower limit, as onnxruntime's session of one holds many times its file.
 */
export const INLINE_FILE_BYTES = 16 * 2 ** 20;
export const INLINE_TREE_FILE_BYTES = 2 * 2 ** 20;

/** Why a model file of this size is too large to run on a worker's own thread, or undefined when it is not. */
export function inlineSizeRefusal(fileBytes: number, trees: boolean): string | undefined {
  if (fileBytes > INLINE_FILE_BYTES) return `its file is larger than ${INLINE_FILE_BYTES / 2 ** 20} MB`;
  if (trees && fileBytes > INLINE_TREE_FILE_BYTES) return `it is a tree ensemble larger than ${INLINE_TREE_FILE_BYTES / 2 ** 20} MB`;
  return undefined;
}
