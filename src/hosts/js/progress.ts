// What a plugin thread has done with a batch of events, in memory shared with
// the host. The worker writes it as it goes; the host reads it when the batch
// ends, when a callback runs too long (the watchdog needs no message per
// callback), and when the thread dies mid-batch (nothing that ran is lost).
//
// Layout: Int32 [callbacks finished, callbacks begun, event index, callback
// index], then Float64 [start of the running callback, then per finished
// callback: event index, callback index, started at (epoch ms), duration ms,
// failed (0 or 1)].

const INTS = 4;
const ENTRY = 5;
const DONE = 0;
const BEGUN = 1;
const EVENT = 2;
const CALLBACK = 3;

export interface ProgressEntry {
  event: number;
  callback: number;
  startedAt: number;
  durationMs: number;
  failed: boolean;
}

export interface RunningCallback {
  /** How many callbacks had begun, this one included: identifies the run. */
  run: number;
  event: number;
  callback: number;
  startedAt: number;
}

export class BatchProgress {
  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;
  readonly #ints: Int32Array;
  readonly #f64: Float64Array;

  constructor(bufferOrCapacity: SharedArrayBuffer | number) {
    this.buffer = typeof bufferOrCapacity === 'number'
      ? new SharedArrayBuffer(INTS * 4 + (1 + bufferOrCapacity * ENTRY) * 8)
      : bufferOrCapacity;
    this.#ints = new Int32Array(this.buffer, 0, INTS);
    this.#f64 = new Float64Array(this.buffer, INTS * 4);
    this.capacity = Math.floor((this.#f64.length - 1) / ENTRY);
  }

  /** Host: clears the record before a batch is sent. */
  reset(): void {
    Atomics.store(this.#ints, DONE, 0);
    Atomics.store(this.#ints, BEGUN, 0);
  }

  /** Worker: a callback starts. */
  begin(event: number, callback: number, startedAt: number): void {
    this.#f64[0] = startedAt;
    this.#ints[EVENT] = event;
    this.#ints[CALLBACK] = callback;
    Atomics.add(this.#ints, BEGUN, 1);
  }

  /** Worker: the callback that began last has finished. False when the buffer is full. */
  end(event: number, callback: number, startedAt: number, durationMs: number, failed: boolean): boolean {
    const done = Atomics.load(this.#ints, DONE);
    if (done >= this.capacity) return false;
    const at = 1 + done * ENTRY;
    this.#f64[at] = event;
    this.#f64[at + 1] = callback;
    this.#f64[at + 2] = startedAt;
    this.#f64[at + 3] = durationMs;
    this.#f64[at + 4] = failed ? 1 : 0;
    Atomics.store(this.#ints, DONE, done + 1);
    return true;
  }

  /** Host: the finished callbacks, in the order they ran. */
  entries(): ProgressEntry[] {
    const out: ProgressEntry[] = [];
    this.each(Infinity, (event, callback, startedAt, durationMs, failed) => out.push({ event, callback, startedAt, durationMs, failed }));
    return out;
  }

  /** Host: visits the first `limit` finished callbacks in order (no object per entry). */
  each(limit: number, visit: (event: number, callback: number, startedAt: number, durationMs: number, failed: boolean) => void): void {
    const done = Math.min(Atomics.load(this.#ints, DONE), this.capacity, limit);
    const f = this.#f64;
    for (let i = 0; i < done; i++) {
      const at = 1 + i * ENTRY;
      visit(f[at] ?? 0, f[at + 1] ?? 0, f[at + 2] ?? 0, f[at + 3] ?? 0, f[at + 4] === 1);
    }
  }

  /** Host: the callback running now, or null between callbacks. */
  running(): RunningCallback | null {
    for (;;) {
      const run = Atomics.load(this.#ints, BEGUN);
      if (run <= Atomics.load(this.#ints, DONE)) return null;
      const seen = { run, event: this.#ints[EVENT] ?? 0, callback: this.#ints[CALLBACK] ?? 0, startedAt: this.#f64[0] ?? 0 };
      // A callback that began while these were read: read again.
      if (Atomics.load(this.#ints, BEGUN) === run) return seen;
    }
  }
}
