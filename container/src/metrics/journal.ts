// The observations' journal: how a worker tells the primary about each answered inference request without
// waking it. The worker appends one fixed 20-byte record per answer to a file of its own in the run
// directory, with one write() before the answer itself is written; the primary reads what is new in every
// journal when it needs the figures (a scrape, a CloudWatch line, every second). A write that returned is
// in the kernel's page cache, so a worker SIGKILLed a moment later loses no answer a caller received, and
// the primary never wakes per request. (IPC cost more: a message per answer about 20 µs of CPU per
// request, one per event-loop turn still 20-50 µs of the primary's under load, as it woke for each.)
//
// Records: a name record [2, 0, index u16, length u16, UTF-8 bytes] the first time a file names a model, and
// an observation [1, route u8, model index u16, status u16, batch u16, ms f32, queued ms f32, run ms f32],
// little-endian. A worker starts a new file (journal-<pid>-<n+1>) past JOURNAL_BYTES, so the primary can
// delete the ones it has read; a dead worker's files are read to their end and deleted.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The routes an observation can name, by index. */
export const JOURNAL_ROUTES = ['invocations', 'invoke-model', 'predict-parameters', 'v2-infer'] as const;

const RECORD = 20;
/** A worker's file is closed past this size (a few seconds of a busy worker) and a new one started. */
export const JOURNAL_BYTES = 1 << 20;

const FILE = /^journal-(\d+)-(\d+)\.bin$/;

/** One answered inference request (times in milliseconds; -1 and batch 0 when it never reached a thread). */
export interface Observation {
  model: string;
  route: string;
  status: number;
  ms: number;
  queuedMs: number;
  runMs: number;
  batch: number;
}

/** A worker's side: appends its observations. */
export class JournalWriter {
  private fd = -1;
  private seq = 0;
  private written = 0;
  private names = new Map<string, number>();
  private readonly record = Buffer.alloc(RECORD);

  constructor(
    private readonly dir: string,
    private readonly pid = process.pid,
  ) {}

  private open(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.seq += 1;
    this.fd = fs.openSync(path.join(this.dir, `journal-${this.pid}-${this.seq}.bin`), 'a', 0o600);
    this.written = 0;
    this.names = new Map();
  }

  write(model: string, route: string, status: number, ms: number, queuedMs: number, runMs: number, batch: number): void {
    if (this.fd < 0 || this.written >= JOURNAL_BYTES) this.open();
    let index = this.names.get(model);
    if (index === undefined) {
      index = this.names.size;
      this.names.set(model, index);
      const name = Buffer.from(model, 'utf8');
      const head = Buffer.alloc(6);
      head.writeUInt8(2, 0);
      head.writeUInt16LE(index, 2);
      head.writeUInt16LE(name.length, 4);
      this.append(Buffer.concat([head, name]));
    }
    const r = this.record;
    r.writeUInt8(1, 0);
    r.writeUInt8(JOURNAL_ROUTES.indexOf(route as never), 1);
    r.writeUInt16LE(index, 2);
    r.writeUInt16LE(status, 4);
    r.writeUInt16LE(Math.min(batch, 65535), 6);
    r.writeFloatLE(ms, 8);
    r.writeFloatLE(queuedMs, 12);
    r.writeFloatLE(runMs, 16);
    this.append(r);
  }

  private append(bytes: Buffer): void {
    fs.writeSync(this.fd, bytes);
    this.written += bytes.length;
  }
}

interface ReadState {
  offset: number;
  names: string[];
}

/** The primary's side: reads what is new in every journal of the run directory. */
export class JournalReader {
  private readonly files = new Map<string, ReadState>();

  constructor(private readonly dir: string) {}

  /** Deletes journals a previous server left in the run directory (before any worker starts). */
  clear(): void {
    for (const entry of fs.readdirSync(this.dir)) if (FILE.test(entry)) fs.rmSync(path.join(this.dir, entry), { force: true });
  }

  /**
   * The observations written since the last read. A file is deleted once read to its end when it is no
   * longer written: its worker started a newer one, or `alive` says its process is gone.
   */
  read(alive: (pid: number) => boolean): Observation[] {
    const out: Observation[] = [];
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return out; // the run directory is gone: the server is stopping
    }
    const entries = names.map((e) => [e, FILE.exec(e)] as const).filter((x): x is [string, RegExpExecArray] => x[1] !== null);
    const newest = new Map<number, number>();
    for (const [, m] of entries) newest.set(Number(m[1]), Math.max(newest.get(Number(m[1])) ?? 0, Number(m[2])));
    entries.sort((a, b) => Number(a[1][1]) - Number(b[1][1]) || Number(a[1][2]) - Number(b[1][2]));
    for (const [entry, m] of entries) {
      const pid = Number(m[1]);
      const file = path.join(this.dir, entry);
      let state = this.files.get(file);
      if (!state) this.files.set(file, (state = { offset: 0, names: [] }));
      const done = Number(m[2]) < newest.get(pid)! || !alive(pid);
      this.readFile(file, state, out);
      if (done) {
        fs.rmSync(file, { force: true });
        this.files.delete(file);
      }
    }
    return out;
  }

  private readFile(file: string, state: ReadState, out: Observation[]): void {
    let bytes: Buffer;
    try {
      const fd = fs.openSync(file, 'r');
      try {
        const size = fs.fstatSync(fd).size;
        bytes = Buffer.alloc(Math.max(0, size - state.offset));
        if (bytes.length > 0) fs.readSync(fd, bytes, 0, bytes.length, state.offset);
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      return; // deleted meanwhile
    }
    let at = 0;
    while (at < bytes.length) {
      const kind = bytes[at];
      if (kind === 2) {
        if (at + 6 > bytes.length) break;
        const length = bytes.readUInt16LE(at + 4);
        if (at + 6 + length > bytes.length) break;
        state.names[bytes.readUInt16LE(at + 2)] = bytes.toString('utf8', at + 6, at + 6 + length);
        at += 6 + length;
      } else {
        if (at + RECORD > bytes.length) break;
        out.push({
          route: JOURNAL_ROUTES[bytes[at + 1]] ?? 'unknown',
          model: state.names[bytes.readUInt16LE(at + 2)] ?? '(unknown)',
          status: bytes.readUInt16LE(at + 4),
          batch: bytes.readUInt16LE(at + 6),
          ms: bytes.readFloatLE(at + 8),
          queuedMs: bytes.readFloatLE(at + 12),
          runMs: bytes.readFloatLE(at + 16),
        });
        at += RECORD;
      }
    }
    // A record cut short is read whole next time (a write is one syscall, so this is rare).
    state.offset += at;
  }
}
