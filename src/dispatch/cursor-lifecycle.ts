// What every plugin cursor does the same way, whether it runs one event at a
// time (PluginCursor) or several keys at once (ConcurrentCursor): its life
// (start, stop, drain), its status, deactivation, the row it stores, and
// where dead letters to retry come from.
import type { EventLogEntry } from '../shared/index.ts';
import type { SerializedError } from '../plugins/index.ts';
import type { EventLogCulledError } from '../source/index.ts';
import { reportDeactivation, type CursorCounters, type StepContext } from './cursor-steps.ts';
import type { CursorHandler, CursorOptions, CursorStatus, RetryItem } from './cursor-types.ts';
import type { StateBatcher } from './state-batcher.ts';

/** What a cursor has in hand right now, for `status`, the page and `/metrics`. */
export interface CursorLoad {
  /** Events whose callbacks are running. */
  inFlight: number;
  /** Key lanes with an event running (the serial cursor is one lane). */
  lanesBusy: number;
  /** The lowest id handed out and not finished (running, queued, parked, or folded into one that is); null when none. */
  oldestUnfinished: number | null;
}

export interface StoredRow {
  id: string;
  folder: string;
  name: string;
  lastEventId: number;
  active: boolean;
  lastError: string | null;
}

export abstract class CursorLifecycle {
  readonly id: string;
  readonly counters: CursorCounters = { processed: 0, skipped: 0, failed: 0, totalMs: 0 };
  protected readonly opts: CursorOptions;
  protected readonly batcher: StateBatcher | null;
  protected readonly ctx: StepContext;
  protected retryTaker: ((limit: number) => Promise<RetryItem[]>) | null = null;
  protected lastErrorText: string | null;
  #status: CursorStatus = 'stopped';
  #stop = new AbortController();
  #running: Promise<void> | null = null;

  constructor(handler: CursorHandler, batcher: StateBatcher | null, opts: CursorOptions, lastError: string | null) {
    this.id = opts.id;
    this.opts = opts;
    this.batcher = batcher;
    this.lastErrorText = lastError;
    this.ctx = { opts, handler, batcher, counters: this.counters };
  }

  get status(): CursorStatus {
    return this.#status;
  }

  get lastError(): string | null {
    return this.lastErrorText;
  }

  /** The stored cursor: every id at or below it is finished, pending or a gap. */
  abstract get lastEventId(): number;
  abstract get backlogSize(): number;
  abstract get backlogIds(): number[];
  abstract load(): CursorLoad;

  /** Where retries of dead letters come from (the engine wires the state store in). */
  setRetrySource(take: (limit: number) => Promise<RetryItem[]>): void {
    this.retryTaker = take;
  }

  /** Starts the cursor's loop; resolves when it stopped (callbacks in flight finished) or the plugin was deactivated. */
  start(): Promise<void> {
    if (this.#running) return this.#running;
    this.#stop = new AbortController();
    this.#status = 'running';
    this.#running = this.loop(this.#stop.signal).catch((err: unknown) => {
      // A fault of the daemon itself (not of the plugin): the cursor stops, its cursor kept.
      this.opts.logger.error({ err }, 'plugin cursor stopped by an unexpected error; it resumes at its cursor on reload or restart');
      this.#stop.abort();
    }).then(() => this.drain()).finally(() => {
      this.#running = null;
      this.stopped();
      if (this.#status !== 'deactivated') this.#status = 'stopped';
    });
    return this.#running;
  }

  /** Hands out nothing more, lets the callbacks in flight finish (never cut short here), then stops. */
  async stop(): Promise<void> {
    if (this.#status === 'running') this.#status = 'stopping';
    this.#stop.abort();
    this.wake();
    await this.#running;
  }

  /** Aborted by stop(), or by the cursor itself (a final failure stops handing out events). */
  protected get signal(): AbortSignal {
    return this.#stop.signal;
  }

  protected halt(): void {
    this.#stop.abort();
  }

  protected abstract loop(signal: AbortSignal): Promise<void>;

  /** Resolves once no callback is in flight. */
  protected drain(): Promise<void> {
    return Promise.resolve();
  }

  /** Wakes a loop waiting for a lane (stop() calls it). */
  protected wake(): void {}

  /** After the loop and the drain. */
  protected stopped(): void {}

  protected deactivate(event: EventLogEntry, callback: string | null, error: SerializedError): void {
    this.#status = 'deactivated';
    this.lastErrorText = `${callback ?? 'plugin'}: ${error.message}`;
    this.counters.failed++;
    reportDeactivation(this.ctx, event, callback, error);
    if (!this.opts.replay) this.batcher?.plugin(this.row(false));
  }

  /**
   * The site culled its log below this cursor (EVENT_LOG_CULLED): the plugin
   * stops, deactivated with the range named, instead of skipping it; it
   * resumes at the oldest event after `sgeventd plugin ack-gap`.
   */
  protected stopAtCulledLog(err: EventLogCulledError): void {
    this.#status = 'deactivated';
    this.lastErrorText = `${err.code}: ${err.message}`;
    this.opts.logger.error({ err, from: err.after + 1, to: err.oldestId - 1 }, 'the site culled its event log below this plugin\'s cursor: plugin stopped');
    const error: SerializedError = { name: err.name, code: err.code, message: err.message, details: { ...err.details } };
    this.opts.onFailure?.({ plugin: this.opts.name, callback: null, eventId: err.oldestId, error, action: 'deactivated' });
    if (!this.opts.replay) this.batcher?.plugin(this.row(false));
    this.halt();
  }

  protected row(active: boolean): StoredRow {
    return { id: this.id, folder: this.opts.folder, name: this.opts.name, lastEventId: this.lastEventId, active, lastError: this.lastErrorText };
  }

  /** Dead letters marked for retry, run one at a time outside any lane; false when stopped in the middle. */
  protected async runRetries(run: (event: EventLogEntry) => Promise<{ kind: string; error?: SerializedError }>): Promise<boolean> {
    if (this.retryTaker === null) return true;
    const items = await this.retryTaker(20);
    for (const [i, item] of items.entries()) {
      const outcome = await run(item.event);
      if (outcome.kind === 'ok') await item.resolve();
      else if (outcome.kind === 'aborted') {
        // Stopped in the middle: this entry and the ones not run yet go back to the store.
        for (const rest of items.slice(i)) rest.release();
        return false;
      } else await item.fail(outcome.error?.message ?? 'failed');
    }
    return true;
  }
}
