// Request bodies under 64 KiB are read into slots of one SharedArrayBuffer that the worker shares with
// its inference threads, instead of into a fresh ArrayBuffer per request.
//
// Why: every fresh ArrayBuffer is external memory to V8, and a worker reading ~1,500 bodies of 30 KB a
// second hit V8's external-memory limit often enough to run a full mark-compact GC every ~100 ms (4-11 ms
// each, on the thread that also serves HTTP). A view of a SharedArrayBuffer reaches the thread without a
// copy and without allocating anything per request. Bodies too large for a slot, or arriving when every
// slot is taken, get their own buffer as before.
//
// A slot is taken by the HTTP layer while it reads a body and given back by the pool once no thread can
// still read it: when the invocation's thread has finished (even if the caller was already answered
// 504), or when it is dropped before reaching a thread.

/** Where request bodies are read into: a shared slot when one fits and is free, else undefined. */
export interface BodyMemory {
  take(bytes: number): Uint8Array | undefined;
  release(body: Uint8Array): void;
}

export class SharedBodies implements BodyMemory {
  private slab: SharedArrayBuffer | undefined;
  /** Free slot indices, used as a stack: the most recently freed slot (cache-warm, pages resident) goes first. */
  private readonly free: number[] = [];
  /** The view handed out for each taken slot: only that very view gives the slot back. */
  private readonly owners: (Uint8Array | undefined)[];

  constructor(
    readonly slots: number,
    readonly slotBytes: number,
  ) {
    this.owners = new Array<Uint8Array | undefined>(slots).fill(undefined);
    for (let i = slots - 1; i >= 0; i--) this.free.push(i);
  }

  take(bytes: number): Uint8Array | undefined {
    if (bytes > this.slotBytes || this.free.length === 0) return undefined;
    // Allocated on first use: untouched pages of a SharedArrayBuffer cost address space, not memory.
    this.slab ??= new SharedArrayBuffer(this.slots * this.slotBytes);
    const slot = this.free.pop()!;
    const view = new Uint8Array(this.slab, slot * this.slotBytes, bytes);
    this.owners[slot] = view;
    return view;
  }

  /**
   * Gives a slot back. Anything but the view that currently holds its slot is ignored: a body of another
   * buffer, and a view already given back, even when its slot has been taken again since.
   */
  release(body: Uint8Array): void {
    if (this.slab === undefined || body.buffer !== this.slab) return;
    const slot = Math.floor(body.byteOffset / this.slotBytes);
    if (this.owners[slot] !== body) return;
    this.owners[slot] = undefined;
    this.free.push(slot);
  }

  /** Slots currently taken (for tests). */
  get inUse(): number {
    return this.slots - this.free.length;
  }
}
