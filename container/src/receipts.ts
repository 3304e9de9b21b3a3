// Which requests a worker has handed to its models, written where the other workers can read it after this
// one dies. nginx cannot tell a request the dead worker ran (it may be what killed it: never run it again)
// from one it never read (written to its socket while the killed process was being torn down, or queued
// behind the run that crashed). So nginx gives every request a key (its $request_id), passes a request
// whose worker failed to another worker marked as a retry, and that worker runs it only when no other
// worker's receipts hold its key.
//
// A receipt is written when the invocation is handed to an inference thread (before that, nothing of the
// request can have run) and stays valid until its HTTP answer is finished: after that nginx has the answer
// and never retries it. Each worker process has one file, an array of fixed-size records: a request takes a
// record at the edge and gives it back when its answer is finished; the pool writes the keys of the
// invocations it dispatches together into their records with one pwrite to the page cache, which outlives
// the process (SIGKILL included): the span of records from the lowest to the highest, from a copy of the
// file kept in memory (a worker has no more records than requests in flight, so the span is short).
import * as fs from 'node:fs';
import * as path from 'node:path';

/** nginx's $request_id: 32 hexadecimal digits. */
const KEY = /^[0-9a-f]{32}$/;
const RECORD_BYTES = 32;

/** What the pool needs: to record, at dispatch, that requests' invocations went to the model. */
export interface ReceiptBook {
  record(receipts: readonly Receipt[]): void;
}

/** A request's record in its worker's file, and its key; plain data, so that it crosses to the pool as part of an invocation. */
export interface Receipt {
  index: number;
  key: string;
}

/** The request's key when nginx gave it a valid one (requests that did not come through nginx have none). */
export function receiptKey(header: string | string[] | undefined): string | undefined {
  return typeof header === 'string' && KEY.test(header) ? header : undefined;
}

export class Receipts implements ReceiptBook {
  private readonly fd: number;
  private readonly file: string;
  private readonly free: number[] = [];
  private size = 0;
  /** What the file holds (every write goes through it), grown as records are added. */
  private copy = Buffer.alloc(64 * RECORD_BYTES);

  constructor(
    private readonly dir: string,
    slot: number,
  ) {
    fs.mkdirSync(dir, { recursive: true });
    this.file = path.join(dir, receiptsFileName(slot, process.pid));
    this.fd = fs.openSync(this.file, 'w');
  }

  /** A record for a request with this key, until release(); nothing is written yet. */
  take(key: string): Receipt {
    return { index: this.free.pop() ?? this.size++, key };
  }

  release(receipt: Receipt): void {
    this.free.push(receipt.index);
  }

  record(receipts: readonly Receipt[]): void {
    if (receipts.length === 0) return;
    let low = Infinity;
    let high = -1;
    for (const { index, key } of receipts) {
      if ((index + 1) * RECORD_BYTES > this.copy.length) {
        const grown = Buffer.alloc(Math.max(this.copy.length * 2, (index + 1) * RECORD_BYTES));
        this.copy.copy(grown);
        this.copy = grown;
      }
      this.copy.write(key, index * RECORD_BYTES, RECORD_BYTES, 'latin1');
      low = Math.min(low, index);
      high = Math.max(high, index);
    }
    fs.writeSync(this.fd, this.copy, low * RECORD_BYTES, (high - low + 1) * RECORD_BYTES, low * RECORD_BYTES);
  }

  /** Whether another worker (alive or dead) handed the request with this key to its model. */
  ranElsewhere(key: string): boolean {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return false;
    }
    const own = path.basename(this.file);
    for (const name of names) {
      if (name === own) continue;
      let records: Buffer;
      try {
        records = fs.readFileSync(path.join(this.dir, name));
      } catch {
        continue; // removed meanwhile (its worker died long enough ago)
      }
      for (let at = records.indexOf(key, 0, 'latin1'); at >= 0; at = records.indexOf(key, at + 1, 'latin1')) {
        if (at % RECORD_BYTES === 0) return true;
      }
    }
    return false;
  }
}

/** The file of one worker process's receipts, in the run directory's receipts folder. */
export function receiptsFileName(slot: number, pid: number): string {
  return `worker-${slot}-${pid}`;
}
