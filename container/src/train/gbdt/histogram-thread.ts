// A histogram thread: waits on the shared control word, takes the main thread's message without the event
// loop (receiveMessageOnPort), runs it (histograms for its features, or bins for its rows), then reports.
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { binRows, featureCuts, type Cuts } from './bins';
import { buildHistogram, DONE, FAILED, POSTED, type HistogramData, type ThreadMessage } from './histogram';

const { port, control, slot } = workerData as { port: MessagePort; control: Int32Array; slot: number };
let data: HistogramData | undefined;
const blocks: Float64Array[] = [];
let seen = 0;

function run(message: ThreadMessage): boolean {
  switch (message.kind) {
    case 'data':
      data = message;
      return true;
    case 'block':
      blocks.push(message.block);
      return true;
    case 'bin':
      binRows(message.cuts as Cuts, data!.slot2, message.x, data!.bins, data!.columns, message.from, message.to);
      return true;
    case 'cuts': {
      const scratch = new Float32Array(message.rows);
      const scratch2 = new Float32Array(message.rows);
      const stride = message.maxBin + 1;
      for (const f of message.features) {
        const c = featureCuts(message.x, message.rows, message.width, f, message.maxBin, scratch, scratch2);
        message.out.set(c.values, f * stride);
        message.sizes[f] = c.values.length;
        message.mins[f] = c.min;
      }
      return true;
    }
    case 'build':
      for (const job of message.jobs) buildHistogram(data!, job.begin, job.end, blocks[job.block], job.base, message.fromFeature, message.toFeature);
      return true;
    case 'stop':
      return false;
  }
}

let received = 0;
for (;;) {
  Atomics.wait(control, 0, seen);
  seen = Atomics.load(control, 0);
  let go = true;
  const posted = Atomics.load(control, POSTED(slot));
  // The messages of this signal: posted before it, in order (spin in the rare case one is still in flight).
  while (received < posted) {
    const m = receiveMessageOnPort(port);
    if (!m) continue;
    received++;
    try {
      go = run(m.message as ThreadMessage) && go;
    } catch (err) {
      Atomics.store(control, FAILED(slot), 1);
      port.postMessage({ error: String((err as Error)?.stack ?? err) });
    }
  }
  Atomics.store(control, DONE(slot), seen);
  Atomics.notify(control, DONE(slot));
  if (!go) break;
}
port.close();
