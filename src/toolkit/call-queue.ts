import { PyrpcError } from '../pyrpc/index.ts';
import { ToolkitError } from './errors.ts';

/** One call waiting for a free runtime of its key. */
interface Waiting<T> {
  resolve: (lease: T) => void;
  reject: (err: Error) => void;
  /** Stops listening for an abort once the call has a runtime. */
  unlisten?: (() => void) | undefined;
}

/**
 * Calls waiting for a free runtime, one queue per pool key, oldest first. A
 * call waits here, not in a runtime's own queue, so it goes to whichever
 * runtime of its key frees up first (never behind a hung call while another
 * runtime is free) and its timeout, armed when the runtime is handed the
 * call, never counts the wait. Bounded by `limit` per key (TK_QUEUE_FULL);
 * a caller's signal drops its call (TK_CALL_ABORTED, `sent: false`).
 */
export class CallQueue<T> {
  readonly #limit: number;
  readonly #queues = new Map<string, Waiting<T>[]>();

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Calls waiting for `key`. */
  size(key: string): number {
    return this.#queues.get(key)?.length ?? 0;
  }

  /** Keys with calls waiting. */
  keys(): string[] {
    return [...this.#queues.keys()];
  }

  /** Waits for `hand(key, lease)`; rejects when the queue is full, the signal fires or `fail(key)` is called. */
  wait(key: string, project: number, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(aborted(key, project));
    const queue = this.#queues.get(key) ?? [];
    if (queue.length >= this.#limit) {
      return Promise.reject(new ToolkitError('TK_QUEUE_FULL', `toolkit runtimes for ${key} have ${queue.length} calls waiting`, {
        details: { key, project, queueLimit: this.#limit },
      }));
    }
    this.#queues.set(key, queue);
    return new Promise<T>((resolve, reject) => {
      const w: Waiting<T> = { resolve, reject };
      if (signal) {
        const drop = (): void => {
          const q = this.#queues.get(key);
          const i = q?.indexOf(w) ?? -1;
          if (q === undefined || i < 0) return;
          q.splice(i, 1);
          if (q.length === 0) this.#queues.delete(key);
          reject(aborted(key, project));
        };
        signal.addEventListener('abort', drop, { once: true });
        w.unlisten = () => signal.removeEventListener('abort', drop);
      }
      queue.push(w);
    });
  }

  /** Gives the oldest call of `key` its runtime; false when none waits. */
  hand(key: string, lease: T): boolean {
    const queue = this.#queues.get(key);
    const w = queue?.shift();
    if (queue?.length === 0) this.#queues.delete(key);
    if (w === undefined) return false;
    w.unlisten?.();
    w.resolve(lease);
    return true;
  }

  /** Rejects every call of `key` (or of every key). */
  fail(key: string | null, err: Error): void {
    for (const k of key === null ? this.keys() : [key]) {
      for (const w of this.#queues.get(k) ?? []) {
        w.unlisten?.();
        w.reject(err);
      }
      this.#queues.delete(k);
    }
  }
}

function aborted(key: string, project: number): PyrpcError {
  return new PyrpcError('TK_CALL_ABORTED', `toolkit call for project ${project} abandoned by its caller while it waited for a runtime`, {
    details: { key, project, sent: false },
  });
}
