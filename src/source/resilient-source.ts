import { sleepLong } from '../shared/index.ts';
import type { EventLogEntry } from '../shared/index.ts';
import type { EventSource, SourceLogger } from './types.ts';

export interface SiteRetryOptions {
  /** Failures in a row before an alert goes out (shotgunEvents `max_conn_retries`). */
  maxConnRetries: number;
  /** Pause between attempts after a failure (shotgunEvents `conn_retry_sleep`). */
  connRetrySleepMs: number;
  logger: SourceLogger;
  /** Called once when the retries are spent, and once when the site answers again. */
  onAlert?: (kind: 'site-down' | 'site-up', err?: unknown) => void;
}

/**
 * Wraps an event source so that connection failures, 5xx answers and
 * timeouts never surface to the engine: it logs, backs off, alerts after the
 * retries are spent, and keeps trying until the site answers or the daemon
 * stops (the abort signal). Nothing is skipped: the same read is repeated.
 */
export class ResilientEventSource implements EventSource {
  readonly #inner: EventSource;
  readonly #opts: SiteRetryOptions;
  #failuresInRow = 0;
  #alerted = false;
  #lastSuccessAt = 0;
  #errors = 0;

  constructor(inner: EventSource, opts: SiteRetryOptions) {
    this.#inner = inner;
    this.#opts = opts;
  }

  /** Epoch ms of the last successful read (0 before the first). */
  get lastSuccessAt(): number {
    return this.#lastSuccessAt;
  }

  /** Failed site requests since start. */
  get errorCount(): number {
    return this.#errors;
  }

  newestId(signal?: AbortSignal): Promise<number> {
    return this.#retry('newestId', (s) => this.#inner.newestId(s), signal);
  }

  readAfter(afterId: number, limit: number, signal?: AbortSignal): Promise<EventLogEntry[]> {
    return this.#retry('readAfter', (s) => this.#inner.readAfter(afterId, limit, s), signal);
  }

  readIds(ids: readonly number[], signal?: AbortSignal): Promise<EventLogEntry[]> {
    return this.#retry('readIds', (s) => this.#inner.readIds(ids, s), signal);
  }

  async #retry<T>(what: string, fn: (signal?: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (;;) {
      signal?.throwIfAborted();
      try {
        const out = await fn(signal);
        this.#lastSuccessAt = Date.now();
        if (this.#failuresInRow > 0) {
          this.#opts.logger.info({ failures: this.#failuresInRow }, 'site answers again');
          if (this.#alerted) this.#opts.onAlert?.('site-up');
        }
        this.#failuresInRow = 0;
        this.#alerted = false;
        return out;
      } catch (err) {
        if (signal?.aborted) throw err;
        this.#errors++;
        this.#failuresInRow++;
        const delay = Math.min(this.#opts.connRetrySleepMs * Math.min(this.#failuresInRow, 4), 5 * this.#opts.connRetrySleepMs);
        this.#opts.logger.warn({ err, what, attempt: this.#failuresInRow, retryInMs: delay }, 'site request failed; retrying');
        if (this.#failuresInRow >= this.#opts.maxConnRetries && !this.#alerted) {
          this.#alerted = true;
          this.#opts.logger.error({ err, failures: this.#failuresInRow }, 'site unreachable; still retrying');
          this.#opts.onAlert?.('site-down', err);
        }
        await sleepLong(delay, { signal });
      }
    }
  }
}
