// A worker's receipts file (receipts.ts): the keys of invocations dispatched together are written with one
// pwrite, each into its own record, and another worker finds every one of them, and only them.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Receipts, receiptsFileName } from '../../container/src/receipts';

const key = (i: number) => i.toString(16).padStart(32, '0');

test('keys recorded together land in their own records, and another worker finds exactly those', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-receipts-'));
  const mine = new Receipts(dir, 0);
  const other = new Receipts(dir, 1);
  // 200 records taken, every other one given back and taken again: indices out of order, the copy grown.
  const taken = Array.from({ length: 200 }, (_, i) => mine.take(key(i + 1)));
  for (let i = 0; i < 200; i += 2) mine.release(taken[i]);
  const again = Array.from({ length: 100 }, (_, i) => mine.take(key(1000 + i)));
  mine.record([taken[199], taken[3], taken[101]]);
  mine.record(again.slice(0, 40));
  mine.record([]);
  const file = fs.readFileSync(path.join(dir, receiptsFileName(0, process.pid)));
  for (const r of [taken[199], taken[3], taken[101], ...again.slice(0, 40)]) expect(file.toString('latin1', r.index * 32, r.index * 32 + 32)).toBe(r.key);
  for (const r of [taken[199], taken[3], taken[101], ...again.slice(0, 40)]) expect(other.ranElsewhere(r.key)).toBe(true);
  // Taken but never recorded (not dispatched): not found.
  for (const r of [taken[5], taken[7], ...again.slice(40)]) expect(other.ranElsewhere(r.key)).toBe(false);
  expect(mine.ranElsewhere(taken[3].key)).toBe(false);
});
