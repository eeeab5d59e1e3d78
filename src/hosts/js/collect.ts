// Thread side of the memory limit (memory-watch.ts): a full GC on the host's
// request, then the heap and external memory that are left. V8 offers a GC
// function only under `--expose-gc`; the flag is set for the moment it takes
// to make one context that has it, then cleared (V8's flags are the
// process's), so plugin code never sees a `gc` global.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Gc = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => unknown;

let gc: Gc | undefined;

function gcFunction(): Gc {
  if (gc !== undefined) return gc;
  // A process started with --expose-gc gives every context one already.
  const existing: unknown = (globalThis as { gc?: unknown }).gc;
  if (typeof existing === 'function') {
    gc = existing as Gc;
    return gc;
  }
  setFlagsFromString('--expose-gc');
  let made: unknown;
  try {
    made = runInNewContext('gc');
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
  if (typeof made !== 'function') throw new TypeError('V8 gave no gc function under --expose-gc');
  gc = made as Gc;
  return gc;
}

/** Collects all garbage now; returns what the heap and external memory hold after it, in bytes. */
export function collectGarbage(): { heapBytes: number; externalBytes: number } {
  gcFunction()({ type: 'major', execution: 'sync' });
  const s = getHeapStatistics();
  return { heapBytes: s.used_heap_size, externalBytes: s.external_memory };
}
