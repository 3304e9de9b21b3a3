// Small batches on the worker's own thread (MODEL_SERVER_INLINE, inference/inline.ts). Real pool, real
// threads, real onnxruntime on both sides: answers must be exactly those of the inference threads, large
// bodies and models that may not run there go to the threads, and a model that turns out slow goes back to
// its threads by itself, its overrun answered as the timeout it is.
import * as path from 'node:path';
import { inlineRefusal } from '../../container/src/inference/inline';
import { InferencePool } from '../../container/src/inference/pool';
import type { ThreadInit, ThreadModel } from '../../container/src/inference/protocol';
import type { Answer, Invocation } from '../../container/src/models/model';
import { createLogger } from '../../container/src/logger';
import { GraphBuilder, serializeModel } from '../../container/src/onnx/writer';
import { SharedBodies } from '../../container/src/shared-bodies';
import { INLINE_FILE_BYTES } from '../../container/src/vocabulary';
import { treeEnsembleModel } from '../../tools/src/tree-model';
import { baseDir, EXAMPLE_DIR, slowModel } from '../helpers/models';

const logger = createLogger('silent');
const EXAMPLE: ThreadInit = { name: 'model', dir: path.join(EXAMPLE_DIR, 'model'), modelFile: path.join(EXAMPLE_DIR, 'model/model.onnx'), modelJsonFile: path.join(EXAMPLE_DIR, 'model/model.json'), intraOpThreads: 1, outputStyle: 'auto', outputKeys: ['predicted_label'] };

type TestPool = InferencePool & { bodies: SharedBodies };

function pool(init: Partial<ThreadInit>, options: { inline: boolean; timeoutMs?: number }): TestPool {
  const bodies = new SharedBodies(128, 64 * 1024);
  const p = new InferencePool({ init: { ...EXAMPLE, ...init }, threads: 1, maxQueue: 1024, maxBatch: 32, timeoutMs: options.timeoutMs ?? 30_000, bodies, inline: options.inline, logger });
  return Object.assign(p, { bodies });
}

function text(result: Answer): string {
  if (!result.ok) return `${result.error.code}: ${result.error.message}`;
  return typeof result.body === 'string' ? Buffer.from(result.body, 'latin1').toString('utf8') : Buffer.from(result.body).toString('utf8');
}

function csv(body: string, accept = 'text/csv'): Invocation {
  return { requestId: 'test', model: 'model', input: { kind: 'body', mediaType: 'text/csv', params: {}, body: new Uint8Array(Buffer.from(body)) }, output: { mediaType: accept, keys: ['predicted_label', 'probabilities'] }, tensorsAcceptable: true };
}

function fields(values: Record<string, string>): Invocation {
  return { requestId: 'test', model: 'model', input: { kind: 'fields', fields: values }, output: { mediaType: 'application/json', keys: ['predicted_label', 'probabilities'], single: true }, tensorsAcceptable: true };
}

/**
 * A tabular model whose run is long (`layers` 1024 x 1024 matrix products per row, 4 MB of weights), with no
 * control flow: what the limits on file size and graph cannot tell apart from a quick one.
 */
function heavyModel(layers: number): Uint8Array {
  const g = new GraphBuilder('heavy');
  const x = g.input('input', 'FLOAT', ['N', 4]);
  const width = 1024;
  const square = g.constant('w', 'FLOAT', [width, width], Float32Array.from({ length: width * width }, (_, i) => Math.sin(i) / width));
  let h = g.node('MatMul', [x, g.constant('w0', 'FLOAT', [4, width], Float32Array.from({ length: 4 * width }, (_, i) => Math.cos(i)))]);
  for (let i = 0; i < layers; i++) h = g.node('Tanh', [g.node('MatMul', [h, square])]);
  g.node('MatMul', [h, g.constant('out', 'FLOAT', [width, 1], Float32Array.from({ length: width }, (_, i) => Math.sin(i)))], {}, { outputs: ['score'] });
  g.output('score', 'FLOAT', ['N', 1]);
  return serializeModel(g);
}

const IRIS_ROWS = Array.from({ length: 400 }, (_, i) => `${(4 + (i % 40) / 10).toFixed(1)},${(2 + (i % 15) / 10).toFixed(1)},${(1 + (i % 60) / 10).toFixed(1)},${((i % 25) / 10).toFixed(1)}`);

describe("runs on the worker's own thread", () => {
  test('answer exactly as the inference threads do; bodies over 64 KiB go to the threads', async () => {
    const cases: Invocation[] = [];
    for (let i = 0; i < 40; i++) {
      const some = IRIS_ROWS.slice(i, i + 1 + (i % 7));
      if (i % 10 === 3) cases.push(csv(`${some[0]}\n1,2,oops,4`));
      else if (i % 3 === 1) cases.push(csv(some.join('\n'), 'application/json'));
      else if (i % 5 === 2) cases.push(fields({ sepal_length: '5.1', sepal_width: '3.5', petal_length: String(1 + i / 10), petal_width: '0.2' }));
      else cases.push(csv(some.join('\n')));
    }
    // About 72 KB of CSV: over the limit for the worker's thread (a fresh body for each pool, as a thread is given it).
    const large = () => csv(Array.from({ length: 12 }, () => IRIS_ROWS.join('\n')).join('\n'));
    const threads = pool({}, { inline: false });
    const inline = pool({}, { inline: true });
    try {
      await Promise.all([threads.ready(), inline.ready()]);
      const expected = await Promise.all([...cases, large()].map((c) => threads.invoke(c)));
      expect(expected.every((a) => a.timing?.where === 'thread')).toBe(true);
      const got = await Promise.all([...cases, large()].map((c) => inline.invoke(c)));
      expect(got.map(text)).toEqual(expected.map(text));
      expect(got.slice(0, -1).map((a) => a.timing?.where)).toEqual(cases.map(() => 'inline'));
      expect(got.at(-1)!.timing?.where).toBe('thread');
      // What came in the same turn of the event loop ran as one batch.
      expect(Math.max(...got.map((a) => a.timing?.batch ?? 0))).toBeGreaterThan(1);
      expect(got.filter((a) => !a.ok).map((a) => !a.ok && a.error.code)).toEqual(['INVALID_VALUE', 'INVALID_VALUE', 'INVALID_VALUE', 'INVALID_VALUE']);
      // One at a time, too.
      for (const c of cases.slice(0, 5)) expect(text(await inline.invoke(c))).toBe(text(await threads.invoke(c)));
    } finally {
      await Promise.all([threads.close(), inline.close()]);
    }
  });

  test('a model that turns out slow goes to its threads after one run, and an overrun there is answered TIMEOUT', async () => {
    const dir = baseDir({ 'model.onnx': heavyModel(500) });
    const init = { modelFile: path.join(dir, 'model/model.onnx'), modelJsonFile: undefined, outputKeys: [] };
    const rows = Array.from({ length: 64 }, (_, i) => `${i},1,2,3`).join('\n');
    const slow = pool(init, { inline: true });
    try {
      await slow.ready();
      const first = await slow.invoke(csv(rows));
      expect(first.ok).toBe(true);
      expect(first.timing?.where).toBe('inline');
      console.log(`a batch of the heavy model took ${first.timing?.runMs.toFixed(1)} ms on the worker's thread`);
      const second = await slow.invoke(csv(rows));
      expect(text(second)).toBe(text(first));
      expect(second.timing?.where).toBe('thread');
    } finally {
      await slow.close();
    }
    // With a deadline shorter than the run: the first run, on the worker's thread, cannot be interrupted and
    // is answered TIMEOUT when it ends; the next goes to a thread and is answered TIMEOUT at its deadline.
    const late = pool(init, { inline: true, timeoutMs: 50 });
    try {
      await late.ready();
      const first = await late.invoke(csv(rows));
      expect(text(first)).toBe('TIMEOUT: the invocation took longer than MODEL_SERVER_TIMEOUT=0.05 s and was stopped');
      const started = performance.now();
      const second = await late.invoke(csv(rows));
      expect(text(second)).toBe(text(first));
      console.log(`the next invocation was answered TIMEOUT after ${(performance.now() - started).toFixed(0)} ms (deadline 50 ms)`);
    } finally {
      await late.close(60_000);
    }
  });

  test('models with control flow, tensor models and MODEL_SERVER_INLINE=false run on their threads only', async () => {
    const loop = baseDir({ 'model.onnx': slowModel() });
    const g = new GraphBuilder('image');
    g.node('Relu', [g.input('image', 'FLOAT', [1, 3, 8, 8])], {}, { outputs: ['out'] });
    g.output('out', 'FLOAT', [1, 3, 8, 8]);
    const tensor = baseDir({ 'model.onnx': serializeModel(g) });
    const pools = [
      pool({ modelFile: path.join(loop, 'model/model.onnx'), modelJsonFile: undefined }, { inline: true }),
      pool({ modelFile: path.join(tensor, 'model/model.onnx'), modelJsonFile: undefined }, { inline: true }),
      pool({}, { inline: false }),
    ];
    try {
      await Promise.all(pools.map((p) => p.ready()));
      const answers = [
        await pools[0].invoke(csv('1,0\n2,0')),
        await pools[1].invoke({ ...csv(''), input: { kind: 'body', mediaType: 'application/json', params: {}, body: new Uint8Array(Buffer.from(JSON.stringify({ inputs: [{ name: 'image', shape: [1, 3, 8, 8], datatype: 'FP32', data: new Array(192).fill(-1) }] }))) }, output: { mediaType: 'application/json', keys: [] } }),
        await pools[2].invoke(csv(IRIS_ROWS[0])),
      ];
      expect(answers.map((a) => [a.ok, a.timing?.where])).toEqual([[true, 'thread'], [true, 'thread'], [true, 'thread']]);
    } finally {
      await Promise.all(pools.map((p) => p.close()));
    }
  });

  test('the reasons a model stays on its threads', () => {
    const tabular = { kind: 'regressor', inputs: [], outputs: [], features: 2, warmed: true, file: 'model.onnx', platform: 'onnxruntime_onnx' } as ThreadModel;
    const loop = baseDir({ 'model.onnx': slowModel() });
    const big = baseDir({ 'model.onnx': Buffer.alloc(INLINE_FILE_BYTES + 1) });
    const at = (dir: string): ThreadInit => ({ ...EXAMPLE, dir: path.join(dir, 'model'), modelFile: path.join(dir, 'model/model.onnx') });
    expect(inlineRefusal(EXAMPLE, { ...tabular, kind: 'classifier' })).toBeUndefined();
    expect(inlineRefusal({ ...EXAMPLE, codeFile: '/opt/ml/model/code/inference.mjs' }, tabular)).toBe('it has inference code');
    expect(inlineRefusal({ ...EXAMPLE, treeFiles: ['xgboost-model'] }, tabular)).toBe('it is converted from tree model files');
    expect(inlineRefusal(EXAMPLE, { ...tabular, kind: 'tensor' })).toBe('it is not tabular');
    expect(inlineRefusal(at(loop), tabular)).toBe('its graph has control flow (Loop)');
    expect(inlineRefusal(at(big), tabular)).toBe('its file is larger than 16 MB');
    expect(inlineRefusal(at(baseDir({ 'model.onnx': treeEnsembleModel({ trees: 20, depth: 4 }) })), tabular)).toBeUndefined();
    expect(inlineRefusal(at(baseDir({ 'model.onnx': treeEnsembleModel({ trees: 400, depth: 8 }) })), tabular)).toBe('it is a tree ensemble larger than 2 MB');
  });
});
