// One onnxruntime session inside an inference thread: loads the model (an XGBoost or LightGBM model is
// converted to ONNX first, trees/), works out what kind of model it is (layout.ts), warms it with one run,
// and runs decoded rows (as Predictions, labels.ts or trees/model.ts) or named tensors.
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { featuresFromMetadata, readModelMetadata, type ModelMetadata } from '../onnx/reader';
import { ServerError } from '../errors';
import { loadTreeModel } from '../trees/load';
import { describeTreeModel, nativeOutput, treePredictions, type TreeModel } from '../trees/model';
import { outputWidth } from '../trees/objectives';
import { MARGIN, PREDICTION } from '../trees/to-onnx';
import { stringSlots, type FloatArray, type Matrix, type Predictions, type TabularSchema, type TensorData, type TensorInfo } from '../vocabulary';
import { columnTensors, planColumns, type ColumnPlan } from './columns';
import { argmaxLabels, toPredictions } from './labels';
import { outputLayout, tabularLayout, zeroSizeRefusal, type TabularLayout } from './layout';
import { readModelJson, type ModelJson } from './model-json';
import { native } from './native-guard';
import { checkTensorOutputs, createSession, QUIET, runError } from './onnxruntime';
import type { ThreadInit, ThreadModel } from './protocol';

/** What loading a session needs: a ThreadInit whose model file is known. */
export type SessionInit = Pick<ThreadInit, 'intraOpThreads' | 'modelJsonFile' | 'treeFiles'> & { modelFile: string };

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
    /** Set for XGBoost and LightGBM models: the graph answers margins, which the model turns into predictions. */
    private readonly tree?: TreeModel,
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
    if (init.treeFiles) return OnnxSession.loadTrees(init, init.treeFiles);
    const { json, argmaxLabel, scalarInputs, opTypes } = readNames(init);
    const session = await createSession(init.modelFile, init.intraOpThreads);
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
    const description: ThreadModel = { file: init.modelFile, platform: 'onnxruntime_onnx', kind: layout?.kind ?? 'tensor', inputs, outputs, features, featureNames: plan && layout ? plan.names : json.features, labels: json.labels, warmed: false };
    if (plan && layout) description.columnTypes = plan.types;
    if (rowsRefused) description.rowsRefused = rowsRefused;
    const loaded = new OnnxSession(session, description, layout, json, argmaxLabel, zeroSizeRefusal(opTypes), plan && layout ? plan : undefined);
    await loaded.warm();
    return loaded;
  }

  /** XGBoost or LightGBM files, converted to an ONNX tree ensemble in memory and served as a tabular model. */
  private static async loadTrees(init: SessionInit, files: string[]): Promise<OnnxSession> {
    const json: ModelJson = init.modelJsonFile ? readModelJson(init.modelJsonFile) : {};
    const { model, onnx } = loadTreeModel(files);
    const features = model.ensemble.features;
    const where = path.basename(files[0]);
    if (json.features && json.features.length !== features) throw new ServerError('MODEL_INVALID', `model.json lists ${json.features.length} features but ${where} has ${features}`);
    if (json.labels && json.labels.length !== model.classes) throw new ServerError('MODEL_INVALID', `model.json lists ${json.labels.length} labels but ${where} ${model.classes > 0 ? `has ${model.classes} classes` : 'is a regression model'}`);
    json.features ??= model.featureNames;
    const session = await createSession(onnx, init.intraOpThreads);
    const inputs = session.inputMetadata.map(describeValue);
    const margin = session.outputMetadata.map(describeValue)[0];
    // Tensor callers (the Open Inference Protocol, tensor hooks) get the library's predict output beside the
    // trees' raw sum: what xgboost's predict() or LightGBM's predict() returns, as every other format answers.
    const outputs = [margin, { name: PREDICTION, type: margin.type, shape: [margin.shape[0], outputWidth(model.objective, model.groups)] }];
    const kind = model.classes > 0 ? 'classifier' : 'regressor';
    const description: ThreadModel = { file: files.length > 1 ? `${path.dirname(files[0])} (${files.length} files)` : files[0], platform: 'onnxruntime_onnx', kind, inputs, outputs, features, featureNames: json.features, labels: json.labels, warmed: false, tree: describeTreeModel(model) };
    const loaded = new OnnxSession(session, description, { kind }, json, undefined, undefined, undefined, model);
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
    if (this.tree) {
      try {
        result = await native(() => this.session.run(feeds, QUIET));
      } catch (err) {
        throw runError(err, `${matrix.rows} row(s)`);
      }
      return treePredictions(this.tree, result[MARGIN].data as FloatArray, matrix.rows, this.json.labels);
    }
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
    // A tree model's prediction is computed from its margins, which the graph answers.
    const wanted = outputNames ?? this.description.outputs.map((o) => o.name);
    const fetched = this.tree ? [MARGIN] : outputNames;
    let result: ort.InferenceSession.OnnxValueMapType;
    try {
      result = await native(() => (fetched ? this.session.run(feeds, [...fetched], QUIET) : this.session.run(feeds, QUIET)));
    } catch (err) {
      throw runError(err, 'the given tensors');
    }
    return wanted.map((name) => {
      const t = result[name];
      if (this.tree && name === PREDICTION) {
        const margins = result[MARGIN];
        const rows = Number(margins.dims[0]);
        // nativeOutput may scale the margins in place (averaged ensembles): give it a copy.
        const out = nativeOutput(this.tree, (margins.data as FloatArray).slice(), rows);
        return { name, type: margins.type, dims: [rows, out.width], data: out.values as TensorData['data'] };
      }
      return { name, type: t.type, dims: [...t.dims], data: t.data as TensorData['data'] };
    });
  }
}
