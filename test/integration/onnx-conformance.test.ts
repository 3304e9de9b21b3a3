// ONNX's backend conformance tests (Debian's libonnx-testdata: one small model per operator, with input and
// expected output TensorProto files) through the KServe V2 path of a real multi-model server. Each case is
// first run in-process with onnxruntime-node (in child processes, since some inputs abort onnxruntime);
// every model onnxruntime can load must load in the server, and every case onnxruntime itself passes must
// be answered identically through V2. Then every input dimension of every runnable case is made zero, on a
// copy of its model whose dimensions are symbolic: the server answers each (onnxruntime's answer, or an
// error) and never loses a worker.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { readModelMetadata } from '../../container/src/onnx/reader';
import { readTensorFile } from '../../tools/src/tensor-proto';
import { zeroSizeRefusal } from '../../container/src/inference/layout';
import { halfToNumber } from '../../container/src/codecs/numbers';
import {
  TESTDATA_DIR, TOLERANCE, compareTensor, findCases, fromV2, jobInputs, runReference, toV2, withSymbolicDims,
  type Case, type Job, type JobResult, type V2Tensor,
} from '../../tools/src/conformance';
import type { TensorData } from '../../container/src/vocabulary';
import { request, requireNginx, startServer, type Reply, type Server } from '../helpers/server';

/**
 * The cases onnxruntime-node passes in-process that the server does not answer identically, and why.
 * docs/conformance.md lists the same ones; the test fails if the set changes either way.
 */
const EXCEPTIONS: Record<string, string> = {};

const CONCAT = 'Concat with one input empty in a dimension other than the axis: onnxruntime does not check that dimension against the other inputs and answers in their shape, the empty input\'s share never written (the shapes do not match: it should refuse them)';
const KERNEL = 'a weight tensor with a zero-size spatial dimension: onnxruntime answers a full-size output it never wrote';
/**
 * Cases where, with one input dimension made zero, onnxruntime returns memory it never wrote (its answer
 * changes with the bytes malloc leaves in fresh memory), so the server's answer cannot be compared.
 * docs/conformance.md lists the same ones.
 */
const UNINITIALIZED: Record<string, string> = {
  ...Object.fromEntries(['2d_axis_0', '2d_axis_1', '2d_axis_negative_1', '2d_axis_negative_2', '3d_axis_0', '3d_axis_1', '3d_axis_2', '3d_axis_negative_1', '3d_axis_negative_2', '3d_axis_negative_3'].map((t) => [`node/test_concat_${t}`, CONCAT])),
  'pytorch-operator/test_operator_concat2': CONCAT,
  'simple/test_sequence_model4': `${CONCAT.replace('Concat', 'ConcatFromSequence')}`,
  'simple/test_sequence_model5': `${CONCAT.replace('Concat', 'ConcatFromSequence')}`,
  'node/test_basic_convinteger': `ConvInteger, ${KERNEL}`,
  'node/test_convinteger_with_padding': `ConvInteger, ${KERNEL}`,
  'node/test_convinteger_without_padding': `ConvInteger, ${KERNEL}`,
  'node/test_qlinearconv': `QLinearConv, ${KERNEL}`,
  'node/test_scan_sum': 'Scan over a sequence of length 0: the final state should be the initial state; onnxruntime answers memory it never wrote',
};

/** At least this share of the cases onnxruntime passes in-process must be answered identically through V2. */
const REQUIRED_SHARE = 0.99;

const json = { 'Content-Type': 'application/json' };

/** fn over items with at most `limit` in flight, results in order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: limit }, lane));
  return out;
}

const errorOf = (r: Reply): string => {
  try {
    const e = r.json().error;
    return `${r.status} ${e.code}: ${e.message}`;
  } catch {
    return `${r.status} (not JSON) ${r.body.slice(0, 200)}`;
  }
};

/** Why the server's V2 answer differs from the expected outputs (named by onnxruntime's output order), or undefined. */
function answerProblem(reply: Reply, expected: readonly { name: string; tensor: TensorData }[]): string | undefined {
  if (reply.status !== 200) return errorOf(reply);
  const outputs = reply.json().outputs as V2Tensor[];
  for (const { name, tensor } of expected) {
    const got = outputs.find((o) => o.name === name);
    if (!got) return `output "${name}" is missing`;
    const problem = compareTensor(fromV2(got), tensor);
    if (problem) return `output "${name}": ${problem}`;
  }
  return undefined;
}

const v2Body = (inputs: ReturnType<typeof jobInputs>, names: readonly string[]) => JSON.stringify({ inputs: inputs.map((t, i) => toV2(t, names[i])) });

interface Outcome {
  id: string;
  loaded: 'ok' | string;
  /** For cases onnxruntime passes: undefined when identical, else why not. */
  problem?: string;
}

let server: Server;
let cases: Case[];
let reference: Map<string, JobResult>;
let outcomes: Outcome[];
const timings = { reference: 0, server: 0 };
const seconds = (ms: number) => `${(ms / 1000).toFixed(0)} s`;
const diedLines = () => server.logs.filter((l) => /died/.test(l.msg));

beforeAll(async () => {
  requireNginx();
  if (!fs.existsSync(path.join(TESTDATA_DIR, 'node'))) {
    throw new Error(`ONNX's backend test data is missing (${TESTDATA_DIR}): these tests run it through the server. Install it: apt-get install -y libonnx-testdata`);
  }
  cases = findCases();
  const started = performance.now();
  reference = await runReference(cases.map((c) => ({ id: c.id, model: c.model, inputs: c.inputs, outputs: c.outputs })));
  timings.reference = performance.now() - started;
  server = await startServer({
    baseDir: fs.mkdtempSync(path.join(os.tmpdir(), 'ms-onnx-base-')),
    // Some cases send 4 MB of float32 (10 MB of JSON): the payload limit is not what is tested here.
    env: { SAGEMAKER_MULTI_MODEL: 'true', MODEL_SERVER_WORKERS: '2', SAGEMAKER_MAX_PAYLOAD_IN_MB: '64', LOG_LEVEL: 'warn' },
  });
  // Load, invoke (cases onnxruntime passes), unload: a few models at a time.
  outcomes = await mapLimit(cases.filter((c) => reference.get(c.id)!.status !== 'load-error'), 4, async (c, i): Promise<Outcome> => {
    const name = `case-${i}`;
    const r = reference.get(c.id)!;
    const loaded = await request(server.port, 'POST', '/models', { body: JSON.stringify({ model_name: name, url: c.dir }), headers: json, timeoutMs: 120_000 });
    if (loaded.status !== 200) return { id: c.id, loaded: errorOf(loaded) };
    try {
      if (r.status !== 'pass') return { id: c.id, loaded: 'ok' };
      const inputs = jobInputs({ id: c.id, model: c.model, inputs: c.inputs });
      const reply = await request(server.port, 'POST', `/models/${name}/invoke`, { body: v2Body(inputs, r.inputNames!), headers: json, timeoutMs: 120_000 });
      const expected = c.outputs.map((f, k) => ({ name: r.outputNames![k], tensor: readTensorFile(f) }));
      return { id: c.id, loaded: 'ok', problem: answerProblem(reply, expected) };
    } finally {
      const gone = await request(server.port, 'DELETE', `/models/${name}`, { timeoutMs: 120_000 });
      if (gone.status !== 200) throw new Error(`unloading ${c.id}: ${errorOf(gone)}`);
    }
  });
  timings.server = performance.now() - started - timings.reference;
}, 600_000);

afterAll(async () => {
  await server?.stop();
});

describe("ONNX's backend conformance cases through KServe V2", () => {
  test('the test data is there: over a thousand cases, read with the project\'s own TensorProto reader', () => {
    expect(cases.length).toBeGreaterThan(1000);
    const statuses = [...reference.values()].map((r) => r.status);
    expect(statuses.filter((s) => s === 'pass').length).toBeGreaterThan(900);
  });

  test('every model onnxruntime-node can load starts (only sequence or map outputs are refused, as documented)', () => {
    const failed = outcomes.filter((o) => o.loaded !== 'ok');
    const unexpected = failed.filter((o) => !(o.loaded.includes('MODEL_UNSUPPORTED_OUTPUT') && reference.get(o.id)!.status === 'unsupported'));
    expect(unexpected).toEqual([]);
  });

  test(`at least ${REQUIRED_SHARE * 100}% of the cases onnxruntime passes in-process are answered identically (floats within rtol ${TOLERANCE.rtol}, atol ${TOLERANCE.atol}); the exceptions are the documented ones`, () => {
    const passing = outcomes.filter((o) => reference.get(o.id)!.status === 'pass');
    const differing = passing.filter((o) => o.loaded !== 'ok' || o.problem !== undefined);
    const report = Object.fromEntries(differing.map((o) => [o.id, o.loaded !== 'ok' ? `load: ${o.loaded}` : o.problem!]));
    const identical = passing.length - differing.length;
    const refused = outcomes.filter((o) => o.loaded !== 'ok').length;
    process.stdout.write(`ONNX conformance: ${cases.length} cases, ${outcomes.length} loadable by onnxruntime (${outcomes.length - refused} loaded by the server, ${refused} refused), `
      + `${passing.length} passed in-process, ${identical} identical through V2 (in-process ${seconds(timings.reference)}, server ${seconds(timings.server)})\n`);
    expect(report).toEqual(Object.fromEntries(Object.keys(EXCEPTIONS).map((id) => [id, expect.any(String)])));
    expect(identical / passing.length).toBeGreaterThanOrEqual(REQUIRED_SHARE);
    expect(passing.length).toBe([...reference.values()].filter((r) => r.status === 'pass').length);
  });

  test('NaN, the infinities and float16 survive: the cases that carry them are among the identical ones', () => {
    const passing = cases.filter((c) => reference.get(c.id)!.status === 'pass').map((c) => ({ id: c.id, tensors: [...c.inputs, ...c.outputs].map((f) => readTensorFile(f)) }));
    const floats = (t: TensorData) => (['float16', 'float32', 'float64'].includes(t.type) ? Array.from(t.data as ArrayLike<number>, (v) => (t.type === 'float16' ? halfToNumber(v) : v)) : []);
    const nonFinite = passing.filter((c) => c.tensors.some((t) => floats(t).some((v) => !Number.isFinite(v)))).map((c) => c.id);
    const half = passing.filter((c) => c.tensors.some((t) => t.type === 'float16')).map((c) => c.id);
    const identical = new Set(outcomes.filter((o) => o.loaded === 'ok' && o.problem === undefined).map((o) => o.id));
    expect(nonFinite.length).toBeGreaterThanOrEqual(5);
    expect(half.length).toBeGreaterThanOrEqual(10);
    expect([...nonFinite, ...half].filter((id) => !identical.has(id))).toEqual([]);
  });

  test('no worker died, and the server still answers', async () => {
    expect(diedLines()).toEqual([]);
    expect((await request(server.port, 'GET', '/ping')).status).toBe(200);
  });
});

describe("64-bit integers at the ends of their range, written as JSON numbers (plain digits, as Python's json.dumps writes them)", () => {
  const top = { int64: 2n ** 63n - 1n, uint64: 2n ** 64n - 1n };
  const bottom = { int64: -(2n ** 63n), uint64: 0n };
  const digits = (values: readonly bigint[]) => `[${values.join(', ')}]`;

  test.each(['max_int64', 'min_int64', 'max_uint64', 'min_uint64'])("node/test_%s: the case's model answers onnxruntime's own result, digit for digit", async (op) => {
    const type = op.endsWith('uint64') ? 'uint64' : 'int64';
    const c = cases.find((x) => x.id === `node/test_${op}`)!;
    const names = reference.get(c.id)!.inputNames!;
    const inputs = [
      [top[type], bottom[type], 2n ** 53n + 1n],
      [bottom[type], top[type], 2n ** 53n],
    ];
    const body = `{"inputs": [${inputs.map((values, k) => `{"name": "${names[k]}", "shape": [3], "datatype": "${type.toUpperCase()}", "data": ${digits(values)}}`).join(', ')}]}`;
    const name = `edge-${op}`;
    expect((await request(server.port, 'POST', '/models', { body: JSON.stringify({ model_name: name, url: c.dir }), headers: json })).status).toBe(200);
    try {
      const session = await ort.InferenceSession.create(c.model);
      const Typed = type === 'int64' ? BigInt64Array : BigUint64Array;
      const feeds = Object.fromEntries(inputs.map((values, k) => [names[k], new ort.Tensor(type, Typed.from(values), [3])]));
      const results = await session.run(feeds);
      const expected = session.outputNames.map((n) => ({ name: n, tensor: { name: n, type, dims: [3], data: results[n].data } as TensorData }));
      const reply = await request(server.port, 'POST', `/models/${name}/invoke`, { body, headers: json });
      expect(answerProblem(reply, expected)).toBeUndefined();
      // One beyond the type's range is a 400 naming the value.
      const beyond = top[type] + 1n;
      const refused = await request(server.port, 'POST', `/models/${name}/invoke`, { body: body.replace(String(top[type]), String(beyond)), headers: json });
      expect([refused.status, refused.json().error]).toEqual([400, { code: 'INVALID_TENSOR', message: `input "${names[0]}", data[0]: ${beyond} is outside the ${type.toUpperCase()} range` }]);
    } finally {
      expect((await request(server.port, 'DELETE', `/models/${name}`)).status).toBe(200);
    }
  });
});

describe('zero-size inputs: every input dimension of every runnable case made 0, on a copy of its model with symbolic dimensions', () => {
  interface Variant {
    model: string;
    /** Why the server refuses zero-size inputs for this model (it uses an operator that aborts on them). */
    refusal?: string;
    inputNames: string[];
    jobs: Job[];
  }
  interface Answered {
    id: string;
    reference: JobResult;
    verdict: 'identical' | 'refused' | 'error' | string;
  }
  let variants: Variant[];
  let zeroRef: Map<string, JobResult>;
  let answered: Answered[];
  const uninitialized = new Set<string>();
  let dir: string | undefined;
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  beforeAll(async () => {
    const started = performance.now();
    const copies = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-onnx-zero-'));
    dir = copies;
    const runnable = cases.filter((c) => ['pass', 'mismatch'].includes(reference.get(c.id)!.status));
    variants = runnable.map((c, i) => {
      const model = path.join(copies, String(i), 'model.onnx');
      fs.mkdirSync(path.dirname(model));
      fs.writeFileSync(model, withSymbolicDims(fs.readFileSync(c.model)));
      const jobs: Job[] = [];
      c.inputs.forEach((file, input) => {
        readTensorFile(file).dims.forEach((size, dim) => {
          if (size > 0) jobs.push({ id: `${c.id} input ${input} dimension ${dim}`, model, inputs: c.inputs, zero: { input, dim } });
        });
      });
      return { model, refusal: zeroSizeRefusal(readModelMetadata(model).opTypes), inputNames: reference.get(c.id)!.inputNames!, jobs };
    });
    // Run twice, with glibc filling fresh memory with different bytes: where onnxruntime's answer changes
    // with them, it returns memory it never wrote, and no answer is "the" answer.
    const jobs = variants.flatMap((v) => v.jobs);
    zeroRef = await runReference(jobs, 2, 60_000, { MALLOC_PERTURB_: '85' });
    const again = await runReference(jobs.filter((j) => zeroRef.get(j.id)!.status === 'ran'), 2, 60_000, { MALLOC_PERTURB_: '170' });
    for (const [id, r] of again) {
      if (JSON.stringify(r.outputs) !== JSON.stringify(zeroRef.get(id)!.outputs)) uninitialized.add(id);
    }
    const referenceMs = performance.now() - started;
    answered = (await mapLimit(variants.filter((v) => v.jobs.length > 0), 4, async (v, i) => {
      const name = `zero-${i}`;
      const notLoadable = v.jobs.every((j) => zeroRef.get(j.id)!.status === 'load-error');
      const loaded = await request(server.port, 'POST', '/models', { body: JSON.stringify({ model_name: name, url: path.dirname(v.model) }), headers: json, timeoutMs: 120_000 });
      if (loaded.status !== 200) {
        return v.jobs.map((j) => ({ id: j.id, reference: zeroRef.get(j.id)!, verdict: notLoadable && errorOf(loaded).includes('MODEL_INVALID') ? 'not loadable' : `load: ${errorOf(loaded)}` }));
      }
      const out: Answered[] = [];
      try {
        for (const job of v.jobs) {
          const ref = zeroRef.get(job.id)!;
          if (ref.status === 'unsupported') continue;
          const reply = await request(server.port, 'POST', `/models/${name}/invoke`, { body: v2Body(jobInputs(job), v.inputNames), headers: json, timeoutMs: 120_000 });
          let verdict: string;
          if (uninitialized.has(job.id)) verdict = reply.status === 200 || (reply.status !== 502 && reply.json().error?.code) ? 'uninitialized' : `answered ${errorOf(reply)}`;
          else if (reply.status === 200) {
            verdict = ref.status === 'ran' ? answerProblem(reply, ref.outputs!.map((o) => ({ name: o.name, tensor: fromV2(o) }))) ?? 'identical' : `answered 200 where onnxruntime ${ref.status === 'crash' ? 'crashed' : 'failed'}`;
          } else if (reply.status === 400 && /zero-size tensors are refused/.test(reply.body)) verdict = 'refused';
          else verdict = reply.status >= 400 && reply.status !== 502 && reply.json().error?.code ? 'error' : `answered ${errorOf(reply)}`;
          out.push({ id: job.id, reference: ref, verdict });
        }
      } finally {
        const gone = await request(server.port, 'DELETE', `/models/${name}`, { timeoutMs: 120_000 });
        if (gone.status !== 200) throw new Error(`unloading ${v.model}: ${errorOf(gone)}`);
      }
      return out;
    })).flat();
    const count = (f: (a: Answered) => boolean) => answered.filter(f).length;
    process.stdout.write(`zero-size inputs: ${answered.length} variants; in-process ${count((a) => a.reference.status === 'ran')} ran, ${count((a) => a.reference.status === 'run-error')} failed, ${count((a) => a.reference.status === 'crash')} crashed; `
      + `through V2 ${count((a) => a.verdict === 'identical')} identical, ${count((a) => a.verdict === 'refused')} refused, ${count((a) => a.verdict === 'error')} errors, `
      + `${count((a) => a.verdict === 'uninitialized')} where onnxruntime returns memory it never wrote (in-process ${seconds(referenceMs)}, server ${seconds(performance.now() - started - referenceMs)})\n`);
  }, 600_000);

  test('every zero-size input that aborts onnxruntime in-process is to a model using an operator the server refuses them for', () => {
    const crashes = variants.flatMap((v) => v.jobs.filter((j) => zeroRef.get(j.id)!.status === 'crash').map((j) => ({ id: j.id, ops: readModelMetadata(v.model).opTypes, refused: v.refusal !== undefined })));
    expect(crashes.length).toBeGreaterThan(0);
    expect(crashes.filter((c) => !c.refused)).toEqual([]);
  });

  test('the server answers every one: onnxruntime\'s own answer where it ran, an error where it failed, a 400 where it would abort', () => {
    const wrong = answered.filter((a) => {
      if (a.verdict === 'not loadable') return a.reference.status !== 'load-error';
      if (a.reference.status === 'crash') return a.verdict !== 'refused';
      if (a.reference.status === 'ran') return a.verdict !== 'identical' && a.verdict !== 'refused' && a.verdict !== 'uninitialized';
      return a.verdict !== 'error' && a.verdict !== 'refused';
    });
    expect(wrong.map((a) => `${a.id}: in-process ${a.reference.status}${a.reference.reason ? ` (${a.reference.reason})` : ''}, server ${a.verdict}`)).toEqual([]);
    // Refused only where the model uses an operator that aborts on them; everything else ran.
    const refusedElsewhere = answered.filter((a) => a.verdict === 'refused' && !variants.find((v) => v.jobs.some((j) => j.id === a.id))!.refusal);
    expect(refusedElsewhere).toEqual([]);
  });

  test('onnxruntime returns memory it never wrote exactly in the documented cases (their answers are not compared)', () => {
    const cases = [...new Set([...uninitialized].map((id) => id.split(' ')[0]))].sort();
    expect(cases).toEqual(Object.keys(UNINITIALIZED).sort());
  });

  test('no worker died, no output line is anything but JSON, and the server still answers', async () => {
    expect(diedLines()).toEqual([]);
    expect(server.nonJsonOutput()).toEqual([]);
    expect((await request(server.port, 'GET', '/ping')).status).toBe(200);
  });
});
