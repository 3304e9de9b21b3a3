// ONNX's backend conformance cases (Debian's libonnx-testdata: one small model per operator, with input
// and expected output TensorProto files): finding them, reading them with the project's own protobuf
// reader, running them in-process with onnxruntime-node, comparing tensors, and the V2 request of a case.
// `node conformance.js reference` reads jobs (JSON) on stdin and prints one JSON line per job; a job
// that crashes onnxruntime kills only that process, and runReference starts another after it.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { fields, type Field } from '../../container/dist/onnx/wire';
import { readTensorFile } from './tensor-proto';
import { halfToNumber } from '../../container/dist/codecs/numbers';
import { tensorJson, tensorValuesFromJson, v2Type } from '../../container/dist/codecs/v2';
import type { TensorData } from '../../container/dist/vocabulary';

/** Where Debian's libonnx-testdata puts the data (`apt-get install libonnx-testdata`). */
export const TESTDATA_DIR = '/usr/share/libonnx-testdata/data';
/** The groups holding models and data; `real/` holds only download links, so it is not among them. */
export const GROUPS = ['node', 'pytorch-converted', 'pytorch-operator', 'simple'] as const;

/** Float tolerance of ONNX's own backend test runner (onnx/backend/test/runner: assert_allclose). */
export const TOLERANCE = { rtol: 1e-3, atol: 1e-7 } as const;

export interface Case {
  /** group/test_name, e.g. node/test_abs */
  id: string;
  dir: string;
  model: string;
  inputs: string[];
  outputs: string[];
}

/** A case to run in-process: its files, or its inputs with one dimension of one input made zero. */
export interface Job {
  id: string;
  model: string;
  inputs: string[];
  /** Expected outputs; without them the job's own outputs are reported (to compare with the server's). */
  outputs?: string[];
  zero?: { input: number; dim: number };
}

export type Status = 'pass' | 'mismatch' | 'ran' | 'load-error' | 'unsupported' | 'run-error' | 'crash';

export interface JobResult {
  id: string;
  status: Status;
  reason?: string;
  inputNames?: string[];
  outputNames?: string[];
  /** A job without expected outputs: what onnxruntime returned, as V2 outputs. */
  outputs?: V2Tensor[];
}

export interface V2Tensor {
  name: string;
  datatype: string;
  shape: number[];
  data: unknown[];
}

/** This module compiled: the child processes run it (tests load the TypeScript source, which node cannot run). */
const SCRIPT = path.join(__dirname, '..', 'dist', 'conformance.js');

const byNumber = (prefix: string) => (a: string, b: string) => Number(a.slice(prefix.length).split('.')[0]) - Number(b.slice(prefix.length).split('.')[0]);

/** Every case under `root` (each data set of a test is a case), sorted by id. */
export function findCases(root = TESTDATA_DIR): Case[] {
  const cases: Case[] = [];
  for (const group of GROUPS) {
    const groupDir = path.join(root, group);
    if (!fs.existsSync(groupDir)) continue;
    for (const name of fs.readdirSync(groupDir).sort()) {
      const dir = path.join(groupDir, name);
      const model = path.join(dir, 'model.onnx');
      if (!fs.existsSync(model)) continue;
      const sets = fs.readdirSync(dir).filter((d) => d.startsWith('test_data_set_')).sort(byNumber('test_data_set_'));
      for (const set of sets) {
        const files = fs.readdirSync(path.join(dir, set));
        const pick = (prefix: string) => files.filter((f) => f.startsWith(prefix) && f.endsWith('.pb')).sort(byNumber(prefix)).map((f) => path.join(dir, set, f));
        cases.push({ id: sets.length > 1 ? `${group}/${name}/${set}` : `${group}/${name}`, dir, model, inputs: pick('input_'), outputs: pick('output_') });
      }
    }
  }
  return cases;
}

const FLOATS = new Set(['float16', 'float32', 'float64']);

function numberAt(t: TensorData, i: number): number {
  const v = (t.data as ArrayLike<number>)[i];
  return t.type === 'float16' ? halfToNumber(v) : v;
}

/**
 * Why `actual` is not the expected tensor, or undefined when it is: the same type and shape, integers,
 * booleans and strings exactly, floats within TOLERANCE (NaN where NaN is expected, infinities exactly).
 */
export function compareTensor(actual: TensorData, expected: TensorData): string | undefined {
  if (actual.type !== expected.type) return `datatype ${v2Type(actual.type)}, expected ${v2Type(expected.type)}`;
  if (actual.dims.join() !== expected.dims.join()) return `shape [${actual.dims.join(', ')}], expected [${expected.dims.join(', ')}]`;
  if (actual.data.length !== expected.data.length) return `${actual.data.length} values, expected ${expected.data.length}`;
  for (let i = 0; i < expected.data.length; i++) {
    if (FLOATS.has(expected.type)) {
      const a = numberAt(actual, i);
      const e = numberAt(expected, i);
      const same = (a !== a && e !== e) || a === e || (Number.isFinite(e) && Math.abs(a - e) <= TOLERANCE.atol + TOLERANCE.rtol * Math.abs(e));
      if (!same) return `value ${i} is ${a}, expected ${e}`;
    } else if (actual.data[i] !== expected.data[i]) {
      return `value ${i} is ${String(actual.data[i])}, expected ${String(expected.data[i])}`;
    }
  }
  return undefined;
}

/** A tensor as a V2 request input or response output (flat data). */
export function toV2(t: TensorData, name = t.name): V2Tensor {
  return { name, datatype: v2Type(t.type), shape: t.dims, data: tensorJson(t) };
}

const V2_TYPES: Record<string, string> = { BOOL: 'bool', UINT8: 'uint8', INT8: 'int8', UINT16: 'uint16', INT16: 'int16', UINT32: 'uint32', INT32: 'int32', UINT64: 'uint64', INT64: 'int64', FP16: 'float16', FP32: 'float32', FP64: 'float64', BYTES: 'string' };

/** A V2 output (as the server answers it) read back into a typed tensor, the way the server reads inputs. */
export function fromV2(t: V2Tensor): TensorData {
  const type = V2_TYPES[t.datatype];
  if (!type) throw new Error(`output "${t.name}": unknown datatype ${t.datatype}`);
  return { name: t.name, type, dims: t.shape, data: tensorValuesFromJson(t.data, type, `output "${t.name}"`) };
}

/** The inputs of a job as tensors: the files, with one dimension made zero (and no values) when asked. */
export function jobInputs(job: Job): TensorData[] {
  const tensors = job.inputs.map((f) => readTensorFile(f));
  if (job.zero) {
    const t = tensors[job.zero.input];
    const dims = t.dims.map((d, i) => (i === job.zero!.dim ? 0 : d));
    tensors[job.zero.input] = { ...t, dims, data: t.type === 'string' ? [] : (t.data as Float32Array).slice(0, 0) };
  }
  return tensors;
}

const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
  logSeverityLevel: 4,
};

const firstLine = (err: unknown) => String((err as Error)?.message ?? err).split('\n')[0].replace(/\/onnxruntime_src\/\S+:\d+ /g, '');

/** Runs one job with onnxruntime-node in this process. */
export async function runJob(job: Job): Promise<JobResult> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(job.model, SESSION_OPTIONS);
  } catch (err) {
    return { id: job.id, status: 'load-error', reason: firstLine(err) };
  }
  const names = { inputNames: [...session.inputNames], outputNames: [...session.outputNames] };
  try {
    const nonTensor = [...session.inputMetadata, ...session.outputMetadata].filter((m) => !m.isTensor).map((m) => m.name);
    if (nonTensor.length > 0) return { id: job.id, ...names, status: 'unsupported', reason: `${nonTensor.join(', ')}: sequences, maps and optionals are not tensors, and onnxruntime-node takes and returns tensors only` };
    let inputs: TensorData[];
    let expected: TensorData[] | undefined;
    try {
      inputs = jobInputs(job);
      expected = job.outputs?.map((f) => readTensorFile(f));
    } catch (err) {
      return { id: job.id, ...names, status: 'unsupported', reason: firstLine(err) };
    }
    if (inputs.length !== session.inputNames.length) return { id: job.id, ...names, status: 'unsupported', reason: `${inputs.length} input files for ${session.inputNames.length} model inputs` };
    const feeds: Record<string, ort.Tensor> = {};
    inputs.forEach((t, i) => {
      feeds[session.inputNames[i]] = new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims);
    });
    let result: ort.InferenceSession.OnnxValueMapType;
    try {
      result = await session.run(feeds);
    } catch (err) {
      return { id: job.id, ...names, status: 'run-error', reason: firstLine(err) };
    }
    const actual = session.outputNames.map((name) => ({ name, type: result[name].type, dims: [...result[name].dims], data: result[name].data as TensorData['data'] }));
    if (!expected) return { id: job.id, ...names, status: 'ran', outputs: actual.map((t) => toV2(t)) };
    for (let i = 0; i < expected.length; i++) {
      const problem = actual[i] ? compareTensor(actual[i], expected[i]) : 'missing';
      if (problem) return { id: job.id, ...names, status: 'mismatch', reason: `output ${i} (${session.outputNames[i]}): ${problem}` };
    }
    return { id: job.id, ...names, status: 'pass' };
  } finally {
    await session.release();
  }
}

/**
 * Runs `jobs` in-process in `parallel` child processes. A child that dies (onnxruntime aborting on a
 * job) costs only that job, reported as 'crash' with the signal, and a new child goes on after it; a job
 * that takes longer than `jobTimeoutMs` is reported the same way.
 */
export async function runReference(jobs: readonly Job[], parallel = 2, jobTimeoutMs = 60_000, env: Record<string, string> = {}): Promise<Map<string, JobResult>> {
  const results = new Map<string, JobResult>();
  const share = Math.ceil(jobs.length / parallel);
  const runShare = async (list: readonly Job[]): Promise<void> => {
    let rest = list;
    while (rest.length > 0) {
      const done = await runChild(rest, jobTimeoutMs, env, (r) => results.set(r.id, r));
      const next = rest.slice(done.finished);
      if (next.length === 0) break;
      results.set(next[0].id, { id: next[0].id, status: 'crash', reason: done.reason });
      rest = next.slice(1);
    }
  };
  await Promise.all(Array.from({ length: parallel }, (_, k) => runShare(jobs.slice(k * share, (k + 1) * share))));
  return results;
}

function runChild(jobs: readonly Job[], jobTimeoutMs: number, env: Record<string, string>, take: (r: JobResult) => void): Promise<{ finished: number; reason: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SCRIPT, 'reference'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ORT_DISABLE_TELEMETRY: '1', ...env } });
    let finished = 0;
    let buffer = '';
    let stderr = '';
    let timer = setTimeout(() => child.kill('SIGKILL'), jobTimeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        take(JSON.parse(line) as JobResult);
        finished += 1;
        clearTimeout(timer);
        timer = setTimeout(() => child.kill('SIGKILL'), jobTimeoutMs);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-2000);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const said = stderr.trim().split('\n').pop() ?? '';
      resolve({ finished, reason: `onnxruntime-node ended the process (${signal ?? `exit code ${code}`})${said ? `: ${said.slice(0, 200)}` : ''}` });
    });
    child.stdin.end(JSON.stringify(jobs));
  });
}

async function referenceMain(): Promise<void> {
  ort.env.logLevel = 'fatal';
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const jobs = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Job[];
  for (const job of jobs) {
    const result = await runJob(job);
    // Written synchronously, so a crash in the next job cannot lose this line.
    fs.writeSync(1, `${JSON.stringify(result)}\n`);
  }
}

// --- Zero-size variants: the same model with every dimension of its inputs and outputs made symbolic.

function varint(value: bigint | number): number[] {
  let x = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x > 0n) b |= 0x80;
    out.push(b);
  } while (x > 0n);
  return out;
}

/** The bytes of a message made of `parts` (fields as read by wire.ts's fields()). */
function encodeFields(parts: readonly Field[]): Buffer {
  const chunks: Buffer[] = [];
  for (const f of parts) {
    if (f.int !== undefined) chunks.push(Buffer.from([...varint(f.field * 8), ...varint(f.int)]));
    else if (f.fixed !== undefined) chunks.push(Buffer.from(varint(f.field * 8 + (f.fixed.length === 8 ? 1 : 5))), f.fixed);
    else chunks.push(Buffer.from([...varint(f.field * 8 + 2), ...varint(f.bytes.length)]), f.bytes);
  }
  return Buffer.concat(chunks);
}

/** `message` with the bytes of each field `field` replaced by `change(bytes)`; every other field kept as it was. */
function rewrite(message: Buffer, field: number, change: (bytes: Buffer) => Buffer): Buffer {
  return encodeFields(fields(message).map((f) => (f.field === field && f.bytes !== undefined ? { field, bytes: change(f.bytes) } : f)));
}

/**
 * The model with every dimension of its graph inputs, outputs and value_info symbolic (dim_param), so
 * onnxruntime takes inputs of any size, zero included. Everything else in the file is kept byte for byte.
 */
export function withSymbolicDims(model: Buffer): Buffer {
  let n = 0;
  // TensorShapeProto.dim (1) -> Dimension { dim_param (2) }
  const shape = (b: Buffer) => encodeFields(fields(b).map((f) => (f.field === 1 ? { field: 1, bytes: encodeFields([{ field: 2, bytes: Buffer.from(`zs${n++}`) }]) } : f)));
  // ValueInfoProto.type (2) -> TypeProto.tensor_type (1) -> Tensor.shape (2)
  const valueInfo = (b: Buffer) => rewrite(b, 2, (type) => rewrite(type, 1, (tensor) => rewrite(tensor, 2, shape)));
  // ModelProto.graph (7) -> GraphProto.input (11), output (12), value_info (13)
  return rewrite(model, 7, (graph) => [11, 12, 13].reduce((g, field) => rewrite(g, field, valueInfo), graph));
}

if (require.main === module && process.argv[2] === 'reference') {
  referenceMain().catch((err) => {
    process.stderr.write(`${String(err?.stack ?? err)}\n`);
    process.exit(1);
  });
}
