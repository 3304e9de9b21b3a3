// The metrics journals between workers and the primary: what a worker writes is read back exactly once,
// names included, across a worker's new files and a record cut short; files are deleted once read and no
// longer written, and a dead worker's are read to their end first.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { JOURNAL_BYTES, JournalReader, JournalWriter } from '../../container/src/metrics/journal';

const dir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ms-journal-'));
const files = (d: string) => fs.readdirSync(d).sort();

test('observations come back exactly once, with their model, route and figures (float32 times)', () => {
  const d = dir();
  const w = new JournalWriter(d, 101);
  const r = new JournalReader(d);
  w.write('iris', 'invocations', 200, 1.5, 0.25, 1.0, 3);
  w.write('ünï-model', 'v2-infer', 404, 0.75, -1, -1, 0);
  const alive = () => true;
  expect(r.read(alive)).toEqual([
    { model: 'iris', route: 'invocations', status: 200, ms: 1.5, queuedMs: 0.25, runMs: 1, batch: 3 },
    { model: 'ünï-model', route: 'v2-infer', status: 404, ms: 0.75, queuedMs: -1, runMs: -1, batch: 0 },
  ]);
  expect(r.read(alive)).toEqual([]);
  w.write('iris', 'invoke-model', 503, 2, 0, 0, 0);
  expect(r.read(alive).map((o) => [o.model, o.route, o.status])).toEqual([['iris', 'invoke-model', 503]]);
  expect(files(d)).toEqual(['journal-101-1.bin']);
});

test('a record cut short is read whole once the rest arrives', () => {
  const d = dir();
  new JournalWriter(d, 7).write('m', 'invocations', 200, 1, 1, 1, 1);
  const file = path.join(d, 'journal-7-1.bin');
  const whole = fs.readFileSync(file);
  fs.writeFileSync(file, whole.subarray(0, whole.length - 5));
  const r = new JournalReader(d);
  expect(r.read(() => true)).toEqual([]);
  fs.appendFileSync(file, whole.subarray(whole.length - 5));
  expect(r.read(() => true)).toHaveLength(1);
});

test("a worker's full file is followed by a new one; read files no longer written are deleted, a dead worker's after its last record", () => {
  const d = dir();
  const w = new JournalWriter(d, 9);
  const r = new JournalReader(d);
  const n = Math.ceil(JOURNAL_BYTES / 20) + 10;
  for (let i = 0; i < n; i++) w.write('m', 'invocations', 200, i, 0, 0, 1);
  expect(files(d)).toEqual(['journal-9-1.bin', 'journal-9-2.bin']);
  const first = r.read(() => true);
  expect(first).toHaveLength(n);
  expect(first.map((o) => o.ms)).toEqual(Array.from({ length: n }, (_, i) => Math.fround(i)));
  expect(files(d)).toEqual(['journal-9-2.bin']);
  w.write('m', 'invocations', 500, 1, 0, 0, 1);
  expect(r.read(() => false).map((o) => o.status)).toEqual([500]);
  expect(files(d)).toEqual([]);
});

test('clear removes what a previous server left', () => {
  const d = dir();
  new JournalWriter(d, 3).write('m', 'invocations', 200, 1, 1, 1, 1);
  fs.writeFileSync(path.join(d, 'other.txt'), 'kept');
  new JournalReader(d).clear();
  expect(files(d)).toEqual(['other.txt']);
});
