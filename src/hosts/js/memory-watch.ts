// A plugin thread's memory limit (`maxMemoryMb`), enforced from the main
// thread. V8's own limit for the thread is four times higher
// (HEAP_HEADROOM): one array or Map grown step by step (its backing store
// copied into one half as large again, both live during the copy) is then
// over the configured limit for at least a whole step before a step could
// reach V8's limit, where V8 aborts the whole process rather than the
// thread. The configured limit is checked here:
//
// - every `sampleMs` the thread's heap and external memory (Buffers) are read
//   with `worker.getHeapStatistics()`, which answers even while the thread
//   runs synchronous code;
// - a sample over the limit may be garbage not yet collected, so the thread
//   is asked to collect (a `collect` message: a full GC in the thread) and to
//   report what is left; it is ended only if that is still over the limit;
// - a thread that does not answer (busy in synchronous code) and stays over
//   the limit on every sample for `busyMs` (1 s) is ended without that proof;
// - while a thread is over its limit it is read five times as often, and a
//   reading at half V8's limit for it ends it at once (`runaway`): one more
//   growth step of a single array or Map from there could reach V8's limit.
//
// See docs/ARCHITECTURE.md, "Plugin threads' memory limit".
import type { Worker } from 'node:worker_threads';

/** V8's heap limit for a thread, as a multiple of its configured limit. */
export const HEAP_HEADROOM = 4;

/** The figures that ended a thread, in MB, and how they were seen. */
export interface MemoryOver {
  heapMb: number;
  externalMb: number;
  /**
   * `collected`: after a full GC in the thread; `busy`: on every sample for
   * `busyMs`, the thread not answering; `runaway`: a reading at half V8's
   * limit for the thread, before it answered.
   */
  seen: 'collected' | 'busy' | 'runaway';
}

export interface MemoryWatchOptions {
  limitMb: number;
  /** How often the thread's memory is read (default 100 ms). */
  sampleMs?: number | undefined;
  /** How long a thread that does not answer may stay over the limit (default 1000 ms). */
  busyMs?: number | undefined;
  /** Sends the thread a `collect` message. */
  askCollect: () => void;
  /** The thread is over its limit: end it. Called at most once. */
  onOver: (over: MemoryOver) => void;
}

const MB = 1024 * 1024;

/** One thread's watch; ends with the thread (or `stop()`). */
export class MemoryWatch {
  readonly #o: MemoryWatchOptions;
  readonly #worker: Worker;
  readonly #timer: NodeJS.Timeout;
  /** The faster readings while the thread is over its limit. */
  #fast: NodeJS.Timeout | null = null;
  /** When the first sample over the limit was seen, while the thread's answer is awaited. */
  #overSince: number | null = null;
  #ended = false;

  constructor(worker: Worker, options: MemoryWatchOptions) {
    this.#o = options;
    this.#worker = worker;
    this.#timer = setInterval(() => this.#read(), options.sampleMs ?? 100);
    this.#timer.unref();
    worker.once('exit', () => this.stop());
  }

  #read(): void {
    this.#worker.getHeapStatistics().then(
      (s) => this.#sample(s.used_heap_size / MB, s.external_memory / MB),
      () => undefined, // Not running yet (starting) or any more (exiting): the next sample or 'exit' decides.
    );
  }

  /** The thread's answer to `collect`: its heap and external memory after a full GC, in bytes. */
  collected(heapBytes: number, externalBytes: number): void {
    const heapMb = heapBytes / MB;
    const externalMb = externalBytes / MB;
    if (this.#isOver(heapMb, externalMb)) this.#end({ heapMb, externalMb, seen: 'collected' });
    else {
      this.#overSince = null;
      this.#slowDown();
    }
  }

  stop(): void {
    this.#ended = true;
    clearInterval(this.#timer);
    this.#slowDown();
  }

  #slowDown(): void {
    if (this.#fast !== null) clearInterval(this.#fast);
    this.#fast = null;
  }

  #sample(heapMb: number, externalMb: number): void {
    if (this.#ended) return;
    if (!this.#isOver(heapMb, externalMb)) {
      // Below again: V8 collected on its own (a late answer is judged on its own figures).
      this.#overSince = null;
      this.#slowDown();
      return;
    }
    if (heapMb >= this.#o.limitMb * (HEAP_HEADROOM / 2)) {
      this.#end({ heapMb, externalMb, seen: 'runaway' });
      return;
    }
    const now = performance.now();
    if (this.#overSince === null) {
      this.#overSince = now;
      this.#o.askCollect();
      const every = Math.max(10, (this.#o.sampleMs ?? 100) / 5);
      this.#fast ??= setInterval(() => this.#read(), every);
      this.#fast.unref();
    } else if (now - this.#overSince >= (this.#o.busyMs ?? 1000)) {
      this.#end({ heapMb, externalMb, seen: 'busy' });
    }
  }

  #isOver(heapMb: number, externalMb: number): boolean {
    return heapMb > this.#o.limitMb || externalMb > this.#o.limitMb;
  }

  #end(over: MemoryOver): void {
    if (this.#ended) return;
    this.stop();
    this.#o.onOver(over);
  }
}
