// A local SageMaker batch transform: splits input files the way SageMaker does (by line, by RecordIO
// record, or not at all), sends mini-batches to /invocations with N in flight, retries failures, and
// assembles <name>.out in input order (by line, or the answers as they are). Runs against a running
// endpoint, or starts container/serve itself in batch mode.
// usage: transform --input FILE|DIR --output DIR [--endpoint URL] [--content-type T] [--accept T]
//          [--split-type Line|RecordIO|None] [--assemble-with Line|None]
//          [--batch-strategy MultiRecord|SingleRecord] [--max-payload-mb N] [--max-concurrent N] [--base-dir DIR]
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs as parseCommandLine } from 'node:util';
import { freePort, httpGet as get, waitForPing } from './cli-helpers';

export interface TransformOptions {
  input: string;
  output: string;
  endpoint?: string;
  contentType: string;
  accept?: string;
  splitType: 'Line' | 'RecordIO' | 'None';
  /** Line: each answer ends with a newline (one added when it has none); None: answers joined as they are. */
  assembleWith: 'Line' | 'None';
  batchStrategy?: 'MultiRecord' | 'SingleRecord';
  maxPayloadMb?: number;
  maxConcurrent?: number;
  /** Model folder root for the server this tool starts (default SAGEMAKER_BASE_DIR, else local-test/test-dir). */
  baseDir?: string;
}

export interface TransformSummary {
  files: number;
  failedFiles: string[];
  records: number;
  requests: number;
  retries: number;
  seconds: number;
}

export class UsageError extends Error {}

const USAGE = 'usage: transform-local.sh --input FILE|DIR --output DIR [--endpoint URL] [--content-type T] [--accept T] [--split-type Line|RecordIO|None] [--assemble-with Line|None] [--batch-strategy MultiRecord|SingleRecord] [--max-payload-mb N] [--max-concurrent N] [--base-dir DIR]';
const ROOT = path.resolve(__dirname, '../..');
const LINE_TYPES = new Set(['text/csv', 'application/jsonlines', 'application/x-jsonlines', 'application/jsonl']);

const OPTIONS = {
  input: { type: 'string' },
  output: { type: 'string' },
  endpoint: { type: 'string' },
  'content-type': { type: 'string' },
  accept: { type: 'string' },
  'split-type': { type: 'string' },
  'assemble-with': { type: 'string' },
  'batch-strategy': { type: 'string' },
  'max-payload-mb': { type: 'string' },
  'max-concurrent': { type: 'string' },
  'base-dir': { type: 'string' },
} as const;

export function parseArgs(argv: string[]): TransformOptions {
  let values: Partial<Record<keyof typeof OPTIONS, string>>;
  try {
    values = parseCommandLine({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (err) {
    // node:util names the option; its first line is the whole message users need.
    throw new UsageError(String((err as Error).message).split('\n')[0]);
  }
  if (!values.input) throw new UsageError('--input is required');
  if (!values.output) throw new UsageError('--output is required');
  const split = values['split-type'] ?? 'Line';
  if (split !== 'Line' && split !== 'RecordIO' && split !== 'None') throw new UsageError(`--split-type must be Line, RecordIO or None, not ${JSON.stringify(split)}`);
  const assemble = values['assemble-with'] ?? 'Line';
  if (assemble !== 'Line' && assemble !== 'None') throw new UsageError(`--assemble-with must be Line or None, not ${JSON.stringify(assemble)}`);
  const strategy = values['batch-strategy'];
  if (strategy !== undefined && strategy !== 'MultiRecord' && strategy !== 'SingleRecord') throw new UsageError(`--batch-strategy must be MultiRecord or SingleRecord, not ${JSON.stringify(strategy)}`);
  const number = (key: 'max-payload-mb' | 'max-concurrent', min: number, max: number): number | undefined => {
    if (values[key] === undefined) return undefined;
    const n = Number(values[key]);
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${key} must be a whole number from ${min} to ${max}`);
    return n;
  };
  return {
    input: path.resolve(values.input),
    output: path.resolve(values.output),
    endpoint: values.endpoint?.replace(/\/+$/, ''),
    contentType: values['content-type'] ?? 'text/csv',
    accept: values.accept,
    splitType: split,
    assembleWith: assemble,
    batchStrategy: strategy as TransformOptions['batchStrategy'],
    maxPayloadMb: number('max-payload-mb', 0, 100),
    maxConcurrent: number('max-concurrent', 1, 1000),
    baseDir: values['base-dir'] ? path.resolve(values['base-dir']) : undefined,
  };
}

function inputFiles(input: string): { file: string; relative: string }[] {
  const stat = fs.statSync(input, { throwIfNoEntry: false });
  if (!stat) throw new UsageError(`--input ${input} does not exist`);
  if (stat.isFile()) return [{ file: input, relative: path.basename(input) }];
  const out: { file: string; relative: string }[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.name.startsWith('.')) continue;
      const full = path.join(dir, e.name);
      if (e.isDirectory()) walk(full);
      else out.push({ file: full, relative: path.relative(input, full) });
    }
  };
  walk(input);
  if (out.length === 0) throw new UsageError(`--input ${input} holds no files`);
  return out;
}

interface Reply {
  status: number;
  body: Buffer;
  /** The answer's media type, without parameters. */
  type: string;
}

function post(agent: http.Agent, url: URL, body: Buffer, headers: Record<string, string>, chunked: boolean): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ agent, host: url.hostname, port: url.port, path: '/invocations', method: 'POST', headers: chunked ? headers : { ...headers, 'Content-Length': String(body.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), type: String(res.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (chunked) {
      // MaxPayloadInMB=0: SageMaker streams unbounded bodies with chunked transfer encoding.
      for (let at = 0; at < body.length; at += 1 << 20) req.write(body.subarray(at, at + (1 << 20)));
      req.end();
    } else req.end(body);
  });
}

/** Starts container/serve in batch mode with the job's settings in its environment, as SageMaker does. */
async function startServer(options: TransformOptions): Promise<{ endpoint: string; server: ChildProcess }> {
  const port = await freePort();
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'transform-'));
  fs.chmodSync(runDir, 0o755);
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    SAGEMAKER_BATCH: 'true',
    SAGEMAKER_BIND_TO_PORT: String(port),
    MODEL_SERVER_RUN_DIR: path.join(runDir, 'run'),
    SAGEMAKER_BASE_DIR: options.baseDir ?? process.env.SAGEMAKER_BASE_DIR ?? path.join(ROOT, 'local-test/test-dir'),
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  };
  if (options.maxPayloadMb !== undefined) env.SAGEMAKER_MAX_PAYLOAD_IN_MB = String(options.maxPayloadMb);
  if (options.batchStrategy) env.SAGEMAKER_BATCH_STRATEGY = options.batchStrategy === 'MultiRecord' ? 'MULTI_RECORD' : 'SINGLE_RECORD';
  if (options.maxConcurrent !== undefined) env.SAGEMAKER_MAX_CONCURRENT_TRANSFORMS = String(options.maxConcurrent);
  const server = spawn(path.join(ROOT, 'container/serve'), [], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  const endpoint = `http://127.0.0.1:${port}`;
  await waitForPing(endpoint, server);
  return { endpoint, server };
}

interface MiniBatch {
  body: Buffer;
  records: number;
  /** Input bytes consumed once this batch is cut (for progress). */
  consumed: number;
}

/**
 * Whole records, packed as SageMaker packs them: up to the payload limit (MultiRecord) or one each. Cut
 * lazily, so the first request goes out while the rest of the file is still being split.
 */
function* miniBatches(text: Buffer, file: string, options: Required<Pick<TransformOptions, 'splitType'>> & { strategy: string; limitBytes: number }): Generator<MiniBatch> {
  if (options.splitType === 'None') {
    if (options.limitBytes > 0 && text.length > options.limitBytes) {
      throw new Error(`${file} is ${text.length} bytes, larger than MaxPayloadInMB allows (${options.limitBytes} bytes), and SplitType is None`);
    }
    yield { body: text, records: 1, consumed: text.length };
    return;
  }
  if (options.splitType === 'RecordIO') {
    yield* recordBatches(text, file, options);
    return;
  }
  let start = -1;
  let end = 0;
  let count = 0;
  let line = 0;
  // A batch is the input's own bytes from its first record to its last (CRLF and blank lines between
  // records included: the server reads them as the original file), ending with a newline.
  const cut = (consumed: number): MiniBatch => {
    const body = text[end] === 10 ? text.subarray(start, end + 1) : Buffer.concat([text.subarray(start, end), Buffer.from('\n')]);
    const batch = { body, records: count, consumed };
    start = -1;
    count = 0;
    return batch;
  };
  for (let at = 0; at < text.length; ) {
    let nl = text.indexOf(10, at);
    if (nl < 0) nl = text.length;
    line += 1;
    let stop = nl;
    if (stop > at && text[stop - 1] === 13) stop -= 1;
    if (stop > at) {
      const size = stop - at + 1;
      if (options.limitBytes > 0 && size > options.limitBytes) {
        throw new Error(`${file}, line ${line}: the record is ${size - 1} bytes, larger than MaxPayloadInMB allows (${options.limitBytes} bytes, newline included)`);
      }
      const batchSize = start < 0 ? 0 : end - start + 1;
      if (count > 0 && (options.strategy === 'SINGLE_RECORD' || (options.limitBytes > 0 && batchSize + size > options.limitBytes))) yield cut(at);
      if (start < 0) start = at;
      end = stop;
      count += 1;
    }
    at = nl + 1;
  }
  if (count > 0) yield cut(text.length);
}

const RECORDIO_MAGIC = 0xced7230a;

/**
 * RecordIO records (a 0xced7230a magic, a length whose upper 3 bits are flags, the bytes, padding to 4),
 * packed as SageMaker packs them: whole records with their padding up to the payload limit (MultiRecord),
 * or one per request without its padding (SingleRecord).
 */
function* recordBatches(data: Buffer, file: string, options: { strategy: string; limitBytes: number }): Generator<MiniBatch> {
  let start = 0;
  let end = 0;
  let count = 0;
  for (let at = 0, index = 1; at < data.length; index++) {
    if (at + 8 > data.length || data.readUInt32LE(at) !== RECORDIO_MAGIC) throw new Error(`${file}, record ${index} (byte ${at}): not a RecordIO record (SplitType RecordIO needs 0xced7230a-framed records)`);
    const length = data.readUInt32LE(at + 4) & 0x1fffffff;
    const next = Math.min(data.length, at + 8 + ((length + 3) & ~3));
    if (at + 8 + length > data.length) throw new Error(`${file}, record ${index} (byte ${at}): ${length} bytes announced, ${data.length - at - 8} left in the file`);
    if (options.strategy === 'SINGLE_RECORD') {
      if (options.limitBytes > 0 && 8 + length > options.limitBytes) throw new Error(`${file}, record ${index}: the record is ${8 + length} bytes, larger than MaxPayloadInMB allows (${options.limitBytes} bytes)`);
      yield { body: data.subarray(at, at + 8 + length), records: 1, consumed: next };
    } else {
      if (options.limitBytes > 0 && next - at > options.limitBytes) throw new Error(`${file}, record ${index}: the record is ${next - at} bytes, larger than MaxPayloadInMB allows (${options.limitBytes} bytes)`);
      if (count > 0 && options.limitBytes > 0 && next - start > options.limitBytes) {
        yield { body: data.subarray(start, end), records: count, consumed: at };
        start = at;
        count = 0;
      }
      end = next;
      count += 1;
    }
    at = next;
  }
  if (count > 0) yield { body: data.subarray(start, end), records: count, consumed: data.length };
}

function progress(doneBytes: number, totalBytes: number, records: number, file: string): void {
  if (!process.stderr.isTTY) return;
  const width = 30;
  const share = totalBytes > 0 ? doneBytes / totalBytes : 1;
  const filled = Math.round(share * width);
  process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(100 * share)).padStart(3)}% ${records} records  ${file.slice(-40)}`);
}

export async function runTransform(options: TransformOptions, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<TransformSummary> {
  const files = inputFiles(options.input);
  const started = performance.now();
  let server: ChildProcess | undefined;
  let endpoint = options.endpoint;
  const askParameters = () => get(`${endpoint}/execution-parameters`).catch(() => undefined);
  let early: ReturnType<typeof askParameters> | undefined;
  if (!endpoint) {
    ({ endpoint, server } = await startServer(options));
  } else {
    // Asked while /ping is checked (asked again below if the server was not up yet).
    early = askParameters();
    await waitForPing(endpoint, undefined, 30);
  }
  const summary: TransformSummary = { files: files.length, failedFiles: [], records: 0, requests: 0, retries: 0, seconds: 0 };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1000 });
  try {
    // The job's settings win; the container fills the rest; without an answer, SageMaker's defaults.
    let params = { MaxConcurrentTransforms: 1, BatchStrategy: 'MULTI_RECORD', MaxPayloadInMB: 6 };
    let reply = early && (await early);
    if (reply?.status !== 200) reply = await askParameters();
    if (reply?.status === 200) params = { ...params, ...JSON.parse(reply.body.toString('utf8')) };
    const concurrent = options.maxConcurrent ?? params.MaxConcurrentTransforms;
    const strategy = options.batchStrategy ? (options.batchStrategy === 'MultiRecord' ? 'MULTI_RECORD' : 'SINGLE_RECORD') : params.BatchStrategy;
    const payloadMb = options.maxPayloadMb ?? params.MaxPayloadInMB;
    const limitBytes = payloadMb * 1024 * 1024;
    log(`transform: ${files.length} file(s) -> ${options.output}; ${concurrent} in flight, ${strategy}, MaxPayloadInMB=${payloadMb}${payloadMb === 0 ? ' (chunked)' : ''}, SplitType=${options.splitType}, AssembleWith=${options.assembleWith}`);
    const url = new URL(endpoint);
    const headers: Record<string, string> = { 'Content-Type': options.contentType };
    if (options.accept) headers.Accept = options.accept;

    for (const { file, relative } of files) {
      const target = path.join(options.output, `${relative}.out`);
      const partial = `${target}.partial`;
      try {
        const input = fs.readFileSync(file);
        const batches = miniBatches(input, relative, { splitType: options.splitType, strategy, limitBytes });
        const answers: Buffer[] = [];
        let cut = 0;
        let consumed = 0;
        let records = 0;
        let failed = false;
        const send = async (i: number, body: Buffer): Promise<Reply> => {
          for (let attempt = 1; ; attempt++) {
            summary.requests += 1;
            let failure: string;
            try {
              const r = await post(agent, url, body, { ...headers, 'X-Amzn-SageMaker-Input-Object': relative }, payloadMb === 0);
              if (r.status === 200) return r;
              failure = `HTTP ${r.status}: ${r.body.toString('utf8').slice(0, 500)}`;
              // A client error will not change on retry; a server error or overload may.
              if (r.status >= 400 && r.status < 500 && r.status !== 429) throw new Error(`mini-batch ${i + 1} of ${relative} failed: ${failure}`);
            } catch (err) {
              if ((err as Error).message.startsWith('mini-batch')) throw err;
              failure = (err as Error).message;
            }
            if (attempt > 3) throw new Error(`mini-batch ${i + 1} of ${relative} failed after 3 retries: ${failure}`);
            // Another mini-batch has failed the file already: no point retrying this one.
            if (failed) throw new Error(`mini-batch ${i + 1} of ${relative} abandoned: ${failure}`);
            summary.retries += 1;
            await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
          }
        };
        const lane = async () => {
          while (!failed) {
            const next = batches.next();
            if (next.done) return;
            const i = cut++;
            const batch = next.value;
            consumed = Math.max(consumed, batch.consumed);
            const reply = await send(i, batch.body);
            let answer = reply.body;
            if (options.assembleWith === 'Line' && answer.length > 0 && answer[answer.length - 1] !== 10) answer = Buffer.concat([answer, Buffer.from('\n')]);
            // The answer's own type decides (without Accept a server picks it: SageMaker XGBoost's answers CSV to libsvm).
            if (LINE_TYPES.has(reply.type) && options.splitType === 'Line') {
              let lines = 0;
              for (let at = answer.indexOf(10); at >= 0; at = answer.indexOf(10, at + 1)) lines++;
              if (lines !== batch.records) throw new Error(`mini-batch ${i + 1} of ${relative}: ${lines} output line(s) for ${batch.records} record(s)`);
            }
            answers[i] = answer;
            records += batch.records;
            progress(consumed, input.length, records, relative);
          }
        };
        // The first failure fails the file: the other lanes stop taking mini-batches, and the file ends
        // once their requests in flight have (so the next file never runs over the concurrency limit).
        let firstFailure: unknown;
        await Promise.all(Array.from({ length: concurrent }, () => lane().catch((err: unknown) => {
          if (!failed) firstFailure = err;
          failed = true;
        })));
        if (failed) throw firstFailure;
        fs.mkdirSync(path.dirname(target), { recursive: true });
        // Assembled by line, in input order, and only renamed into place once complete.
        const out = fs.openSync(partial, 'w');
        try {
          for (const a of answers) fs.writeSync(out, a);
        } finally {
          fs.closeSync(out);
        }
        fs.renameSync(partial, target);
        summary.records += records;
        if (process.stderr.isTTY) process.stderr.write('\n');
      } catch (err) {
        fs.rmSync(partial, { force: true });
        if (process.stderr.isTTY) process.stderr.write('\n');
        log(`transform: FAILED ${relative}: ${(err as Error).message}`);
        summary.failedFiles.push(relative);
      }
    }
  } finally {
    agent.destroy();
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((r) => server!.once('exit', r));
    }
  }
  summary.seconds = (performance.now() - started) / 1000;
  const rate = summary.records / Math.max(summary.seconds, 1e-9);
  log(`transform: ${summary.files - summary.failedFiles.length}/${summary.files} file(s), ${summary.records} records, ${summary.requests} requests, ${summary.retries} retries, ${Math.round(rate)} records/s, ${summary.seconds.toFixed(2)} s`);
  return summary;
}

if (require.main === module) {
  let options: TransformOptions;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`transform: ${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  runTransform(options).then(
    (s) => {
      process.exitCode = s.failedFiles.length > 0 ? 1 : 0;
    },
    (err) => {
      process.stderr.write(`transform: ${(err as Error).message}\n${err instanceof UsageError ? `${USAGE}\n` : ''}`);
      process.exitCode = err instanceof UsageError ? 2 : 1;
    },
  );
}
