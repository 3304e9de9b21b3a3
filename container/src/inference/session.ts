// One onnxruntime session inside an inference thread: loads the model, works out what kind of model it
// is (the tabular layout: which output holds what), warms it with one run, and runs decoded rows (as
// Predictions) or named tensors.
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { featuresFromMetadata, readModelMetadata, type ModelMetadata } from '../onnx/reader';
import { ServerError } from '../errors';
import { stringSlots, type FloatArray, type Matrix, type Predictions, type TabularSchema, type TensorData, type TensorInfo } from '../vocabulary';
import { columnTensors, planColumns, type ColumnPlan } from './columns';
import { readModelJson, type ModelJson } from './model-json';
import { native } from './native-guard';
import type { ThreadInit, ThreadModel } from './protocol';

// onnxruntime writes its own log (coloured text) to stdout; every failure it has also comes back as an
// exception, which the server logs as JSON. Below fatal it says nothing, so the output stays JSON lines.
ort.env.logLevel = 'fatal';
const QUIET = { logSeverityLevel: 4 } as const;

const FLOAT_TYPES = new Set(['float32', 'float64']);
const LABEL_TYPES = new Set(['int64', 'int32', 'string']);

/** What loading a session needs: a ThreadInit whose model file is known. */
export type SessionInit = Pick<ThreadInit, 'intraOpThreads' | 'modelJsonFile'> & { modelFile: string };

export type TensorMeta = { name: string; type: string; shape: readonly (number | string)[] };

/**
 * Operators in which onnxruntime 1.30 aborts the whole process (SIGSEGV, SIGABRT, SIGFPE) on an input with
 * a zero-size dimension instead of failing the run: found by running every ONNX backend node test with each
 * input dimension made 0 (test/integration/onnx-conformance.test.ts checks the list still covers every
 * such crash). V2 requests with a zero-size dimension are refused for models that use one of them; other
 * models get onnxruntime's own answer (an empty result, or its error).
 */
export const ZERO_SIZE_ABORTS: readonly string[] = ['ConvTranspose', 'DFT', 'GRU', 'InstanceNormalization', 'LSTM', 'RoiAlign', 'STFT', 'TopK', 'Unique'];

/** Why zero-size inputs are refused for a model using `opTypes` (undefined: unreadable), or undefined when they are not. */
export function zeroSizeRefusal(opTypes: readonly string[] | undefined): string | undefined {
  if (!opTypes) return 'the server could not read which operators the model uses, and onnxruntime aborts on them in some';
  const aborting = ZERO_SIZE_ABORTS.filter((op) => opTypes.includes(op));
  return aborting.length > 0 ? `onnxruntime aborts on them in its ${aborting.join(', ')} operator${aborting.length > 1 ? 's' : ''}` : undefined;
}

/** Classifier/regressor layout of a model's outputs. */
export interface TabularLayout {
  kind: 'classifier' | 'regressor';
  labelOutput?: string;
  probabilityOutput?: string;
  scoreOutput?: string;
}

/**
 * The tabular layout of a model, or null when it is only servable as tensors. Rows are a batch, so the
 * input's first dimension must be dynamic ([N, F]); a fixed one ([2, 2]: a matrix) is a tensor model
 * unless model.json says the model is tabular (features, labels or task).
 */
export function tabularLayout(inputs: readonly TensorMeta[], outputs: readonly TensorMeta[], json: ModelJson): TabularLayout | null {
  if (inputs.length !== 1 || !FLOAT_TYPES.has(inputs[0].type) || inputs[0].shape.length !== 2) return null;
  const declaredTabular = json.features !== undefined || json.labels !== undefined || json.task !== undefined;
  if (typeof inputs[0].shape[0] === 'number' && !declaredTabular) return null;
  return outputLayout(outputs, json);
}

/** Which output holds what, for a model whose inputs take rows: a classifier, a regressor, or null. */
export function outputLayout(outputs: readonly TensorMeta[], json: ModelJson): TabularLayout | null {
  const floats2d = outputs.filter((o) => FLOAT_TYPES.has(o.type) && o.shape.length === 2);
  const labelLike = outputs.filter((o) => LABEL_TYPES.has(o.type) && (o.shape.length === 1 || (o.shape.length === 2 && o.shape[1] === 1)));
  if (json.task !== 'regression' && outputs.length === 2 && labelLike.length === 1 && floats2d.length === 1) {
    return { kind: 'classifier', labelOutput: labelLike[0].name, probabilityOutput: floats2d[0].name };
  }
  if (outputs.length !== 1 || !FLOAT_TYPES.has(outputs[0].type)) return null;
  const out = outputs[0];
  const width = out.shape.length === 2 ? out.shape[1] : 1;
  if (json.task === 'regression' || (json.task === undefined && (out.shape.length === 1 || width === 1))) {
    return out.shape.length <= 2 ? { kind: 'regressor', scoreOutput: out.name } : null;
  }
  if (out.shape.length === 2 && (typeof width !== 'number' || width > 1)) {
    return { kind: 'classifier', probabilityOutput: out.name };
  }
  return null;
}

/**
 * Index of the first maximum of scores[at .. at+classes), as ONNX ArgMax (select_last_index 0) computes
 * it; -1 when the row holds a NaN, whose ordering the caller must decide.
 */
export function argmax(scores: FloatArray, at: number, classes: number): number {
  let best = 0;
  let max = scores[at];
  if (max !== max) return -1;
  for (let j = 1; j < classes; j++) {
    const v = scores[at + j];
    if (v !== v) return -1;
    if (v > max) {
      max = v;
      best = j;
    }
  }
  return best;
}

/**
 * names[argmax] for each row, as the graph's Gather(names, ArgMax(probabilities)) computes it; undefined
 * when a row holds a NaN or the widths disagree (onnxruntime's own label output is used then).
 */
export function argmaxLabels(scores: FloatArray, rows: number, names: readonly (string | number)[]): (string | number)[] | undefined {
  const classes = names.length;
  if (scores.length !== rows * classes) return undefined;
  const labels: (string | number)[] = new Array(rows);
  for (let r = 0; r < rows; r++) {
    const best = argmax(scores, r * classes, classes);
    if (best < 0) return undefined;
    labels[r] = names[best];
  }
  return labels;
}

type Outputs = Readonly<Record<string, { data: unknown; dims: readonly number[] }>>;

/** A classifier's or regressor's outputs as Predictions; `derivedLabels` were looked up from the probabilities. */
export function toPredictions(layout: TabularLayout, result: Outputs, rows: number, json: ModelJson, derivedLabels?: (string | number)[]): Predictions {
  if (layout.kind === 'regressor') {
    const scores = result[layout.scoreOutput!].data as FloatArray;
    if (scores.length !== rows) throw new ServerError('MODEL_ERROR', `model returned ${scores.length} scores for ${rows} rows`);
    return { kind: 'regression', rows, scores };
  }
  const probs = result[layout.probabilityOutput!];
  const probabilities = probs.data as FloatArray;
  const classes = rows > 0 ? probabilities.length / rows : Number(probs.dims[1] ?? 0);
  const classNames: (string | number)[] = json.labels ?? Array.from({ length: classes }, (_, i) => i);
  let labels: (string | number)[];
  // Integer labels are class indices only when model.json names the classes with strings; numeric
  // class names mean the label is the class itself (labels [1, 2, 3]: a 2 is class 2, not "3").
  const indexNames = json.labels?.every((l) => typeof l === 'string') ? json.labels : undefined;
  if (layout.labelOutput && derivedLabels && (!indexNames || typeof derivedLabels[0] === 'string')) {
    // Looked up already from one table (all strings or all integers), and nothing to map.
    labels = derivedLabels;
  } else if (layout.labelOutput) {
    const raw = derivedLabels ?? (result[layout.labelOutput].data as ArrayLike<string | number | bigint>);
    labels = new Array(rows);
    for (let r = 0; r < rows; r++) {
      const v = raw[r];
      if (typeof v === 'string') labels[r] = v;
      else {
        const n = Number(v);
        labels[r] = indexNames && Number.isInteger(n) && n >= 0 && n < indexNames.length ? indexNames[n] : n;
      }
    }
  } else {
    // No label output: the label is the class of the highest probability. A row with a NaN takes the
    // first maximum of its other values (NaN never wins), the first class when every value is NaN.
    labels = new Array(rows);
    for (let r = 0; r < rows; r++) {
      let best = argmax(probabilities, r * classes, classes);
      if (best < 0) best = argmaxSkippingNaN(probabilities, r * classes, classes);
      labels[r] = classNames[best] ?? best;
    }
  }
  return { kind: 'classification', rows, classes, labels, probabilities, classNames };
}

function argmaxSkippingNaN(scores: FloatArray, at: number, classes: number): number {
  let best = -1;
  for (let j = 0; j < classes; j++) {
    const v = scores[at + j];
    if (v === v && (best < 0 || v > scores[at + best])) best = j;
  }
  return Math.max(best, 0);
}

/** onnxruntime's message without its source paths and C++ signatures (internal detail, not the caller's business). */
export function cleanOrtMessage(message: string): string {
  return message
    .split('\n')[0]
    .replace(/\/onnxruntime_src\/\S+:\d+ (?:[^()]*\([^)]*\)\s*)?/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * Every output must be a tensor: onnxruntime-node cannot return sequences or maps. One message for
 * `serve` and for `train`'s bring-your-own-model check; `where` names the file.
 */
export function checkTensorOutputs(session: ort.InferenceSession, where: string): void {
  const nonTensor = session.outputMetadata.filter((m) => !m.isTensor).map((m) => m.name);
  if (nonTensor.length > 0) {
    throw new ServerError('MODEL_UNSUPPORTED_OUTPUT', `${where} output ${nonTensor.map((n) => `"${n}"`).join(', ')} is a sequence or map (e.g. a ZipMap of class probabilities), which onnxruntime-node cannot return. Re-export without it: skl2onnx convert_sklearn(..., options={id(model): {"zipmap": False}}), or onnxmltools with zipmap=False; probabilities then come as a [N, classes] tensor`);
  }
}

/** How onnxruntime reports a failing node (after cleanOrtMessage). */
const NODE_FAILURE = /^Non-zero status code returned while running (\S+) node\. Name:'([^']*)' Status Message: (.*)$/;

/**
 * Reasons onnxruntime gives when the values fed in do not fit what the graph does with them: shapes that
 * do not broadcast, reshape or match, an invalid argument, an index or value out of range. The model
 * loaded and warmed, so these come from this input; anything else is the model's or the server's fault.
 */
const INPUT_REFUSED = /invalid (\w+ )?(rank|dimensions?|shape|argument|input|indices|index|value)|unexpected input data type|input .* not found|broadcast|reshape|mismatch|must match|do not match|incompatible|out of (range|bounds)|out of data bounds|must be within|not in range|exceeds/i;

/**
 * The reason without onnxruntime's internals: its failed check ("x == y was false."), the source file and
 * function it names ("matmul_helper.h:59 Compute"), and its advice to fix the model.
 */
function readableReason(reason: string): string {
  return reason
    .replace(/^.*? was false\.\s+(?=\S)/, '')
    .replace(/^[\w.]+\.(?:h|cc|cpp):\d+ \w+ /, '')
    .replace(/\s*Please fix either the inputs\/outputs or the model\.?/, '')
    .trim();
}

const nodeName = (node: RegExpExecArray) => `${node[1]} node${node[2] ? ` "${node[2]}"` : ''}`;

/** Input errors onnxruntime reports are the caller's (400, naming the node); everything else is the model's (500). */
export function runError(err: unknown, what: string): ServerError {
  // Some reasons go on over several lines ("for the following indices\n index: 1 Got: 3 Expected: 2").
  const reason = cleanOrtMessage(String((err as Error)?.message ?? err).replace(/\s*\n\s*(?=\S)/g, ' '));
  const node = NODE_FAILURE.exec(reason);
  const detail = readableReason(node ? node[3] : reason);
  if (INPUT_REFUSED.test(detail)) {
    return new ServerError('INVALID_TENSOR', `the input does not fit the model: onnxruntime${node ? `'s ${nodeName(node)}` : ''} refused it: ${detail}`);
  }
  return new ServerError('MODEL_ERROR', `onnxruntime failed on ${what}: ${node ? `${nodeName(node)}: ${detail}` : reason}`);
}

/** A zero-filled input (symbolic dimensions as 1), for warming a model that is not tabular. */
function zeroTensor(info: TensorInfo): TensorData {
  const dims = info.shape.map((d) => (typeof d === 'number' ? d : 1));
  const n = dims.reduce((a, b) => a * b, 1);
  const arrays: Record<string, () => TensorData['data']> = {
    float32: () => new Float32Array(n), float64: () => new Float64Array(n), int8: () => new Int8Array(n), uint8: () => new Uint8Array(n),
    int16: () => new Int16Array(n), uint16: () => new Uint16Array(n), int32: () => new Int32Array(n), uint32: () => new Uint32Array(n),
    int64: () => new BigInt64Array(n), uint64: () => new BigUint64Array(n), bool: () => new Uint8Array(n), string: () => new Array<string>(n).fill(''),
    float16: () => new Uint16Array(n),
  };
  const make = arrays[info.type];
  if (!make) throw new Error(`no warm-up value for type ${info.type}`);
  return { name: info.name, type: info.type, dims, data: make() };
}

function describeValue(m: ort.InferenceSession.ValueMetadata): TensorInfo {
  return m.isTensor ? { name: m.name, type: m.type, shape: [...m.shape] } : { name: m.name, type: 'sequence/map', shape: [] };
}

/** Class names and feature names from model.json, else from the ONNX file itself; the inputs the file declares scalars. */
function readNames(init: SessionInit): { json: ModelJson; argmaxLabel?: ModelMetadata['argmaxLabel']; scalarInputs?: string[]; opTypes?: string[] } {
  const json: ModelJson = init.modelJsonFile ? readModelJson(init.modelJsonFile) : {};
  // Feature names may also travel inside the model (metadata_props "features"), and class names in an
  // ai.onnx.ml classifier node (skl2onnx, onnxmltools).
  try {
    const meta = readModelMetadata(init.modelFile);
    json.features ??= featuresFromMetadata(meta.metadata);
    json.labels ??= meta.classLabels;
    return { json, argmaxLabel: meta.argmaxLabel, scalarInputs: meta.scalarInputs, opTypes: meta.opTypes };
  } catch {
    // not readable as protobuf: onnxruntime's own error when loading says more
    return { json };
  }
}

export async function createSession(init: SessionInit): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(init.modelFile, {
      intraOpNumThreads: init.intraOpThreads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      ...QUIET,
    });
  } catch (err) {
    const reason = cleanOrtMessage(String((err as Error).message ?? err));
    throw new ServerError('MODEL_INVALID', `onnxruntime cannot load ${init.modelFile}: ${reason}. Check that the file is a complete ONNX model (not truncated, not a Git LFS pointer) exported with an opset onnxruntime 1.30 supports`);
  }
}

export class OnnxSession {
  /** Present for tabular models (one [N, F] float input, or typed columns); decoders need it to check and map columns. */
  readonly schema: TabularSchema | null;
  /** Why rows are refused, for a model whose inputs look like columns but do not split unambiguously. */
  readonly rowsRefused?: string;
  private readonly input: TensorInfo;
  /** Set when the label output is names[argmax(probabilities)] in the graph (see readModelMetadata). */
  private readonly labelsFromScores: ModelMetadata['argmaxLabel'];
  /** Mixed-type models: each column's slot among the string columns. */
  private readonly slots?: ReturnType<typeof stringSlots>;

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly description: ThreadModel,
    private readonly layout: TabularLayout | null,
    private readonly json: ModelJson,
    argmaxLabel: ModelMetadata['argmaxLabel'],
    /** Why V2 inputs with a zero-size dimension are refused for this model; undefined when they run. */
    readonly zeroSizeRefusal: string | undefined,
    private readonly columns?: ColumnPlan,
  ) {
    const { inputs, outputs, features } = description;
    this.input = inputs[0];
    this.rowsRefused = description.rowsRefused;
    if (columns) this.slots = stringSlots(columns.types);
    if (!layout) this.schema = null;
    else if (columns) this.schema = { features, featureNames: columns.names, columnTypes: columns.types };
    else this.schema = { features, featureNames: json.features, inputType: inputs[0].type as 'float32' | 'float64' };
    const probabilityWidth = outputs.find((o) => o.name === layout?.probabilityOutput)?.shape[1];
    const derivable = layout?.labelOutput && argmaxLabel && argmaxLabel.output === layout.labelOutput && argmaxLabel.source === layout.probabilityOutput
      && (typeof probabilityWidth !== 'number' || probabilityWidth === argmaxLabel.names.length);
    this.labelsFromScores = derivable ? argmaxLabel : undefined;
    if (derivable) description.labelsFromProbabilities = true;
  }

  /** The onnxruntime session itself (what users' inference code gets as its model, wrapped). */
  get ortSession(): ort.InferenceSession {
    return this.session;
  }

  /** Loads the model and warms it with one run (a warm-up that cannot run is reported, not thrown, for tensor models). */
  static async load(init: SessionInit): Promise<OnnxSession> {
    const { json, argmaxLabel, scalarInputs, opTypes } = readNames(init);
    const session = await createSession(init);
    checkTensorOutputs(session, path.basename(init.modelFile));
    const inputs = session.inputMetadata.map(describeValue);
    for (const input of inputs) if (input.shape.length === 0 && scalarInputs?.includes(input.name)) input.scalar = true;
    const outputs = session.outputMetadata.map(describeValue);
    // Inputs that are typed columns (one per column, or string ones) take rows too; see columns.ts.
    const columns = planColumns(inputs, json);
    const plan = columns && 'plan' in columns ? columns.plan : undefined;
    const layout = plan ? outputLayout(outputs, json) : tabularLayout(inputs, outputs, json);
    const rowsRefused = columns && 'refused' in columns && outputLayout(outputs, json) ? columns.refused : undefined;
    let features: number | null = null;
    if (plan && layout) features = plan.types.length;
    else if (layout) {
      const declared = inputs[0].shape[1];
      features = typeof declared === 'number' ? declared : json.features?.length ?? null;
      if (json.features && features !== null && json.features.length !== features) {
        throw new ServerError('MODEL_INVALID', `model.json lists ${json.features.length} features but input "${inputs[0].name}" has ${features} columns`);
      }
    }
    const description: ThreadModel = { file: init.modelFile, kind: layout?.kind ?? 'tensor', inputs, outputs, features, featureNames: plan && layout ? plan.names : json.features, labels: json.labels, warmed: false };
    if (plan && layout) description.columnTypes = plan.types;
    if (rowsRefused) description.rowsRefused = rowsRefused;
    const loaded = new OnnxSession(session, description, layout, json, argmaxLabel, zeroSizeRefusal(opTypes), plan && layout ? plan : undefined);
    await loaded.warm();
    return loaded;
  }

  /**
   * One real run, so the first caller does not pay for lazy initialisation. A run the model refuses
   * (inputs that need real values, a fixed batch size) is reported as warmed: false with its reason and
   * never stops start-up: the first caller pays for the initialisation instead.
   */
  private async warm(): Promise<void> {
    try {
      if (this.columns) {
        // Typed columns: zeros and empty strings.
        const width = this.columns.types.length;
        await this.predict({ rows: 1, width, values: new Float64Array(width), strings: new Array<string>(this.slots!.count).fill('') });
      } else if (this.layout) {
        const width = this.description.features ?? 1;
        const declaredRows = this.input.shape[0];
        const rows = typeof declaredRows === 'number' && declaredRows > 0 ? declaredRows : 1;
        await this.predict({ rows, width, values: new Float64Array(rows * width) });
      } else {
        await this.runTensors(this.description.inputs.map(zeroTensor));
      }
      this.description.warmed = true;
    } catch (err) {
      this.description.warmupError = String((err as Error)?.message ?? err).split('\n')[0];
    }
  }

  /** Rows through a tabular model. */
  async predict(matrix: Matrix): Promise<Predictions> {
    const layout = this.layout;
    if (!layout) throw new ServerError('UNSUPPORTED_MEDIA_TYPE', 'this model is not a tabular classifier or regressor; send KServe V2 tensors');
    const feeds = this.columns ? this.columnFeeds(matrix) : this.matrixFeeds(matrix);
    let result: ort.InferenceSession.OnnxValueMapType;
    try {
      if (this.labelsFromScores) {
        // The label is names[argmax(probabilities)]: fetch only the probabilities and look the labels
        // up, unless a row has a NaN, where onnxruntime decides.
        result = await native(() => this.session.run(feeds, [layout.probabilityOutput!], QUIET));
        const labels = argmaxLabels(result[layout.probabilityOutput!].data as FloatArray, matrix.rows, this.labelsFromScores.names);
        if (labels) return toPredictions(layout, result, matrix.rows, this.json, labels);
      }
      result = await native(() => this.session.run(feeds, QUIET));
    } catch (err) {
      throw runError(err, `${matrix.rows} row(s)`);
    }
    return toPredictions(layout, result, matrix.rows, this.json);
  }

  /** The one [N, F] float input. */
  private matrixFeeds(matrix: Matrix): Record<string, ort.Tensor> {
    const input = this.input;
    const want = input.type === 'float64' ? Float64Array : Float32Array;
    const data = matrix.values instanceof want ? matrix.values : want.from(matrix.values);
    return { [input.name]: new ort.Tensor(input.type as 'float32' | 'float64', data, [matrix.rows, matrix.width]) };
  }

  /** One tensor per input of a mixed-type model. */
  private columnFeeds(matrix: Matrix): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = {};
    for (const t of columnTensors(this.columns!, matrix, this.slots)) feeds[t.name] = new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims);
    return feeds;
  }

  /** Named tensors through the model (checked by the caller against description.inputs). */
  async runTensors(tensors: readonly TensorData[], outputNames?: readonly string[]): Promise<TensorData[]> {
    const feeds: Record<string, ort.Tensor> = {};
    for (const t of tensors) feeds[t.name] = new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims);
    let result: ort.InferenceSession.OnnxValueMapType;
    try {
      result = await native(() => (outputNames ? this.session.run(feeds, [...outputNames], QUIET) : this.session.run(feeds, QUIET)));
    } catch (err) {
      throw runError(err, 'the given tensors');
    }
    return (outputNames ?? this.session.outputNames).map((name) => {
      const t = result[name];
      return { name, type: t.type, dims: [...t.dims], data: t.data as TensorData['data'] };
    });
  }
}
