// Test models, written by the project's own ONNX writer into temporary model directories.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GraphBuilder, attr, serializeModel } from '../../container/src/onnx/writer';

export const EXAMPLE_DIR = path.resolve(__dirname, '../../local-test/test-dir');

/** A fresh folder laid out like /opt/ml with `files` (relative path -> content) under model/. */
export function baseDir(files: Record<string, Uint8Array | string> = {}): string {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-base-'));
  fs.mkdirSync(path.join(base, 'model'), { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(base, 'model', name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
  }
  return base;
}

/** The bundled iris example model. */
export function exampleBase(): string {
  return baseDir({
    'model.onnx': fs.readFileSync(path.join(EXAMPLE_DIR, 'model/model.onnx')),
    'model.json': fs.readFileSync(path.join(EXAMPLE_DIR, 'model/model.json')),
  });
}

/**
 * A regressor on [N, 2] whose run time is under the caller's control: it spins a Loop
 * (max of column 2) + `extraIterations` times, then returns column 1 as the score.
 */
export function slowModel(extraIterations = 0): Uint8Array {
  const g = new GraphBuilder('slow');
  const x = g.input('input', 'FLOAT', ['N', 2]);
  const col1 = g.node('Gather', [x, g.constant('one_i', 'INT64', [], [1])], { axis: attr.int(1) });
  const trip = g.node('Cast', [g.node('Add', [g.node('ReduceMax', [col1], { keepdims: attr.int(0) }), g.constant('extra', 'FLOAT', [], [extraIterations])])], { to: attr.int(7) });
  const body = new GraphBuilder('spin');
  body.input('i', 'INT64', []);
  body.input('cond_in', 'BOOL', []);
  body.input('v_in', 'FLOAT', []);
  body.node('Identity', ['cond_in'], {}, { outputs: ['cond_out'] });
  body.node('Add', ['v_in', body.constant('step', 'FLOAT', [], [1])], {}, { outputs: ['v_out'] });
  body.output('cond_out', 'BOOL', []);
  body.output('v_out', 'FLOAT', []);
  const spun = g.node('Loop', [trip, g.constant('go', 'BOOL', [], [true]), g.constant('v0', 'FLOAT', [], [0])], { body: attr.graph(body) });
  const col0 = g.node('Gather', [x, g.constant('zero_i', 'INT64', [], [0])], { axis: attr.int(1) });
  g.node('Add', [col0, g.node('Mul', [spun, g.constant('zero_f', 'FLOAT', [], [0])])], {}, { outputs: ['score'] });
  g.output('score', 'FLOAT', ['N']);
  return serializeModel(g);
}

/** y = x . weights + bias on [N, F] (double input when `double`). */
export function linearModel(weights: number[], bias: number, double = false): Uint8Array {
  const t = double ? 'DOUBLE' : 'FLOAT';
  const g = new GraphBuilder('linear');
  const x = g.input('features', t, ['N', weights.length]);
  const y = g.node('Add', [g.node('MatMul', [x, g.constant('w', t, [weights.length], weights)]), g.constant('b', t, [], [bias])]);
  g.node('Identity', [y], {}, { outputs: ['variable'] });
  g.output('variable', t, ['N']);
  return serializeModel(g);
}

/** A classifier whose probabilities come out through ai.onnx.ml ZipMap, as skl2onnx writes by default. */
export function zipMapModel(): Uint8Array {
  const g = new GraphBuilder('zipmap');
  const x = g.input('input', 'FLOAT', ['N', 3]);
  const probs = g.node('Softmax', [x], { axis: attr.int(-1) });
  g.node('ArgMax', [probs], { axis: attr.int(1), keepdims: attr.int(0) }, { outputs: ['output_label'] });
  g.node('ZipMap', [probs], { classlabels_int64s: attr.ints([0, 1, 2]) }, { outputs: ['output_probability'], domain: 'ai.onnx.ml' });
  g.output('output_label', 'INT64', ['N']);
  g.sequenceOfMapsOutput('output_probability', 'INT64', 'FLOAT');
  return serializeModel(g, { domains: { 'ai.onnx.ml': 3 } });
}

/**
 * Several inputs of several types: a float32 [N, 2], b int64 [N], flag bool scalar, tag string [N].
 * Outputs: sum = a[:,0] + a[:,1] + b (float32 [N]), b2 = 2b (int64 [N]), not_flag (bool []), tag_out = tag.
 */
export function multiInputModel(): Uint8Array {
  const g = new GraphBuilder('multi');
  g.input('a', 'FLOAT', ['N', 2]);
  g.input('b', 'INT64', ['N']);
  g.input('flag', 'BOOL', []);
  g.input('tag', 'STRING', ['N']);
  const rowSum = g.node('ReduceSum', ['a', g.constant('axes', 'INT64', [1], [1])], { keepdims: attr.int(0) });
  g.node('Add', [rowSum, g.node('Cast', ['b'], { to: attr.int(1) })], {}, { outputs: ['sum'] });
  g.node('Mul', ['b', g.constant('two', 'INT64', [], [2])], {}, { outputs: ['b2'] });
  g.node('Not', ['flag'], {}, { outputs: ['not_flag'] });
  g.node('Identity', ['tag'], {}, { outputs: ['tag_out'] });
  g.output('sum', 'FLOAT', ['N']);
  g.output('b2', 'INT64', ['N']);
  g.output('not_flag', 'BOOL', []);
  g.output('tag_out', 'STRING', ['N']);
  return serializeModel(g);
}

/**
 * A GRU over `sequence` [seq, batch, 4] (hidden size 3), outputs `y` and `y_h`. onnxruntime-node 1.30
 * aborts the whole process (SIGABRT, "terminate called without an active exception") when it runs this
 * graph on a zero-size batch or sequence, e.g. shape [2, 0, 4]: the poison request the server must refuse.
 */
export function gruModel(): Uint8Array {
  const hidden = 3;
  const width = 4;
  const weights = (n: number) => Array.from({ length: n }, (_, i) => 0.1 * ((i % 7) - 3));
  const g = new GraphBuilder('gru');
  g.input('sequence', 'FLOAT', ['seq', 'batch', width]);
  const w = g.constant('W', 'FLOAT', [1, 3 * hidden, width], weights(3 * hidden * width));
  const r = g.constant('R', 'FLOAT', [1, 3 * hidden, hidden], weights(3 * hidden * hidden));
  g.node('GRU', ['sequence', w, r], { hidden_size: attr.int(hidden) }, { outputs: ['y', 'y_h'] });
  g.output('y', 'FLOAT', ['seq', 1, 'batch', hidden]);
  g.output('y_h', 'FLOAT', [1, 'batch', hidden]);
  return serializeModel(g);
}

/** sum = a + b for float vectors a [N] and b [M]: onnxruntime fails the run (no crash) when N and M differ and neither is 1. */
export function addModel(): Uint8Array {
  const g = new GraphBuilder('add');
  g.input('a', 'FLOAT', ['N']);
  g.input('b', 'FLOAT', ['M']);
  g.node('Add', ['a', 'b'], {}, { outputs: ['sum'] });
  g.output('sum', 'FLOAT', ['K']);
  return serializeModel(g);
}

/** y = x * scale + sum(anything): x float [N], scale a declared scalar (shape []), anything of unknown rank (no shape at all). */
export function scalarModel(): Uint8Array {
  const g = new GraphBuilder('scalar');
  g.input('x', 'FLOAT', ['N']);
  g.input('scale', 'FLOAT', []);
  g.input('anything', 'FLOAT');
  const total = g.node('ReduceSum', ['anything'], { keepdims: attr.int(0) });
  g.node('Add', [g.node('Mul', ['x', 'scale']), total], {}, { outputs: ['y'] });
  g.output('y', 'FLOAT', ['N']);
  return serializeModel(g);
}

/** The skl2onnx-shaped pipeline's columns, in graph order, and its classes. */
export const PIPELINE_COLUMNS = [
  { name: 'age', type: 'float32' },
  { name: 'gender', type: 'string' },
  { name: 'category', type: 'string' },
  { name: 'amount', type: 'float64' },
  { name: 'step', type: 'int64' },
] as const;
export const PIPELINE_GENDERS = ['F', 'M', 'Ü'];
export const PIPELINE_CATEGORIES = ['es_food', 'es_transportation', 'es_travel, "long haul"'];
export const PIPELINE_CLASSES = ['fraud', 'ok', 'review'];

/**
 * A scikit-learn pipeline as skl2onnx exports it with zipmap=False: one input per column with unknown
 * batch size ([None, 1]; float, string, double, int64), a ColumnTransformer of Imputer + StandardScaler
 * (Scaler) on the numbers and OneHotEncoder(handle_unknown="ignore": zeros=1) on each string column,
 * Concat, then a LinearClassifier with string class labels: outputs label [N] and probabilities [N, 3].
 */
export function sklearnPipelineModel(): Uint8Array {
  const g = new GraphBuilder('pipeline');
  for (const c of PIPELINE_COLUMNS) g.input(c.name, ({ float32: 'FLOAT', float64: 'DOUBLE', int64: 'INT64', string: 'STRING' } as const)[c.type], [null, 1]);
  const ml = { domain: 'ai.onnx.ml' };
  const amount = g.node('Cast', ['amount'], { to: attr.int(1) });
  const step = g.node('Cast', ['step'], { to: attr.int(1) });
  const numbers = g.node('Concat', ['age', amount, step], { axis: attr.int(1) });
  const imputed = g.node('Imputer', [numbers], { imputed_value_floats: attr.floats([40, 25, 3]), replaced_value_float: attr.float(NaN) }, ml);
  const scaled = g.node('Scaler', [imputed], { offset: attr.floats([40, 25, 3]), scale: attr.floats([0.1, 0.02, 0.5]) }, ml);
  const oneHot = (input: string, cats: string[]) =>
    g.node('Reshape', [g.node('OneHotEncoder', [input], { cats_strings: attr.strings(cats), zeros: attr.int(1) }, ml), g.constant('shape', 'INT64', [2], [-1, cats.length])]);
  const features = g.node('Concat', [scaled, oneHot('gender', PIPELINE_GENDERS), oneHot('category', PIPELINE_CATEGORIES)], { axis: attr.int(1) });
  const width = 3 + PIPELINE_GENDERS.length + PIPELINE_CATEGORIES.length;
  const coefficients = Array.from({ length: PIPELINE_CLASSES.length * width }, (_, i) => Math.sin(i * 1.7) * 1.5);
  g.node('LinearClassifier', [features], {
    coefficients: attr.floats(coefficients),
    intercepts: attr.floats([0.2, 0.5, -0.3]),
    classlabels_strings: attr.strings(PIPELINE_CLASSES),
    multi_class: attr.int(1),
    post_transform: attr.string('SOFTMAX'),
  }, { outputs: ['label', 'probabilities'], ...ml });
  g.output('label', 'STRING', [null]);
  g.output('probabilities', 'FLOAT', [null, PIPELINE_CLASSES.length]);
  return serializeModel(g, { opset: 15, domains: { 'ai.onnx.ml': 1 } });
}

/** One string [N, 3] input: each cell one-hot over a, b, c, weighted into a score [N]. */
export function stringMatrixModel(): Uint8Array {
  const g = new GraphBuilder('strings');
  g.input('codes', 'STRING', ['N', 3]);
  const encoded = g.node('OneHotEncoder', ['codes'], { cats_strings: attr.strings(['a', 'b', 'c']), zeros: attr.int(1) }, { domain: 'ai.onnx.ml' });
  const flat = g.node('Reshape', [encoded, g.constant('shape', 'INT64', [2], [-1, 9])]);
  g.node('MatMul', [flat, g.constant('w', 'FLOAT', [9], [1, 2, 3, 10, 20, 30, 100, 200, 300])], {}, { outputs: ['score'] });
  g.output('score', 'FLOAT', ['N']);
  return serializeModel(g, { domains: { 'ai.onnx.ml': 3 } });
}

/** A float [N, 2] input beside a string [N, 1] one: score = x0 + 2 x1 + (color == "red" ? 100 : 0). */
export function numbersAndStringModel(): Uint8Array {
  const g = new GraphBuilder('numbers_and_string');
  g.input('numbers', 'FLOAT', ['N', 2]);
  g.input('color', 'STRING', ['N', 1]);
  const red = g.node('Reshape', [g.node('OneHotEncoder', ['color'], { cats_strings: attr.strings(['red']), zeros: attr.int(1) }, { domain: 'ai.onnx.ml' }), g.constant('shape', 'INT64', [1], [-1])]);
  const linear = g.node('MatMul', ['numbers', g.constant('w', 'FLOAT', [2], [1, 2])]);
  g.node('Add', [linear, g.node('Mul', [red, g.constant('hundred', 'FLOAT', [], [100])])], {}, { outputs: ['score'] });
  g.output('score', 'FLOAT', ['N']);
  return serializeModel(g, { domains: { 'ai.onnx.ml': 3 } });
}

/** A float [N, k] input beside a string [N, j] one: how a row splits between them is unknowable. */
export function ambiguousColumnsModel(): Uint8Array {
  const g = new GraphBuilder('ambiguous');
  g.input('numbers', 'FLOAT', ['N', 'k']);
  g.input('codes', 'STRING', ['N', 'j']);
  const count = g.node('Cast', [g.node('Size', ['codes'])], { to: attr.int(1) });
  g.node('Add', [g.node('ReduceSum', ['numbers', g.constant('axes', 'INT64', [1], [1])], { keepdims: attr.int(0) }), count], {}, { outputs: ['score'] });
  g.output('score', 'FLOAT', ['N']);
  return serializeModel(g);
}

/**
 * Shaped like a voice-activity model (Silero VAD v5): `input` [batch, samples], `state` [2, batch, 8] and
 * `sr` (the sample rate, an int64 scalar) in; `output` [1, batch] and `stateN` [2, batch, 8] out. Its graph
 * is an If on the sample rate: at 16 kHz a Conv over windows of 16 samples feeds an LSTM (inside another
 * If) whose initial state is `state`; at 8 kHz the same with windows of 8; any other rate ends in an LSTM
 * given pairs of samples where it takes 4 features, as Silero's graph fails on them. So a caller's
 * mistakes fail inside subgraphs: fewer samples than a window, a state whose batch is not the input's, a
 * sample rate it does not take. Nodes are named as Silero's are ("If_0", ".../decoder/rnn/LSTM").
 */
export function speechModel(): Uint8Array {
  const hidden = 8;
  const features = 4;
  const weights = (n: number) => Array.from({ length: n }, (_, i) => 0.05 * ((i % 9) - 4));
  const g = new GraphBuilder('speech');
  // Dimensions without names, as Silero's are: nothing before the graph says the two batches must agree.
  g.input('input', 'FLOAT', [null, null]);
  g.input('state', 'FLOAT', [2, null, hidden]);
  g.input('sr', 'INT64', []);
  /** The LSTM decoder over `seq` [T, batch, features], inside an If (as Silero's decoder is); outputs `${tag}_out`, `${tag}_stateN`. */
  const decoder = (b: GraphBuilder, tag: string, seq: string) => {
    const inner = new GraphBuilder(`${tag}_decoder`);
    const h0 = inner.node('Slice', ['state', inner.constant(`${tag}_h_from`, 'INT64', [1], [0]), inner.constant(`${tag}_h_to`, 'INT64', [1], [1])], {}, { outputs: [`${tag}_h0`] });
    const c0 = inner.node('Slice', ['state', inner.constant(`${tag}_c_from`, 'INT64', [1], [1]), inner.constant(`${tag}_c_to`, 'INT64', [1], [2])], {}, { outputs: [`${tag}_c0`] });
    const w = inner.constant(`${tag}_W`, 'FLOAT', [1, 4 * hidden, features], weights(4 * hidden * features));
    const r = inner.constant(`${tag}_R`, 'FLOAT', [1, 4 * hidden, hidden], weights(4 * hidden * hidden));
    const [, yh, yc] = inner.node('LSTM', [seq, w, r, '', '', h0, c0], { hidden_size: attr.int(hidden) }, { outputs: [`${tag}_y`, `${tag}_yh`, `${tag}_yc`], name: `${tag}/decoder/rnn/LSTM` });
    inner.node('ReduceMean', [yh], { axes: attr.ints([2]), keepdims: attr.int(0) }, { outputs: [`${tag}_dec_out`] });
    inner.node('Concat', [yh, yc], { axis: attr.int(0) }, { outputs: [`${tag}_dec_state`] });
    inner.output(`${tag}_dec_out`, 'FLOAT');
    inner.output(`${tag}_dec_state`, 'FLOAT');
    const positive = b.node('Greater', ['sr', b.constant(`${tag}_zero`, 'INT64', [], [0])], {}, { outputs: [`${tag}_positive`] });
    b.node('If', [positive], { then_branch: attr.graph(inner), else_branch: attr.graph(inner) }, { outputs: [`${tag}_out`, `${tag}_stateN`], name: `${tag}/decoder/If_1` });
    b.output(`${tag}_out`, 'FLOAT');
    b.output(`${tag}_stateN`, 'FLOAT');
  };
  /** One sample rate's branch: a Conv over windows of `window` samples, then the decoder. */
  const rate = (tag: string, window: number) => {
    const b = new GraphBuilder(tag);
    const x3 = b.node('Unsqueeze', ['input', b.constant(`${tag}_axis`, 'INT64', [1], [1])], {}, { outputs: [`${tag}_x3`] });
    const conv = b.node('Conv', [x3, b.constant(`${tag}_filters`, 'FLOAT', [features, 1, window], weights(features * window))], { strides: attr.ints([window]) }, { outputs: [`${tag}_frames`], name: `${tag}/stft/Conv` });
    decoder(b, tag, b.node('Transpose', [conv], { perm: attr.ints([2, 0, 1]) }, { outputs: [`${tag}_seq`] }));
    return b;
  };
  const unsupported = new GraphBuilder('other_rate');
  const pairs = unsupported.node('Reshape', ['input', unsupported.constant('other_shape', 'INT64', [3], [0, -1, 2])], {}, { outputs: ['other_pairs'] });
  decoder(unsupported, 'other', unsupported.node('Transpose', [pairs], { perm: attr.ints([1, 0, 2]) }, { outputs: ['other_seq'] }));
  const notWide = new GraphBuilder('not_16k');
  const is8k = notWide.node('Equal', ['sr', notWide.constant('k8', 'INT64', [], [8000])], {}, { outputs: ['is_8k'] });
  notWide.node('If', [is8k], { then_branch: attr.graph(rate('r8k', 8)), else_branch: attr.graph(unsupported) }, { outputs: ['narrow_out', 'narrow_stateN'], name: 'If_8k' });
  notWide.output('narrow_out', 'FLOAT');
  notWide.output('narrow_stateN', 'FLOAT');
  const is16k = g.node('Equal', ['sr', g.constant('k16', 'INT64', [], [16000])], {}, { outputs: ['is_16k'] });
  g.node('If', [is16k], { then_branch: attr.graph(rate('r16k', 16)), else_branch: attr.graph(notWide) }, { outputs: ['output', 'stateN'], name: 'If_0' });
  g.output('output', 'FLOAT', [1, null]);
  g.output('stateN', 'FLOAT', [2, null, hidden]);
  return serializeModel(g);
}

/** y = sum of `x` [N] reshaped into rows of 4, summed again on each of 2 turns of a Loop: N must be a multiple of 4. */
export function loopModel(): Uint8Array {
  const g = new GraphBuilder('loop');
  g.input('x', 'FLOAT', ['N']);
  const body = new GraphBuilder('turn');
  body.input('i', 'INT64', []);
  body.input('cond_in', 'BOOL', []);
  body.input('total_in', 'FLOAT', []);
  body.node('Identity', ['cond_in'], {}, { outputs: ['cond_out'] });
  body.node('Reshape', ['x', body.constant('rows_of_4', 'INT64', [2], [-1, 4])], {}, { outputs: ['rows'], name: 'rows_of_4' });
  body.node('ReduceSum', ['rows'], { keepdims: attr.int(0) }, { outputs: ['turn_sum'] });
  body.node('Add', ['total_in', 'turn_sum'], {}, { outputs: ['total_out'] });
  body.output('cond_out', 'BOOL', []);
  body.output('total_out', 'FLOAT', []);
  g.node('Loop', [g.constant('turns', 'INT64', [], [2]), g.constant('go', 'BOOL', [], [true]), g.constant('total0', 'FLOAT', [], [0])], { body: attr.graph(body) }, { outputs: ['y'], name: 'turns' });
  g.output('y', 'FLOAT', []);
  return serializeModel(g);
}

/** A running sum of the rows of `rows` [T, F] from `start` [F], by Scan: `start` must be as wide as a row. */
export function scanModel(): Uint8Array {
  const g = new GraphBuilder('scan');
  g.input('start', 'FLOAT', ['F']);
  g.input('rows', 'FLOAT', ['T', 'W']);
  const body = new GraphBuilder('step');
  body.input('sum_in', 'FLOAT', ['F']);
  body.input('row', 'FLOAT', ['W']);
  body.node('Add', ['sum_in', 'row'], {}, { outputs: ['sum_out'], name: 'add_row' });
  body.node('Identity', ['sum_out'], {}, { outputs: ['partial'] });
  body.output('sum_out', 'FLOAT', ['F']);
  body.output('partial', 'FLOAT', ['F']);
  g.node('Scan', ['start', 'rows'], { body: attr.graph(body), num_scan_inputs: attr.int(1) }, { outputs: ['total', 'partials'], name: 'running_sum' });
  g.output('total', 'FLOAT', ['F']);
  g.output('partials', 'FLOAT', ['T', 'F']);
  return serializeModel(g);
}

/** Fails whatever its input, inside an If: a Range with a constant step of 0, its start computed from `a`. */
export function brokenInsideIfModel(): Uint8Array {
  const g = new GraphBuilder('broken_if');
  g.input('a', 'FLOAT', ['N']);
  const branch = new GraphBuilder('count');
  const start = branch.node('ReduceSum', [branch.node('Mul', ['a', branch.constant('zero', 'FLOAT', [], [0])], {}, { outputs: ['scaled'] })], { keepdims: attr.int(0) }, { outputs: ['start'] });
  branch.node('Range', [start, branch.constant('limit', 'FLOAT', [], [5]), branch.constant('delta', 'FLOAT', [], [0])], {}, { outputs: ['steps'], name: 'steps' });
  branch.output('steps', 'FLOAT');
  const any = g.node('Greater', [g.node('ReduceSum', ['a'], { keepdims: attr.int(0) }, { outputs: ['total'] }), g.constant('floor', 'FLOAT', [], [-1e30])], {}, { outputs: ['any'] });
  g.node('If', [any], { then_branch: attr.graph(branch), else_branch: attr.graph(branch) }, { outputs: ['y'], name: 'count_if' });
  g.output('y', 'FLOAT', ['K']);
  return serializeModel(g);
}
