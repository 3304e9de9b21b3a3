// Gives the memory a process has freed back to the system. glibc's malloc keeps freed memory for reuse
// within the process, and can return it on free() only from the top of a heap: what a worker released
// with a model (its sessions, the arenas of its exited threads) stayed resident wherever other allocations
// sat above it (a tree ensemble left a third of what it took, a multi-model endpoint grew past its memory
// limit with nothing loaded). malloc_trim(0) returns every free page of every arena. It is called through
// koffi (an FFI with prebuilt binaries in its package); without glibc (musl, macOS) it does nothing.

type Trim = (pad: number) => number;

let trim: Trim | null | undefined;

/** Returns the process's free memory to the system (glibc's malloc_trim); false where there is no glibc. */
export function releaseFreedMemory(): boolean {
  if (trim === undefined) {
    try {
      // Loaded only by the processes that release models (multi-model workers), when they first do.
      const koffi = require('koffi') as { load(library: string): { func(signature: string): Trim } };
      trim = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)');
    } catch {
      trim = null;
    }
  }
  if (!trim) return false;
  trim(0);
  return true;
}
