// `npm run profile`: where a worker's CPU goes, per request, stage by stage. Starts `serve` under V8's
// sampling profiler (--cpu-prof: the primary, every worker and every inference thread write a profile),
// drives one scenario with autocannon, reads each process's CPU time from /proc before and after, and
// splits each worker's CPU per request between the stages its samples fall in (HTTP, the hop to the thread
// and back, decode, the run, encode, the log line, timers, GC). Samples in a blocking wait (a thread idle in
// Atomics.wait, the event loop in epoll) are idle, not work. Loopback only; stops by itself.
// usage: npm run profile -- [--scenario csv|get] [--connections N] [--duration SECONDS] [--workers N]
//          [--log-level info|warn] [--serve PATH/TO/container/serve] [--out DIR]
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, option, waitForPing } from './cli-helpers';

const ROOT = path.resolve(__dirname, '../..');

/** Stages, and how a sample's frame is recognised as one (first match wins; tested on function and file). */
const STAGES: [string, RegExp][] = [
  ['idle (waiting, not work)', /^(\(idle\)|atomicsWaitLoop |\(program\) $)/],
  ['gc', /^\(garbage collector\)/],
  ['start-up (loading code)', /(node:internal\/modules|compileForInternalLoader|wrapSafe|readFileUtf8|internalModule|node:internal\/bootstrap|spawnSync)/],
  ['log line (pino)', /(pino\/|sonic-boom\/|logger\.js|isoTime|RequestLog)/],
  ['run (onnxruntime)', /(onnxruntime-node\/|onnxruntime-common\/|inference\/session\.js|inference\/labels\.js|inference\/columns\.js|native-guard\.js)/],
  ['decode (codecs)', /(codecs\/(csv|csv-bytes|json|json-syntax|jsonlines|query|rows|cells|text|numbers|v2)\.js|decodeRequest|builtin-steps\.js:.*input)/],
  ['encode (codecs)', /(codecs\/(records|values)\.js|encodeBytes|encodeRecords|encodePredictions|encodeV2)/],
  ['pipeline and batcher', /(inference\/(pipeline|batcher|builtin-steps|user-steps|steps)\.js|slicePredictions|concatMatrices|vocabulary\.js)/],
  ['hop to the thread and back', /(piscina\/|postMessage|receiveMessageOnPort|MessagePort|inference\/(pool|thread)\.js|structuredClone|latin1Slice|node:internal\/worker)/],
  ['respond (write the answer)', /^(writev|writeString|writeBuffer|writevGeneric|writeGeneric|_storeHeader|writeHead|setHeader|_send|_writeRaw|end |write_|createWriteWrap|checkInvalidHeaderChar|_finish|onFinish|respond\.js)|node:_http_outgoing|http\/respond\.js|node:internal\/streams\/writable/],
  ['HTTP in (parse, route, read the body)', /(node:_http_(server|incoming|common)|parserOn|http\/(handler|routes|invocation)\.js|shared-bodies\.js|node:net|node:internal\/streams|node:events|_addHeaderLine|readBody|emit )/],
  ['timers, ticks, promises', /(node:internal\/timers|processTicksAndRejections|runMicrotasks|processImmediate|node:internal\/process\/task_queues|listOnTimeout|setTimeout|clearTimeout|setImmediate)/],
];

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
}

function stageOf(frame: ProfileNode['callFrame']): string {
  const text = `${frame.functionName || '(anon)'} ${frame.url.replace(/^file:\/\//, '')}:${frame.lineNumber}`;
  return STAGES.find(([, re]) => re.test(text))?.[0] ?? 'other';
}

/** Samples by stage in one profile. */
function stagesOf(file: string): Map<string, number> {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const out = new Map<string, number>();
  for (const id of p.samples) {
    const stage = stageOf(byId.get(id)!);
    out.set(stage, (out.get(stage) ?? 0) + 1);
  }
  return out;
}

/** CPU seconds (user + system) of one thread, or of a whole process when tid is the pid. */
function cpuOf(pid: number, tid = pid): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

const children = (pid: number): number[] => {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
};

async function main(): Promise<void> {
  const scenario = option('scenario', 'csv');
  const connections = Number(option('connections', '40'));
  const seconds = Number(option('duration', '10'));
  const workers = option('workers', '2');
  const level = option('log-level', 'info');
  const serve = path.resolve(option('serve', path.join(ROOT, 'container/serve')));
  const out = path.resolve(option('out', fs.mkdtempSync(path.join(os.tmpdir(), 'ms-profile-'))));
  fs.mkdirSync(out, { recursive: true });
  const entry = path.join(path.dirname(serve), 'dist/cli/serve.js');
  const port = await freePort();
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-prof-run-'));
  fs.chmodSync(runDir, 0o755);
  const server = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${out}`, entry], {
    env: { ...process.env, ORT_DISABLE_TELEMETRY: '1', SAGEMAKER_BASE_DIR: path.join(ROOT, 'local-test/test-dir'), SAGEMAKER_BIND_TO_PORT: String(port), MODEL_SERVER_RUN_DIR: runDir, MODEL_SERVER_WORKERS: workers, LOG_LEVEL: level },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitForPing(`http://127.0.0.1:${port}`, server, 60);
  const request =
    scenario === 'get'
      ? { url: `http://127.0.0.1:${port}/predict_parameters?sepal_length=5.1&sepal_width=3.5&petal_length=1.4&petal_width=0.2` }
      : { url: `http://127.0.0.1:${port}/invocations`, method: 'POST' as const, body: '5.1,3.5,1.4,0.2', headers: { 'Content-Type': 'text/csv' } };
  await autocannon({ ...request, connections, duration: 2 });
  const nginx = Number(fs.readFileSync(path.join(runDir, 'nginx.pid'), 'utf8'));
  const workerPids = children(server.pid!).filter((pid) => pid !== nginx);
  const snapshot = () => workerPids.map((pid) => cpuOf(pid));
  const before = snapshot();
  const result = await autocannon({ ...request, connections, duration: seconds });
  const after = snapshot();
  const requests = result.requests.total;
  server.kill('SIGTERM');
  await new Promise((resolve) => server.once('exit', resolve));

  // Each worker process wrote one profile for its main thread and one per inference thread; the CPU of
  // the process (all its threads) per request is split by the busy samples of all of them together.
  const usPerRequest = (after.reduce((a, b) => a + b, 0) - before.reduce((a, b) => a + b, 0)) * 1e6 / requests;
  const files = fs.readdirSync(out).filter((f) => f.endsWith('.cpuprofile'));
  const total = new Map<string, number>();
  for (const pid of workerPids) {
    for (const f of files.filter((name) => name.split('.')[3] === String(pid))) {
      for (const [stage, n] of stagesOf(path.join(out, f))) total.set(stage, (total.get(stage) ?? 0) + n);
    }
  }
  const busy = [...total].filter(([s]) => !s.startsWith('idle') && !s.startsWith('start-up')).reduce((a, [, n]) => a + n, 0);
  console.log(`\n${scenario === 'get' ? 'GET /predict_parameters' : 'POST /invocations, 1 CSV row'}, c=${connections}, ${seconds} s, ${workers} workers, LOG_LEVEL=${level}: ${Math.round(result.requests.average)} req/s, ${requests} requests`);
  console.log(`worker processes (main threads and inference threads): ${usPerRequest.toFixed(1)} µs of CPU per request\n`);
  console.log(`${'stage'.padEnd(40)}${'share'.padEnd(8)}µs per request`);
  for (const [stage, n] of [...total].filter(([s]) => !s.startsWith('idle') && !s.startsWith('start-up')).sort((a, b) => b[1] - a[1])) {
    console.log(`${stage.padEnd(40)}${`${((100 * n) / busy).toFixed(1)}%`.padEnd(8)}${((usPerRequest * n) / busy).toFixed(1)}`);
  }
  console.log(`\nprofiles: ${out} (open them in Chrome DevTools' Performance panel)`);
  fs.rmSync(runDir, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
