// PluginHost: one JS/TS plugin in its own worker thread, seen from the main
// thread. The dispatcher loads it, asks `matches(event)` on the main thread,
// and sends matching events through `processBatch()`: many events per
// message, with what ran shared in memory (progress.ts) rather than a
// message per callback.
import type { Logger } from 'pino';
import { PluginError, type SerializedError } from '../../plugins/errors.ts';
import { canProcess, type MatchableEvent } from '../../plugins/match.ts';
import { checkBatch, fault, type BatchRun } from './batch-run.ts';
import { decide, hostFailure } from '../outcome.ts';
import type { EventLogEntry } from '../../plugins/types.ts';
import type { CallbackFailure, CallbackInfo, CallbackResult, LoadResult, PluginHost, ProcessResult, BatchOptions } from '../contract.ts';
import { TRANSITIONS, type WorkerHostOptions, type WorkerHostState } from './options.ts';
import { PluginThread } from './plugin-thread.ts';
import { RestartBudget } from '../restart-budget.ts';

/**
 * With `concurrency` (by project or entity), up to `max` batches run in the
 * thread at once, each with its own progress buffer and watchdog: async
 * callbacks overlap in the thread's event loop. A timed-out callback still
 * ends the thread; the other batches in it come back `aborted`
 * (PLUGIN_CALLBACK_CANCELLED, `details.collateral`) for the caller to send again.
 */
export class WorkerPluginHost implements PluginHost {
  readonly kind = 'js';
  readonly name: string;
  readonly file: string;
  readonly #log: Logger;
  readonly #thread: PluginThread;
  #state: WorkerHostState = 'loading';
  #callbacks: CallbackInfo[] = [];
  #lastLoad: LoadResult | null = null;
  #loading: Promise<LoadResult> | null = null;
  readonly #budget: RestartBudget;
  /** Ids of the batches in the thread now, for cancel(). */
  readonly #running = new Set<ReadonlySet<number>>();
  readonly #cancelled = new Set<number>();
  #capacity = 1;
  #inflight = 0;
  #failing = false;
  #restarting: Promise<LoadResult> | null = null;

  constructor(options: WorkerHostOptions) {
    if (!Number.isFinite(options.callbackTimeoutMs) || options.callbackTimeoutMs <= 0) {
      throw new PluginError('PLUGIN_HOST_STATE', `callbackTimeoutMs must be a positive number, got ${String(options.callbackTimeoutMs)}`);
    }
    if (options.batchBudgetMs !== undefined && (!Number.isFinite(options.batchBudgetMs) || options.batchBudgetMs <= 0)) {
      throw new PluginError('PLUGIN_HOST_STATE', `batchBudgetMs must be a positive number, got ${String(options.batchBudgetMs)}`);
    }
    this.#budget = new RestartBudget(options.restartBudget);
    this.name = options.name;
    this.file = options.file;
    this.#log = options.logger.child({ plugin: options.name });
    if (options.maxMemoryMb !== undefined && /--max-old-space-size/.test(process.env['NODE_OPTIONS'] ?? '')) {
      this.#log.warn({ nodeOptions: process.env['NODE_OPTIONS'], maxMemoryMb: options.maxMemoryMb }, 'NODE_OPTIONS sets --max-old-space-size, which overrides the plugin thread heap limit (maxMemoryMb)');
    }
    this.#thread = new PluginThread({
      options,
      log: this.#log,
      site: options.site ?? new URL(options.siteUrl).host,
      isClosed: () => this.#isClosed(),
      onLost: () => this.#budget.lost(),
    });
  }

  /** Batches that may run at once: the effective concurrency's `max`, 1 for `by: none`. */
  get capacity(): number {
    return this.#capacity;
  }

  get state(): WorkerHostState {
    return this.#state;
  }

  /** The callbacks of the last successful load, in registration order. */
  get callbacks(): readonly CallbackInfo[] {
    return this.#callbacks;
  }

  /** The last load's result (null before the first load). */
  get lastLoad(): LoadResult | null {
    return this.#lastLoad;
  }

  /**
   * (Re)starts the worker thread: a fresh thread imports the file and runs
   * registerCallbacks. Used for the first load and for hot reload.
   */
  async load(): Promise<LoadResult> {
    // Two reloads at once (a file saved twice quickly) share one new thread.
    if (this.#loading !== null) return this.#loading;
    if (this.#state === 'closed' || this.#state === 'busy') {
      throw new PluginError('PLUGIN_HOST_STATE', `cannot load plugin ${this.name} while ${this.#state}`, { details: { plugin: this.name, state: this.#state } });
    }
    if (this.#state !== 'loading') this.#transition('loading');
    this.#budget.reset();
    this.#loading = this.#restart();
    try {
      const result = await this.#loading;
      if (!this.#isClosed()) this.#transition(result.ok ? 'ready' : 'failed');
      return result;
    } finally {
      this.#loading = null;
    }
  }

  /** Main-thread matching: true when at least one callback's matchEvents takes the event. */
  matches(event: MatchableEvent): boolean {
    return this.#callbacks.some((cb) => canProcess(cb.matchEvents, event));
  }

  /**
   * Runs the matching callbacks for one event, in registration order, in the
   * worker. Never throws for plugin faults; throws PLUGIN_HOST_STATE when the
   * host is not ready (not loaded, failed, busy with another event, closed)
   * and PLUGIN_PROTOCOL for an event without a numeric id and event_type.
   */
  async process(event: EventLogEntry, options: BatchOptions = {}): Promise<ProcessResult> {
    const [result] = await this.processBatch([event], options);
    if (result === undefined) throw new PluginError('PLUGIN_PROTOCOL', `plugin ${this.name} returned no result for event ${event.id}`);
    return result;
  }

  /**
   * Runs several events in the worker with one message, each as `process()`
   * would. Returns one result per event handled, in order: it stops after the
   * first event that is not a clean `ok` (a failed callback, a deactivation,
   * an abort) and after `batchBudgetMs` of work, so it may return fewer
   * results than events; the caller sends the rest again.
   */
  async processBatch(events: readonly EventLogEntry[], options: BatchOptions = {}): Promise<ProcessResult[]> {
    if (this.#state !== 'ready' && !(this.#state === 'busy' && this.#inflight < this.#capacity)) {
      throw new PluginError('PLUGIN_HOST_STATE', `plugin ${this.name} cannot process while ${this.#state}`, { details: { plugin: this.name, state: this.#state } });
    }
    const attempt = options.attempt ?? 1;
    const replay = options.replay ?? false;
    checkBatch(this.name, events, attempt);
    const out: ProcessResult[] = [];
    if (events.length === 0) return out;
    if (this.#inflight++ === 0) this.#transition('busy');
    let nextState: WorkerHostState = 'ready';
    try {
      let i = 0;
      let fromIndex = 0;
      // Callbacks of events[i] that ran before its thread was lost.
      let carry: { results: CallbackResult[]; failures: CallbackFailure[] } = { results: [], failures: [] };
      while (i < events.length) {
        const event = events[i] as EventLogEntry;
        // Events no callback takes need no trip to the thread.
        if (fromIndex === 0 && !this.matches(event)) {
          out.push({ outcome: 'ok', results: [], failures: [] });
          i++;
          continue;
        }
        if (!this.#thread.alive) {
          // The thread died or was terminated: a new one before the event runs.
          const spent = this.#budgetSpent();
          if (spent !== null) {
            nextState = 'failed';
            this.#log.warn({ err: spent }, 'plugin thread lost too often; not restarting it until the plugin is reloaded');
            out.push({ outcome: 'deactivate', callback: null, error: spent, ...carry });
            return out;
          }
          // Several batches may find the thread gone: they share one restart.
          const loaded = await (this.#restarting ??= this.#restart().finally(() => {
            this.#restarting = null;
          }));
          if (this.#isClosed()) return [...out, { outcome: 'aborted', error: fault('PLUGIN_HOST_STATE', 'host closed'), ...carry }];
          if (!loaded.ok) {
            nextState = 'failed';
            out.push({ outcome: 'deactivate', callback: null, error: loaded.error, ...carry });
            return out;
          }
        }
        // An event resumed after a lost thread goes alone: the batch ends with it.
        const batch = fromIndex > 0 ? [event] : i === 0 ? events : events.slice(i);
        const run = await this.#runBatch(batch, attempt, replay, fromIndex);
        const cancelled = this.#takeCancelled(batch);
        // Another batch's timeout or cancel ended the thread under this one.
        const collateral = run.kind === 'interrupted' && run.error.details?.['stopped'] === true;
        if (this.#isClosed() || cancelled !== null || collateral) {
          // What finished stays finished; the event that was running is aborted.
          for (let k = 0; k < run.completed; k++) {
            out.push(decide(this.#callbacks, [...carry.results, ...(run.results[k] ?? [])], run.results[k] ?? [], [...carry.failures]));
            carry = { results: [], failures: [] };
          }
          if (run.completed < batch.length) {
            const error = cancelled !== null
              ? fault('PLUGIN_CALLBACK_CANCELLED', `event ${cancelled} was cancelled while it ran in plugin ${this.name}`, { plugin: this.name, eventId: cancelled })
              : this.#isClosed()
                ? fault('PLUGIN_HOST_STATE', 'host closed while the event ran')
                : fault('PLUGIN_CALLBACK_CANCELLED', `plugin ${this.name} thread was ended by another event while this one ran; it is sent again`, {
                  plugin: this.name, eventId: batch[run.completed]?.id, collateral: true,
                });
            out.push({ outcome: 'aborted', error, results: [...carry.results, ...run.partial], failures: carry.failures });
          }
          return out;
        }
        for (let k = 0; k < run.completed; k++) {
          const ran = run.results[k] ?? [];
          const results = carry.results.length === 0 ? ran : [...carry.results, ...ran];
          const decided = decide(this.#callbacks, results, ran, carry.failures.length === 0 ? [] : [...carry.failures]);
          carry = { results: [], failures: [] };
          fromIndex = 0;
          out.push(decided);
          if (decided.outcome !== 'ok' || decided.failures.length > 0) return out;
        }
        i += run.completed;
        if (run.kind === 'done') {
          // The worker stops early only on its time budget: the caller sends the rest.
          if (run.completed < batch.length) return out;
          continue;
        }

        // Timed out, or the thread died, inside events[i]: that callback failed.
        const current = events[i] as EventLogEntry;
        const partial = decide(this.#callbacks, [], run.partial, []);
        carry = { results: [...carry.results, ...run.partial], failures: [...carry.failures, ...partial.failures] };
        if (partial.outcome === 'deactivate') return [...out, { ...partial, results: carry.results, failures: carry.failures }];
        const info = run.index === null ? undefined : this.#callbacks[run.index];
        // Lost between two callbacks (which one is unknown): nothing says the rest may run.
        const lost: ProcessResult = info === undefined
          ? { outcome: 'deactivate', callback: run.callback, error: run.error, ...carry }
          : hostFailure(this.#callbacks, current, run.error, info, carry);
        if (lost.outcome !== 'ok' || info === undefined) {
          out.push(lost);
          return out;
        }
        carry = { results: lost.results, failures: lost.failures };
        fromIndex = info.index + 1;
        if (!this.#callbacks.slice(fromIndex).some((cb) => canProcess(cb.matchEvents, current))) {
          out.push({ outcome: 'ok', ...carry });
          return out;
        }
      }
      return out;
    } finally {
      if (nextState === 'failed') this.#failing = true;
      if (--this.#inflight === 0 && !this.#isClosed()) {
        this.#transition(this.#failing ? 'failed' : 'ready');
        this.#failing = false;
      }
    }
  }

  /**
   * Cuts off `eventId` if it is in the running batch: the thread is
   * terminated (not counted against the restart budget), events of the batch
   * that finished keep their results, the running one comes back `aborted`,
   * and the next event starts a fresh thread.
   */
  cancel(eventId: number): void {
    if (![...this.#running].some((ids) => ids.has(eventId))) return;
    this.#cancelled.add(eventId);
    void this.#thread.stop();
  }

  /** The id of `batch` that cancel() cut off, if any. */
  #takeCancelled(batch: readonly EventLogEntry[]): number | null {
    if (this.#cancelled.size === 0) return null;
    for (const e of batch) {
      if (this.#cancelled.delete(e.id)) return e.id;
    }
    return null;
  }

  /** Stops the thread; idempotent. An event still running resolves as `aborted`. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    await this.#thread.close();
  }

  #budgetSpent(): SerializedError | null {
    const spent = this.#budget.spent();
    if (spent === null) return null;
    const { losses, windowMs } = spent;
    return fault('PLUGIN_RESTART_BUDGET', `plugin ${this.name} lost its thread ${losses} times within ${windowMs} ms`, { plugin: this.name, crashes: losses, windowMs });
  }

  #isClosed(): boolean {
    return this.#state === 'closed';
  }

  #transition(to: WorkerHostState): void {
    if (!TRANSITIONS[this.#state].includes(to)) {
      throw new PluginError('PLUGIN_HOST_STATE', `plugin ${this.name}: invalid transition ${this.#state} -> ${to}`, { details: { from: this.#state, to } });
    }
    this.#state = to;
  }

  async #restart(): Promise<LoadResult> {
    await this.#thread.stop();
    const result = await this.#thread.start();
    this.#lastLoad = result;
    this.#callbacks = result.ok ? result.callbacks : [];
    if (result.ok && result.concurrency !== undefined) this.#capacity = result.concurrency.by === 'none' ? 1 : result.concurrency.max;
    if (!result.ok) {
      // The caller logs load failures with what it does about them; this is the trace.
      this.#log.debug({ err: result.error, file: this.file }, 'plugin failed to load');
      await this.#thread.stop();
    }
    return result;
  }

  async #runBatch(events: readonly EventLogEntry[], attempt: number, replay: boolean, fromIndex: number): Promise<BatchRun> {
    const ids: ReadonlySet<number> = new Set(events.map((e) => e.id));
    const done = this.#thread.run({
      events, callbacks: this.#callbacks, attempt, replay, fromIndex,
      onTimeout: () => {
        this.#budget.lost();
        void this.#thread.stop();
      },
    });
    this.#running.add(ids);
    try {
      return await done;
    } finally {
      this.#running.delete(ids);
    }
  }
}
