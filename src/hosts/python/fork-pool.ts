import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { PyrpcError, type ChildLogger, type PythonChild } from '../../pyrpc/index.ts';
import { ForkedWorker } from './forked-worker.ts';
import type { PythonProcessBudget } from './process-budget.ts';

export interface ForkPoolOptions {
  plugin: string;
  /** The plugin's own process, with the plugin loaded: it forks the workers (`plugin_fork`). */
  forkServer: PythonChild;
  /** Workers of this plugin at most (the effective `concurrency.max`). */
  max: number;
  budget: PythonProcessBudget;
  /** Extra workers (all but one) end after this long without an event; null: they stay. */
  idleMs: number | null;
  /** Bound on a fork: the fork answer, the worker's connection and its `init`. */
  startTimeoutMs: number;
  maxMessageBytes: number;
  stopTimeoutMs: number;
  maxRssMb?: number | undefined;
  logger: ChildLogger;
}

/** A worker lent to one call; `release()` once the call ended (the pool sees whether the worker survived). */
export interface WorkerLease {
  readonly worker: ForkedWorker;
  release(): void;
}

interface Waiter {
  key: string | undefined;
  resolve: (lease: WorkerLease) => void;
  reject: (err: Error) => void;
  unlisten: () => void;
}

interface Slot {
  readonly n: number;
  worker: ForkedWorker | null;
  busy: boolean;
  /** Calls given to this worker and not started, in order. */
  readonly queue: Waiter[];
  /** Keys with calls queued or running here, and how many. */
  readonly keys: Map<string, number>;
  idleTimer: NodeJS.Timeout | undefined;
}

const ForkAnswer = z.object({ pid: z.number().int().positive() });
/** Keys whose last worker is remembered (a soft preference, for warm per-key caches). */
const AFFINITY_KEYS = 4096;

/**
 * The forked workers of one concurrent Python plugin, and which call runs on
 * which. A key sticks to one worker while it has calls queued or running
 * there (`bound`); a key with nothing there goes to an idle worker (the one
 * it last ran on, if idle), else to a new worker while the plugin has fewer
 * than `max` and the daemon-wide budget allows, else it waits for the first
 * worker that frees up. A worker runs one call at a time. A worker that dies
 * (timeout, crash, memory, cancel) leaves alone: its calls not started go
 * back to the front of the wait, and a new worker is forked when needed.
 */
export class ForkPool {
  readonly #o: ForkPoolOptions;
  readonly #dir: string;
  readonly #slots = new Set<Slot>();
  readonly #bound = new Map<string, Slot>();
  readonly #affinity = new Map<string, Slot>();
  #waiting: Waiter[] = [];
  #seq = 0;
  #closed = false;
  readonly #unsubscribe: () => void;

  constructor(o: ForkPoolOptions) {
    this.#o = o;
    // 0700: only this user reaches the workers' sockets.
    this.#dir = mkdtempSync(path.join(tmpdir(), 'sgeventd-py-'));
    this.#unsubscribe = o.budget.onFree(() => this.#pump());
  }

  /** True once close() began: calls cut off then were not the workers' fault. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Pids of the workers alive now. */
  get pids(): number[] {
    return [...this.#slots].flatMap((s) => (s.worker?.state === 'ready' ? [s.worker.pid] : []));
  }

  /** Starts the first worker, so a plugin that cannot be forked fails at load; throws its coded error. */
  async warm(): Promise<void> {
    if (this.#slots.size > 0) return;
    const slot = this.#newSlot(true);
    if (slot === null) throw new PyrpcError('TK_RUNTIME_CLOSED', `Python plugin ${this.#o.plugin} is closed`);
    await this.#start(slot);
  }

  /** A worker for a call of `key` (see the class); `signal` abandons the wait (rejects with TK_CALL_ABORTED). */
  acquire(key: string | undefined, signal?: AbortSignal): Promise<WorkerLease> {
    if (this.#closed) return Promise.reject(new PyrpcError('TK_RUNTIME_CLOSED', `Python plugin ${this.#o.plugin} is closed`));
    return new Promise<WorkerLease>((resolve, reject) => {
      const onAbort = (): void => {
        if (!this.#dequeue(w)) return;
        reject(new PyrpcError('TK_CALL_ABORTED', `a call of Python plugin ${this.#o.plugin} was abandoned before it started`, { details: { plugin: this.#o.plugin, sent: false } }));
      };
      const w: Waiter = { key, resolve, reject, unlisten: () => signal?.removeEventListener('abort', onAbort) };
      if (signal?.aborted === true) {
        reject(new PyrpcError('TK_CALL_ABORTED', `a call of Python plugin ${this.#o.plugin} was abandoned before it started`, { details: { plugin: this.#o.plugin, sent: false } }));
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#route(w);
    });
  }

  /** Kills every worker (calls running end with TK_RUNTIME_CLOSED, waiting ones are rejected); idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    const err = new PyrpcError('TK_RUNTIME_CLOSED', `Python plugin ${this.#o.plugin} is closing`, { details: { plugin: this.#o.plugin, sent: false } });
    const waiters = [...this.#waiting, ...[...this.#slots].flatMap((s) => s.queue.splice(0))];
    this.#waiting = [];
    for (const w of waiters) {
      w.unlisten();
      w.reject(err);
    }
    const slots = [...this.#slots];
    this.#slots.clear();
    this.#bound.clear();
    this.#affinity.clear();
    await Promise.allSettled(slots.map(async (s) => {
      clearTimeout(s.idleTimer);
      this.#o.budget.give();
      await s.worker?.kill();
    }));
    rmSync(this.#dir, { recursive: true, force: true });
  }

  #route(w: Waiter): void {
    const k = w.key;
    if (k !== undefined) {
      const bound = this.#bound.get(k);
      if (bound !== undefined) return this.#enqueue(bound, w);
      // Behind an earlier call of the same key that waits for a worker.
      if (this.#waiting.some((x) => x.key === k)) {
        this.#waiting.push(w);
        return;
      }
    }
    const slot = this.#idleSlot(k) ?? this.#newSlot(false);
    if (slot === null) this.#waiting.push(w);
    else this.#enqueue(slot, w);
  }

  #enqueue(slot: Slot, w: Waiter): void {
    slot.queue.push(w);
    if (w.key !== undefined) {
      slot.keys.set(w.key, (slot.keys.get(w.key) ?? 0) + 1);
      this.#bound.set(w.key, slot);
    }
    clearTimeout(slot.idleTimer);
    slot.idleTimer = undefined;
    this.#next(slot);
  }

  /** Starts the slot's next call if it is free. */
  #next(slot: Slot): void {
    const worker = slot.worker;
    if (slot.busy || worker === null || worker.state !== 'ready' || !this.#slots.has(slot)) return;
    const w = slot.queue.shift();
    if (w === undefined) {
      this.#pump();
      if (!slot.busy && slot.queue.length === 0) this.#armIdle(slot);
      return;
    }
    w.unlisten();
    slot.busy = true;
    let released = false;
    w.resolve({
      worker,
      release: () => {
        if (released) return;
        released = true;
        this.#release(slot, w.key);
      },
    });
  }

  #release(slot: Slot, key: string | undefined): void {
    slot.busy = false;
    if (key !== undefined) {
      const left = (slot.keys.get(key) ?? 1) - 1;
      if (left > 0) slot.keys.set(key, left);
      else {
        slot.keys.delete(key);
        if (this.#bound.get(key) === slot) this.#bound.delete(key);
      }
      this.#affinity.delete(key);
      this.#affinity.set(key, slot);
      if (this.#affinity.size > AFFINITY_KEYS) {
        const oldest = this.#affinity.keys().next();
        if (oldest.done !== true) this.#affinity.delete(oldest.value);
      }
    }
    if (slot.worker?.state !== 'ready') this.#lose(slot, null);
    else this.#next(slot);
  }

  /** Gives waiting calls to idle or new workers, in order; the later calls of a key follow it. */
  #pump(): void {
    while (!this.#closed && this.#waiting.length > 0) {
      const head = this.#waiting[0] as Waiter;
      const slot = (head.key !== undefined ? this.#bound.get(head.key) : undefined) ?? this.#idleSlot(head.key) ?? this.#newSlot(false);
      if (slot === null) return;
      const same = head.key === undefined ? [head] : this.#waiting.filter((x) => x.key === head.key);
      this.#waiting = this.#waiting.filter((x) => !same.includes(x));
      for (const w of same) this.#enqueue(slot, w);
    }
  }

  #idleSlot(key: string | undefined): Slot | null {
    const idle = (s: Slot | undefined): s is Slot =>
      s !== undefined && this.#slots.has(s) && !s.busy && s.queue.length === 0 && s.worker?.state === 'ready';
    const preferred = key === undefined ? undefined : this.#affinity.get(key);
    if (idle(preferred)) return preferred;
    for (const s of this.#slots) if (idle(s)) return s;
    return null;
  }

  /** A new worker, when this plugin has fewer than `max` and the budget gives a slot (always for its first). */
  #newSlot(first: boolean): Slot | null {
    if (this.#closed || this.#slots.size >= this.#o.max) return null;
    if (!this.#o.budget.take(first || this.#slots.size === 0)) return null;
    this.#seq += 1;
    const slot: Slot = { n: this.#seq, worker: null, busy: false, queue: [], keys: new Map(), idleTimer: undefined };
    this.#slots.add(slot);
    if (!first) {
      this.#start(slot).catch((err: unknown) => {
        this.#o.logger.warn({ plugin: this.#o.plugin, err: err instanceof Error ? err.message : String(err), code: err instanceof PyrpcError ? err.code : undefined }, 'forking a Python worker failed');
      });
    }
    return slot;
  }

  async #start(slot: Slot): Promise<void> {
    try {
      const worker = await this.#fork(slot.n);
      if (!this.#slots.has(slot)) {
        await worker.kill();
        return;
      }
      slot.worker = worker;
      worker.onExit(() => { if (!slot.busy) this.#lose(slot, null); });
      this.#next(slot);
    } catch (err) {
      this.#lose(slot, err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
  }

  /** Forks a worker from the plugin's process and waits for it to connect and answer `init`. */
  async #fork(n: number): Promise<ForkedWorker> {
    const o = this.#o;
    const socketPath = path.join(this.#dir, `w${String(n)}.sock`);
    const server = createServer();
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(socketPath, () => resolve());
      });
      const connected = new Promise<Socket>((resolve, reject) => {
        server.once('connection', resolve);
        timer = setTimeout(() => reject(new PyrpcError('TK_INIT_TIMEOUT', `a forked worker of Python plugin ${o.plugin} did not connect within ${o.startTimeoutMs} ms`, {
          details: { plugin: o.plugin },
        })), o.startTimeoutMs);
      });
      connected.catch(() => undefined); // awaited below; a fork failure must not leave it unhandled
      const answer = ForkAnswer.parse(await o.forkServer.request('plugin_fork', { socket: socketPath }, { timeoutMs: o.startTimeoutMs }));
      const socket = await connected;
      const details = { plugin: o.plugin, worker: n, pid: answer.pid };
      return await ForkedWorker.start({
        label: `Python plugin ${o.plugin}, worker ${String(n)}`, details, socket, pid: answer.pid,
        initTimeoutMs: o.startTimeoutMs, maxMessageBytes: o.maxMessageBytes, stopTimeoutMs: o.stopTimeoutMs, maxRssMb: o.maxRssMb, logger: o.logger,
      });
    } finally {
      clearTimeout(timer);
      // Stops listening; the accepted socket stays open (close's callback would wait for it).
      server.close();
      rmSync(socketPath, { force: true });
    }
  }

  /** A worker is gone (or never started): its slot goes back; its calls not started wait again, first in line. */
  #lose(slot: Slot, err: Error | null): void {
    if (!this.#slots.delete(slot)) return;
    clearTimeout(slot.idleTimer);
    this.#o.budget.give();
    for (const k of slot.keys.keys()) if (this.#bound.get(k) === slot) this.#bound.delete(k);
    const queued = slot.queue.splice(0);
    if (err !== null && this.#slots.size === 0) {
      // No worker at all: the calls fail with the reason rather than wait for a fork that fails again.
      for (const w of queued) {
        w.unlisten();
        w.reject(err);
      }
    } else this.#waiting.unshift(...queued);
    this.#pump();
  }

  #armIdle(slot: Slot): void {
    const idleMs = this.#o.idleMs;
    if (idleMs === null || this.#slots.size <= 1 || slot.idleTimer !== undefined) return;
    slot.idleTimer = setTimeout(() => {
      slot.idleTimer = undefined;
      if (slot.busy || slot.queue.length > 0 || this.#slots.size <= 1 || !this.#slots.delete(slot)) return;
      this.#o.budget.give();
      slot.worker?.close().catch((err: unknown) => this.#o.logger.warn({ plugin: this.#o.plugin, err: String(err) }, 'stopping an idle Python worker failed'));
    }, idleMs);
    slot.idleTimer.unref();
  }

  /** Removes a waiting call; false when it already got a worker. */
  #dequeue(w: Waiter): boolean {
    const i = this.#waiting.indexOf(w);
    if (i >= 0) {
      this.#waiting.splice(i, 1);
      return true;
    }
    for (const s of this.#slots) {
      const j = s.queue.indexOf(w);
      if (j < 0) continue;
      s.queue.splice(j, 1);
      if (w.key !== undefined) {
        const left = (s.keys.get(w.key) ?? 1) - 1;
        if (left > 0) s.keys.set(w.key, left);
        else {
          s.keys.delete(w.key);
          if (this.#bound.get(w.key) === s) this.#bound.delete(w.key);
        }
      }
      return true;
    }
    return false;
  }
}
