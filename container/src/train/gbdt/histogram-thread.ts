// A helper thread: sleeps on the shared wake word; when woken, takes the main thread's messages without
// the event loop (receiveMessageOnPort), then claims chunks of the current call until none is left.
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { Word, Worksite, type ThreadMessage } from './histogram';

const { port, control, slot } = workerData as { port: MessagePort; control: Int32Array; slot: number };
const site = new Worksite();
let received = 0;
let awake = 0;
let running = true;

/** Every message posted so far; a message still in flight is waited for (it is on its way). */
function drain(): void {
  const posted = Atomics.load(control, Word.Posted + slot);
  while (received < posted) {
    const m = receiveMessageOnPort(port);
    if (!m) continue;
    received++;
    running = site.take(m.message as ThreadMessage) && running;
  }
}

while (running) {
  Atomics.wait(control, Word.Wake, awake);
  awake = Atomics.load(control, Word.Wake);
  // The call's messages were posted before its claim word: read them all, then the claim word, and again
  // if more were posted meanwhile (a later call), so a chunk never needs a message not yet read.
  let claim: number;
  do {
    drain();
    claim = Atomics.load(control, Word.Claim);
  } while (Atomics.load(control, Word.Posted + slot) !== received);
  if (!running) break;
  const call = claim >>> 20;
  for (;;) {
    const w = Atomics.load(control, Word.Claim);
    if (w >>> 20 !== call) break;
    const i = w & 0xfffff;
    if (i >= Atomics.load(control, Word.Total)) break;
    if (Atomics.compareExchange(control, Word.Claim, w, w + 1) !== w) continue;
    try {
      site.run(Atomics.load(control, Word.Kind), i);
    } catch (err) {
      Atomics.store(control, Word.Failed, 1);
      port.postMessage({ error: String((err as Error)?.stack ?? err) });
    }
    Atomics.add(control, Word.Done, 1);
    Atomics.notify(control, Word.Done);
  }
}
port.close();
