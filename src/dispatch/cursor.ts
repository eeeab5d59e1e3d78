import { sleepLong } from '../shared/index.ts';
import type { EventLogEntry } from '../shared/index.ts';
import { EventLogCulledError, type EventLog } from '../source/index.ts';
import type { CallbackResult, ProcessResult } from '../hosts/index.ts';
import { foldCreations, foldHorizon, readWhole, rowsFoldedBelow, type CoalesceOptions } from './coalesce.ts';
import { expireGaps, inScope, noteGaps, recordResults, runEvent, type RunOutcome } from './cursor-steps.ts';
import type { EventScope, CursorHandler, CursorOptions } from './cursor-types.ts';
import type { PluginState } from '../state/index.ts';
import type { StateBatcher } from './state-batcher.ts';
import { CursorLifecycle, type CursorLoad } from './cursor-lifecycle.ts';

/**
 * One plugin's walk through the event log: its cursor (the last event whose
 * callbacks all finished), its backlog of missing ids, and its errors. Cursors
 * run concurrently; within a cursor, events are handled one at a time in the
 * order read, and ids found late in the backlog come after higher ones.
 */
export class PluginCursor extends CursorLifecycle {
  readonly #log: EventLog;
  readonly #handler: CursorHandler;
  readonly #scope: EventScope;
  #lastEventId: number;
  #readPos: number;
  #lastSeenId: number;
  #backlog = new Map<number, number>();
  #lastBacklogCheck = 0;
  /** Event id → the id the cursor moves to once it is handled (past rows folded into earlier events). */
  readonly #through = new Map<number, number>();
  /** The events handed to the plugin and not answered yet (one, or a batch). */
  #running: readonly number[] = [];
  /** Rows above the read position folded into a `_New` already delivered: never delivered alone. */
  readonly #consumed = new Set<number>();
  /** Whether the rows folded below the starting position were looked up (coalesceCreation). */
  #lookedBehind = false;

  constructor(
    state: Pick<PluginState, 'lastEventId' | 'backlog' | 'lastError'> & { lastEventId: number },
    log: EventLog,
    handler: CursorHandler,
    scope: EventScope,
    batcher: StateBatcher | null,
    opts: CursorOptions,
  ) {
    super(handler, batcher, opts, state.lastError);
    this.#log = log;
    this.#handler = handler;
    this.#scope = scope;
    this.#lastEventId = state.lastEventId;
    this.#readPos = state.lastEventId;
    this.#lastSeenId = state.lastEventId;
    for (const b of state.backlog) this.#backlog.set(b.eventId, b.expiresAt);
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

  load(): CursorLoad {
    const running = this.#running;
    return { inFlight: running.length, lanesBusy: running.length > 0 ? 1 : 0, oldestUnfinished: running.length > 0 ? Math.min(...running) : null };
  }

  /** Marks `ids` as handed to the plugin while `work` runs. */
  async #busy<T>(ids: readonly number[], work: Promise<T>): Promise<T> {
    this.#running = ids;
    try {
      return await work;
    } finally {
      this.#running = [];
    }
  }

  /** Runs events `(from, to]` once (a replay side run); returns how many reached the plugin. */
  async replayRange(from: number, to: number, onProgress?: (pos: number) => void): Promise<number> {
    let pos = from;
    let handled = 0;
    while (pos < to && !this.signal.aborted) {
      const slice = await this.#log.next(pos, this.opts.batchSize, this.signal);
      const inRange = slice.events.filter((e) => e.id <= to);
      const events = this.opts.coalesce === undefined ? inRange : foldCreations(inRange, this.opts.coalesce, false).events;
      const done = await this.#handleAll(events, 'replay', (event) => {
        handled++;
        onProgress?.(event.id);
      });
      if (!done || inRange.length < slice.events.length || slice.upTo <= pos) break;
      pos = slice.upTo;
    }
    return handled;
  }

  /** `coalesceCreation` with this cursor's horizon (half a read). */
  #coalesce(): (CoalesceOptions & { horizon: number }) | undefined {
    return this.opts.coalesce === undefined ? undefined : { ...this.opts.coalesce, horizon: foldHorizon(this.opts.batchSize) };
  }

  /** Once at start: rows above the stored position folded into a `_New` at or below it finished with it. */
  async #lookBehind(signal: AbortSignal): Promise<void> {
    const coalesce = this.#coalesce();
    if (coalesce === undefined || this.#lookedBehind) return;
    try {
      for (const row of (await rowsFoldedBelow(this.#log, this.#readPos, coalesce, signal)).keys()) this.#consumed.add(row);
      this.#lookedBehind = true;
    } catch (err) {
      if (!signal.aborted) this.opts.logger.warn({ err, pos: this.#readPos }, 'reading the creations below the cursor failed; will try again');
      await sleepLong(this.opts.fetchIntervalMs, { signal }).catch(() => undefined);
    }
  }

  /** When the dead letters were last looked at for retries (ms since the epoch). */
  #lastRetryCheck = 0;

  protected async loop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.#lookBehind(signal);
      if (this.#coalesce() !== undefined && !this.#lookedBehind) continue;
      if (!(await this.#checkBacklog())) return;
      // Dead letters marked for retry: looked for once per fetch interval (a
      // catch-up reads a slice far more often, and each look is a state query).
      if (Date.now() - this.#lastRetryCheck >= this.opts.fetchIntervalMs) {
        this.#lastRetryCheck = Date.now();
        if (!(await this.runRetries((event) => this.#run(event, 'retry')))) return;
      }
      // With a backlog or dead letters that may be marked for retry (`sgeventd
      // dlq retry`), wake up every fetch interval even when the site is quiet.
      const wait = this.#backlog.size > 0 || this.retryTaker !== null ? AbortSignal.any([signal, AbortSignal.timeout(this.opts.fetchIntervalMs)]) : signal;
      let slice;
      try {
        // Folding needs to know whether more follows: a read is made whole across cached ranges.
        slice = this.opts.coalesce === undefined ? await this.#log.next(this.#readPos, this.opts.batchSize, wait) : await readWhole(this.#log, this.#readPos, this.opts.batchSize, wait, signal);
      } catch (err) {
        // Only a closed log ends a cursor; anything else is logged and read again.
        if (signal.aborted) return;
        if (err instanceof EventLogCulledError) {
          this.stopAtCulledLog(err);
          return;
        }
        this.opts.logger.error({ err, pos: this.#readPos }, 'reading the event log failed; reading again');
        try {
          await sleepLong(this.opts.fetchIntervalMs, { signal });
        } catch {
          return;
        }
        continue;
      }
      const unseen = slice.events.filter((e) => e.id > this.#lastSeenId);
      // Rows folded into a `_New` delivered before are passed over (never noted as gaps).
      const fresh = this.#consumed.size === 0 ? unseen : unseen.filter((e) => !this.#consumed.has(e.id));
      const fold = this.#fold(fresh, slice.events.length >= this.opts.batchSize);
      const cut = fresh[fold.taken]?.id ?? Infinity;
      for (const event of unseen) {
        if (event.id >= cut) break;
        this.#noteGaps(event);
        this.#lastSeenId = event.id;
        this.#consumed.delete(event.id);
      }
      const done = await this.#handleAll(fold.events, 'live', (event) => {
        this.#readPos = Math.max(event.id, this.#through.get(event.id) ?? event.id);
        this.#through.delete(event.id);
      });
      if (!done) {
        // Stopped inside the slice: what was seen but not handled is read again (and folded again).
        this.#through.clear();
        this.#lastSeenId = this.#readPos;
        this.#consumed.clear();
        this.#lookedBehind = false;
        return;
      }
      if (fold.taken === fresh.length) this.#readPos = Math.max(this.#readPos, slice.upTo);
      // A `_New` at the newest end of the log waits for its rows while its window is open.
      else if (fold.taken === 0) await sleepLong(Math.min(this.opts.fetchIntervalMs, this.opts.coalesce?.windowMs ?? 0), { signal }).catch(() => undefined);
    }
  }

  /**
   * Folds creation rows when the plugin asks for it (`coalesceCreation`).
   * A folded row finishes with its `_New`: as events run in order, each
   * event handled moves the cursor up to the next event delivered
   * (`#through`), so the rows folded before it are finished too.
   */
  #fold(events: EventLogEntry[], more: boolean): { events: EventLogEntry[]; taken: number } {
    const coalesce = this.#coalesce();
    if (coalesce === undefined) return { events, taken: events.length };
    const folded = foldCreations(events, coalesce, more, Date.now());
    for (const row of folded.ahead.keys()) this.#consumed.add(row);
    const last = events[folded.taken - 1];
    folded.events.forEach((event, i) => {
      const next = folded.events[i + 1];
      const through = next === undefined ? (last?.id ?? event.id) : next.id - 1;
      if (through > event.id) this.#through.set(event.id, through);
    });
    return folded;
  }

  /** Ids between the last seen event and this one have not committed yet (or never will). */
  #noteGaps(event: EventLogEntry): void {
    noteGaps(this.ctx, this.#backlog, this.#lastSeenId, event);
  }

  /** Looks for late ids once per fetch interval; drops the expired ones. */
  async #checkBacklog(): Promise<boolean> {
    if (this.#backlog.size === 0) return true;
    const now = Date.now();
    if (now - this.#lastBacklogCheck < this.opts.fetchIntervalMs) return true;
    this.#lastBacklogCheck = now;
    expireGaps(this.ctx, this.#backlog, now);
    if (this.#backlog.size === 0) return true;
    let found: Map<number, EventLogEntry>;
    try {
      found = await this.#log.lookup([...this.#backlog.keys()], this.signal);
    } catch (err) {
      if (!this.signal.aborted) this.opts.logger.warn({ err }, 'looking up backlog ids failed; will try again');
      return true;
    }
    for (const event of [...found.values()].sort((a, b) => a.id - b.id)) {
      if (!this.#backlog.has(event.id)) continue;
      this.opts.logger.info({ eventId: event.id }, 'late event arrived from the backlog');
      if (!(await this.#handle(event, 'backlog'))) return false;
      this.#backlog.delete(event.id);
      this.batcher?.backlogRemove(this.id, event.id);
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
        if (this.signal.aborted) return false;
      }
      return true;
    }
    const inScope: boolean[] = [];
    for (const event of events) {
      const decided = this.#inScope(event);
      inScope.push(typeof decided === 'boolean' ? decided : await decided);
    }
    const replay = from === 'replay' || this.opts.replay === true;
    let at = 0;
    while (at < events.length) {
      const batch = events.filter((_, j) => j >= at && inScope[j] === true);
      const results = batch.length > 0 ? await this.#busy(batch.map((e) => e.id), batchOf(batch, { attempt: 1, replay })) : [];
      for (let r = 0; at < events.length; at++) {
        const event = events[at] as EventLogEntry;
        if (inScope[at] === true) {
          // Past the end of a batch that stopped early: the rest goes again
          // (and one event alone when a batch returned nothing at all).
          const result = results[r] ?? (r === 0 ? await this.#busy([event.id], this.#handler.process(event, { attempt: 1, replay })) : undefined);
          if (result === undefined) break;
          r++;
          if (result.outcome === 'ok' && result.failures.length === 0) {
            // The common case, settled without a promise: what #settle does for it.
            this.#record(event, result.results, replay);
            this.counters.processed++;
            this.#advance(event, from);
          } else if (!(await this.#settle(event, from, result))) return false;
        } else {
          this.counters.skipped++;
          this.#advance(event, from);
        }
        onDone(event);
        // Results the plugin already returned are kept; stopping cuts before the next call.
        if (this.signal.aborted && r >= results.length) return false;
      }
    }
    return true;
  }

  /** Matching and scope; a promise only when the scope must look something up. */
  #inScope(event: EventLogEntry): boolean | Promise<boolean> {
    return inScope(this.ctx, this.#scope, event);
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
      this.deactivate(event, result.callback, result.error);
      return false;
    }
    if (result.kind === 'skipped') {
      this.counters.failed++;
      this.lastErrorText = `${result.callback ?? 'plugin'}: ${result.error.message}`;
    } else this.counters.processed++;
    this.#advance(event, from);
    return true;
  }

  #advance(event: EventLogEntry, from: 'live' | 'backlog' | 'replay' | 'retry'): void {
    if (from === 'replay' || this.opts.replay) return;
    const through = from === 'live' ? Math.max(event.id, this.#through.get(event.id) ?? event.id) : event.id;
    if (from === 'live' && through > this.#lastEventId) this.#lastEventId = through;
    this.batcher?.plugin(this.row(true));
    this.batcher?.eventDone();
  }

  #run(event: EventLogEntry, from: 'live' | 'backlog' | 'replay' | 'retry', first: ProcessResult | null = null): Promise<RunOutcome> {
    return this.#busy([event.id], runEvent(this.ctx, event, from, this.signal, first));
  }

  #record(event: EventLogEntry, results: readonly CallbackResult[], replay: boolean): void {
    recordResults(this.ctx, event, results, replay);
  }
}
