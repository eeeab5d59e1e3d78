import { sleepLong } from '../shared/index.ts';
import type { EventLogEntry } from '../shared/index.ts';
import type { EventLog } from '../source/index.ts';
import type { SerializedError } from '../plugins/index.ts';
import { afterFailure, type CallbackResult, type ProcessResult } from '../hosts/index.ts';
import type { EventScope, CursorHandler, CursorOptions, CursorStatus, RetryItem } from './cursor-types.ts';
import type { PluginState } from '../state/index.ts';
import type { StateBatcher } from './state-batcher.ts';

/**
 * One plugin's walk through the event log: its cursor (the last event whose
 * callbacks all finished), its backlog of missing ids, and its errors. Cursors
 * run concurrently; within a cursor, events are handled one at a time in the
 * order read, and ids found late in the backlog come after higher ones.
 */
export class PluginCursor {
  readonly id: string;
  readonly #opts: CursorOptions;
  readonly #log: EventLog;
  readonly #handler: CursorHandler;
  readonly #scope: EventScope;
  readonly #batcher: StateBatcher | null;
  #lastEventId: number;
  #readPos: number;
  #lastSeenId: number;
  #backlog = new Map<number, number>();
  #lastError: string | null;
  #status: CursorStatus = 'stopped';
  #stop = new AbortController();
  #running: Promise<void> | null = null;
  #lastBacklogCheck = 0;
  #retryTaker: ((limit: number) => Promise<RetryItem[]>) | null = null;
  readonly counters = { processed: 0, skipped: 0, failed: 0, totalMs: 0 };

  constructor(
    state: Pick<PluginState, 'lastEventId' | 'backlog' | 'lastError'> & { lastEventId: number },
    log: EventLog,
    handler: CursorHandler,
    scope: EventScope,
    batcher: StateBatcher | null,
    opts: CursorOptions,
  ) {
    this.id = opts.id;
    this.#opts = opts;
    this.#log = log;
    this.#handler = handler;
    this.#scope = scope;
    this.#batcher = batcher;
    this.#lastEventId = state.lastEventId;
    this.#readPos = state.lastEventId;
    this.#lastSeenId = state.lastEventId;
    this.#lastError = state.lastError;
    for (const b of state.backlog) this.#backlog.set(b.eventId, b.expiresAt);
  }

  get status(): CursorStatus {
    return this.#status;
  }

  get lastEventId(): number {
    return this.#lastEventId;
  }

  get backlogSize(): number {
    return this.#backlog.size;
  }

  get backlogIds(): number[] {
    return [...this.#backlog.keys()].sort((a, b) => a - b);
  }

  get lastError(): string | null {
    return this.#lastError;
  }

  /** Where retries of dead letters come from (the engine wires the state store in). */
  setRetrySource(take: (limit: number) => Promise<RetryItem[]>): void {
    this.#retryTaker = take;
  }

  /** Starts the cursor's loop; resolves when it stops or the plugin is deactivated. */
  start(): Promise<void> {
    if (this.#running) return this.#running;
    this.#stop = new AbortController();
    this.#status = 'running';
    this.#running = this.#loop().catch((err: unknown) => {
      // A fault of the daemon itself (not of the plugin): the cursor stops, its cursor kept.
      this.#opts.logger.error({ err }, 'plugin cursor stopped by an unexpected error; it resumes at its cursor on reload or restart');
    }).finally(() => {
      this.#running = null;
      if (this.#status !== 'deactivated') this.#status = 'stopped';
    });
    return this.#running;
  }

  /** Lets the event in flight finish (its callbacks are never cut short here), then stops. */
  async stop(): Promise<void> {
    if (this.#status === 'running') this.#status = 'stopping';
    this.#stop.abort();
    await this.#running;
  }

  /** Runs events `(from, to]` once (a replay side run); returns how many reached the plugin. */
  async replayRange(from: number, to: number, onProgress?: (pos: number) => void): Promise<number> {
    let pos = from;
    let handled = 0;
    while (pos < to && !this.#stop.signal.aborted) {
      const slice = await this.#log.next(pos, this.#opts.batchSize, this.#stop.signal);
      const events = slice.events.filter((e) => e.id <= to);
      const done = await this.#handleAll(events, 'replay', (event) => {
        handled++;
        onProgress?.(event.id);
      });
      if (!done || events.length < slice.events.length || slice.upTo <= pos) break;
      pos = slice.upTo;
    }
    return handled;
  }

  async #loop(): Promise<void> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      if (!(await this.#checkBacklog())) return;
      if (!(await this.#runRetries())) return;
      // With a backlog or dead letters that may be marked for retry (`sgeventd
      // dlq retry`), wake up every fetch interval even when the site is quiet.
      const wait = this.#backlog.size > 0 || this.#retryTaker !== null ? AbortSignal.any([signal, AbortSignal.timeout(this.#opts.fetchIntervalMs)]) : signal;
      let slice;
      try {
        slice = await this.#log.next(this.#readPos, this.#opts.batchSize, wait);
      } catch (err) {
        // Only a closed log ends a cursor; anything else is logged and read again.
        if (signal.aborted) return;
        this.#opts.logger.error({ err, pos: this.#readPos }, 'reading the event log failed; reading again');
        try {
          await sleepLong(this.#opts.fetchIntervalMs, { signal });
        } catch {
          return;
        }
        continue;
      }
      const fresh: EventLogEntry[] = [];
      for (const event of slice.events) {
        if (event.id <= this.#lastSeenId) continue;
        this.#noteGaps(event);
        this.#lastSeenId = event.id;
        fresh.push(event);
      }
      const done = await this.#handleAll(fresh, 'live', (event) => {
        this.#readPos = event.id;
      });
      if (!done) {
        // Stopped inside the slice: what was seen but not handled is read again.
        this.#lastSeenId = this.#readPos;
        return;
      }
      this.#readPos = Math.max(this.#readPos, slice.upTo);
    }
  }

  /** Ids between the last seen event and this one have not committed yet (or never will). */
  #noteGaps(event: EventLogEntry): void {
    const first = this.#lastSeenId + 1;
    if (event.id <= first) return;
    const now = Date.now();
    const age = event.created_at ? now - event.created_at.getTime() : 0;
    if (age > this.#opts.backlogTimeoutMs) {
      // The later event is already older than the timeout: the missing ids
      // would have shown up by now (shotgunEvents PR #37 semantics).
      this.#opts.logger.info({ from: first, to: event.id - 1, ageMs: age }, 'ignoring old gap in event ids');
      return;
    }
    const expiresAt = now + this.#opts.backlogTimeoutMs;
    for (let id = first; id < event.id; id++) {
      if (this.#backlog.has(id)) continue;
      this.#backlog.set(id, expiresAt);
      this.#batcher?.backlogAdd(this.id, id, expiresAt);
    }
    this.#opts.logger.debug({ from: first, to: event.id - 1 }, 'gap in event ids: waiting for late events');
  }

  /** Looks for late ids once per fetch interval; drops the expired ones. */
  async #checkBacklog(): Promise<boolean> {
    if (this.#backlog.size === 0) return true;
    const now = Date.now();
    if (now - this.#lastBacklogCheck < this.#opts.fetchIntervalMs) return true;
    this.#lastBacklogCheck = now;
    for (const [id, expiresAt] of this.#backlog) {
      if (expiresAt <= now) {
        this.#backlog.delete(id);
        this.#batcher?.backlogRemove(this.id, id);
        this.#opts.logger.info({ eventId: id }, 'giving up on missing event id after the backlog timeout');
      }
    }
    if (this.#backlog.size === 0) return true;
    let found: Map<number, EventLogEntry>;
    try {
      found = await this.#log.lookup([...this.#backlog.keys()], this.#stop.signal);
    } catch (err) {
      if (!this.#stop.signal.aborted) this.#opts.logger.warn({ err }, 'looking up backlog ids failed; will try again');
      return true;
    }
    for (const event of [...found.values()].sort((a, b) => a.id - b.id)) {
      if (!this.#backlog.has(event.id)) continue;
      this.#opts.logger.info({ eventId: event.id }, 'late event arrived from the backlog');
      if (!(await this.#handle(event, 'backlog'))) return false;
      this.#backlog.delete(event.id);
      this.#batcher?.backlogRemove(this.id, event.id);
    }
    return true;
  }

  async #runRetries(): Promise<boolean> {
    if (this.#retryTaker === null) return true;
    const items = await this.#retryTaker(20);
    for (const item of items) {
      const result = await this.#run(item.event, 'retry');
      if (result.kind === 'ok') await item.resolve();
      else if (result.kind === 'aborted') return false;
      else await item.fail(result.error.message);
    }
    return true;
  }

  /**
   * Runs events in order, in batches when the handler takes them (scope is
   * decided on this thread; in-scope events go to the plugin together).
   * `onDone` follows each event handled. False when the cursor must stop.
   */
  async #handleAll(events: readonly EventLogEntry[], from: 'live' | 'replay', onDone: (event: EventLogEntry) => void): Promise<boolean> {
    const batchOf = this.#handler.processBatch?.bind(this.#handler);
    if (batchOf === undefined) {
      for (const event of events) {
        if (!(await this.#handle(event, from))) return false;
        onDone(event);
        if (this.#stop.signal.aborted) return false;
      }
      return true;
    }
    const inScope: boolean[] = [];
    for (const event of events) {
      const decided = this.#inScope(event);
      inScope.push(typeof decided === 'boolean' ? decided : await decided);
    }
    const replay = from === 'replay' || this.#opts.replay === true;
    let at = 0;
    while (at < events.length) {
      const batch = events.filter((_, j) => j >= at && inScope[j] === true);
      const results = batch.length > 0 ? await batchOf(batch, { attempt: 1, replay }) : [];
      for (let r = 0; at < events.length; at++) {
        const event = events[at] as EventLogEntry;
        if (inScope[at] === true) {
          // Past the end of a batch that stopped early: the rest goes again
          // (and one event alone when a batch returned nothing at all).
          const result = results[r] ?? (r === 0 ? await this.#handler.process(event, { attempt: 1, replay }) : undefined);
          if (result === undefined) break;
          r++;
          if (result.outcome === 'ok' && result.failures.length === 0) {
            // The common case, settled without a promise: what #settle does for it.
            this.#record(event, result.results);
            this.counters.processed++;
            this.#advance(event, from);
          } else if (!(await this.#settle(event, from, result))) return false;
        } else {
          this.counters.skipped++;
          this.#advance(event, from);
        }
        onDone(event);
        // Results the plugin already returned are kept; stopping cuts before the next call.
        if (this.#stop.signal.aborted && r >= results.length) return false;
      }
    }
    return true;
  }

  /** Matching and scope; a promise only when the scope must look something up. */
  #inScope(event: EventLogEntry): boolean | Promise<boolean> {
    const deliver = (err: unknown): boolean => {
      this.#opts.logger.error({ err, eventId: event.id }, 'deciding whether the event is in scope failed; delivering it');
      return true;
    };
    try {
      if (!this.#handler.matches(event)) return false;
      const inScope = this.#scope(event);
      return typeof inScope === 'boolean' ? inScope : inScope.catch(deliver);
    } catch (err) {
      return deliver(err);
    }
  }

  /**
   * Runs one event through the plugin. Returns false when the cursor must stop
   * here (plugin deactivated, or the daemon is stopping), leaving the cursor
   * on the event before it.
   */
  async #handle(event: EventLogEntry, from: 'live' | 'backlog' | 'replay'): Promise<boolean> {
    if (await this.#inScope(event)) return this.#settle(event, from, null);
    this.counters.skipped++;
    this.#advance(event, from);
    return true;
  }

  /** Retries, deactivates or skips as the event's result says, then moves the cursor. `first` is attempt 1's result when it already ran. */
  async #settle(event: EventLogEntry, from: 'live' | 'backlog' | 'replay', first: ProcessResult | null): Promise<boolean> {
    const result = await this.#run(event, from, first);
    if (result.kind === 'aborted') return false;
    if (result.kind === 'deactivate') {
      this.#deactivate(event, result.callback, result.error);
      return false;
    }
    if (result.kind === 'skipped') {
      this.counters.failed++;
      this.#lastError = `${result.callback ?? 'plugin'}: ${result.error.message}`;
    } else this.counters.processed++;
    this.#advance(event, from);
    return true;
  }

  #advance(event: EventLogEntry, from: 'live' | 'backlog' | 'replay' | 'retry'): void {
    if (from === 'replay' || this.#opts.replay) return;
    if (from === 'live' && event.id > this.#lastEventId) this.#lastEventId = event.id;
    this.#batcher?.plugin(this.#row(true));
    this.#batcher?.eventDone();
  }

  #deactivate(event: EventLogEntry, callback: string | null, error: SerializedError): void {
    this.#status = 'deactivated';
    this.#lastError = `${callback ?? 'plugin'}: ${error.message}`;
    this.counters.failed++;
    const why = callback === null
      ? error.code === 'PLUGIN_RESTART_BUDGET'
        ? 'plugin thread or process lost more often than daemon.restartBudget allows'
        : 'plugin could not be run'
      : 'callback failed with stopOnError';
    this.#opts.logger.error(
      { eventId: event.id, callback, err: error },
      `${why}: plugin deactivated; it resumes at this event when its file changes or on \`sgeventd plugin enable\``,
    );
    this.#opts.onFailure?.({ plugin: this.#opts.name, callback, eventId: event.id, error, action: 'deactivated' });
    if (!this.#opts.replay) this.#batcher?.plugin(this.#row(false));
  }

  #row(active: boolean): { id: string; folder: string; name: string; lastEventId: number; active: boolean; lastError: string | null } {
    return { id: this.id, folder: this.#opts.folder, name: this.#opts.name, lastEventId: this.#lastEventId, active, lastError: this.#lastError };
  }

  async #run(
    event: EventLogEntry,
    from: 'live' | 'backlog' | 'replay' | 'retry',
    first: ProcessResult | null = null,
  ): Promise<
    | { kind: 'ok' }
    | { kind: 'aborted' }
    | { kind: 'deactivate' | 'skipped'; callback: string | null; error: SerializedError }
  > {
    const replay = from === 'replay' || this.#opts.replay === true;
    for (let attempt = 1; ; attempt++) {
      const result = attempt === 1 && first !== null ? first : await this.#handler.process(event, { attempt, replay });
      this.#record(event, result.results);
      if (result.outcome === 'aborted') return { kind: 'aborted' };
      const next = afterFailure(result, attempt, this.#opts, { canRetry: !this.#stop.signal.aborted, keepDeadLetter: from !== 'retry' && !replay });
      if (next === null) return { kind: 'ok' };
      if (next.action === 'retry') {
        const failure = result.outcome === 'deactivate' ? result : result.failures[0];
        this.#opts.logger.warn({ eventId: event.id, callback: failure?.callback, attempt, retryInMs: next.delayMs, err: failure?.error }, 'callback failed; retrying');
        try {
          await sleepLong(next.delayMs, { signal: this.#stop.signal });
        } catch {
          return { kind: 'aborted' };
        }
        continue;
      }
      if (next.action === 'deactivate') return { kind: 'deactivate', callback: next.callback, error: next.error };
      // stopOnError=false: log, dead-letter, skip (shotgunEvents logs and moves on).
      for (const f of next.failures) {
        this.#opts.logger.error({ eventId: event.id, callback: f.callback, err: f.error }, 'callback failed; event skipped for this callback');
        this.#opts.onFailure?.({ plugin: this.#opts.name, callback: f.callback, eventId: event.id, error: f.error, action: 'skipped' });
        if (next.deadLetter) {
          this.#batcher?.deadLetter({ pluginId: this.id, callback: f.callback, eventId: event.id, event, error: f.error.message, attempts: attempt });
        }
      }
      const skipped = next.failures[0] as { callback: string; error: SerializedError };
      return { kind: 'skipped', callback: skipped.callback, error: skipped.error };
    }
  }

  #record(event: EventLogEntry, results: readonly CallbackResult[]): void {
    for (const r of results) {
      this.counters.totalMs += r.durationMs;
      const delayMs = event.created_at ? r.startedAt.getTime() - event.created_at.getTime() : null;
      this.#opts.onTiming?.({
        plugin: this.#opts.name, callback: r.callback, eventId: event.id, startedAt: r.startedAt,
        durationMs: r.durationMs, delayMs, error: r.error ? r.error.message : null,
      });
      if (!this.#opts.replay) {
        this.#batcher?.counter({
          pluginId: this.id, callback: r.callback, processed: 1, failed: r.error ? 1 : 0, totalMs: r.durationMs,
          lastEventId: event.id, ...(r.error ? { lastError: r.error.message } : {}),
        });
      }
    }
  }
}
