// The memory budget of a multi-model endpoint on the real stack: a model refused with 507 loads once models
// holding as much of the budget are unloaded (SageMaker's answer to a 507), and the server's real memory
// (its processes' proportional set sizes) stays under MODEL_SERVER_MEMORY_LIMIT_MB through hundreds of loads and unloads of models of several
// kinds and sizes. Real nginx, workers, threads and ONNX models in real folders.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { treeMemoryBytes } from '../../container/src/processes';
import { prng } from '../../container/src/train/logistic';
import { memoryFixtures, weightsModel, writeFixture } from '../../tools/src/bench-memory';
import { request, requireNginx, startServer, type Reply, type Server } from '../helpers/server';

const MB = 2 ** 20;
const json = { 'Content-Type': 'application/json' };
const load = (server: Server, name: string, url: string) => request(server.port, 'POST', '/models', { body: JSON.stringify({ model_name: name, url }), headers: json, timeoutMs: 60_000 });
const unload = (server: Server, name: string) => request(server.port, 'DELETE', `/models/${name}`, { timeoutMs: 60_000 });
const errorOf = (r: Reply) => (r.status === 200 ? 'ok' : `${r.status} ${r.json().error.code}: ${r.json().error.message}`);

/**
 * Samples the server's memory (every process's proportional set size, as the budget's guard reads it)
 * every 200 ms until stopped; returns the highest.
 */
function watchMemory(server: Server): { stop(): number } {
  let highest = treeMemoryBytes(server.pid);
  const timer = setInterval(() => (highest = Math.max(highest, treeMemoryBytes(server.pid))), 200);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.max(highest, treeMemoryBytes(server.pid));
    },
  };
}

beforeAll(() => requireNginx());

test("unloading gives a model's share back: a model refused with 507 loads once models holding as much are unloaded", async () => {
  const limitMb = 600;
  const server = await startServer({ baseDir: fs.mkdtempSync(path.join(os.tmpdir(), 'ms-budget-base-')), env: { SAGEMAKER_MULTI_MODEL: 'true', MODEL_SERVER_WORKERS: '1', MODEL_SERVER_MEMORY_LIMIT_MB: String(limitMb) } });
  const memory = watchMemory(server);
  try {
    // One 33 MB model under several names, as in SageMaker's own drill: load until the server says no.
    const folder = writeFixture(fs.mkdtempSync(path.join(os.tmpdir(), 'ms-budget-')), { name: 'weights-33', kind: '', files: { 'model.onnx': weightsModel(33) }, body: '', type: '' });
    const loaded: string[] = [];
    let refused: { name: string; reply: Reply } | undefined;
    for (let i = 0; i < 15 && !refused; i++) {
      const reply = await load(server, `w${i}`, folder);
      if (reply.status === 200) loaded.push(`w${i}`);
      else refused = { name: `w${i}`, reply };
    }
    expect(refused).toBeDefined();
    expect(loaded.length).toBeGreaterThanOrEqual(2);
    // Refused again while nothing was unloaded; after unloading one model of the same share, it loads.
    expect((await load(server, refused!.name, folder)).status).toBe(507);
    expect((await unload(server, loaded[0])).status).toBe(200);
    const again = await load(server, refused!.name, folder);
    expect(errorOf(again)).toBe('ok');
    // And again after unloading two and loading one back: the room follows the shares, not the past.
    for (const name of loaded.slice(1, 3)) expect((await unload(server, name)).status).toBe(200);
    expect(errorOf(await load(server, loaded[1], folder))).toBe('ok');
    // The 507 gave the budget's figures: the model's share, those the loaded models hold, the server's own.
    const share = (await server.waitForLog((l) => l.msg === 'model w0 loaded')).memoryMb as number;
    const said = /^507 INSUFFICIENT_MEMORY: model "(\w+)" needs about (\d+) MB, and the (\d+) model\(s\) loaded hold (\d+) MB and the server itself (\d+) MB of the (\d+) MB this server may use/.exec(errorOf(refused!.reply));
    expect(said).not.toBeNull();
    const [, name, need, count, held, own, limit] = said!;
    expect([name, Number(need), Number(count), Number(limit)]).toEqual([refused!.name, share, loaded.length, limitMb]);
    // The shares add up (each was rounded to a whole MB in the log), and the refusal was the budget's.
    expect(Math.abs(Number(held) - share * loaded.length)).toBeLessThanOrEqual(loaded.length);
    expect(Number(own) + Number(held) + share).toBeGreaterThan(limitMb);
    const highest = memory.stop();
    console.log(`memory budget: ${loaded.length} models of ${share} MB loaded under ${limitMb} MB before a 507; the server's memory at most ${Math.round(highest / MB)} MB`);
    expect(highest).toBeLessThan(limitMb * MB);
  } finally {
    memory.stop();
    await server.stop();
  }
}, 120_000);

test('200 load/unload cycles of models of six kinds and sizes under a limit they keep reaching: real memory stays under it, and every 507 is made good by unloads', async () => {
  const limitMb = 560;
  const server = await startServer({ baseDir: fs.mkdtempSync(path.join(os.tmpdir(), 'ms-budget-base-')), env: { SAGEMAKER_MULTI_MODEL: 'true', MODEL_SERVER_WORKERS: '2', MODEL_SERVER_MEMORY_LIMIT_MB: String(limitMb), LOG_LEVEL: 'warn' } });
  const memory = watchMemory(server);
  const started = performance.now();
  try {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-budget-'));
    // Every kind and size but the largest (64 MB of weights), to keep the test quick.
    const fixtures = memoryFixtures().filter((f) => f.name !== 'weights-64').map((f) => ({ ...f, url: writeFixture(dir, f) }));
    const random = prng(26);
    const loaded: { name: string; fixture: (typeof fixtures)[number] }[] = [];
    const counts = { loads: 0, unloads: 0, refused: 0 };
    const drop = async () => {
      const [gone] = loaded.splice(Math.floor(random() * loaded.length), 1);
      expect([gone.name, (await unload(server, gone.name)).status]).toEqual([gone.name, 200]);
      counts.unloads += 1;
    };
    for (let cycle = 0; cycle < 200; cycle++) {
      const fixture = fixtures[Math.floor(random() * fixtures.length)];
      const name = `c${cycle}`;
      let reply = await load(server, name, fixture.url);
      // SageMaker's way: on 507, unload models and try again; every unload gives its share back.
      while (reply.status === 507 && loaded.length > 0) {
        counts.refused += 1;
        await drop();
        reply = await load(server, name, fixture.url);
      }
      expect([name, errorOf(reply)]).toEqual([name, 'ok']);
      counts.loads += 1;
      const answer = await request(server.port, 'POST', `/models/${name}/invoke`, { body: fixture.body, headers: { 'Content-Type': fixture.type } });
      expect([name, answer.status]).toEqual([name, 200]);
      loaded.push({ name, fixture });
      if (random() < 0.35) await drop();
    }
    while (loaded.length > 0) await drop();
    const highest = memory.stop();
    console.log(`memory budget: ${counts.loads} loads and ${counts.unloads} unloads of ${fixtures.length} kinds of model in ${Math.round((performance.now() - started) / 1000)} s under ${limitMb} MB, ${counts.refused} refused with 507 first; the server's memory at most ${Math.round(highest / MB)} MB`);
    expect(counts.refused).toBeGreaterThan(10);
    expect(highest).toBeLessThan(limitMb * MB);
    expect(server.logs.filter((l) => /died/.test(l.msg))).toEqual([]);
  } finally {
    memory.stop();
    await server.stop();
  }
}, 300_000);
