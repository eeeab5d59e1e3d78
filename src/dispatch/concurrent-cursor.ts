import { SgeventdError, sleepLong, type EventLogEntry } from '../shared/index.ts';
import { EventLogCulledError, type EventLog } from '../source/index.ts';
import type { SerializedError } from '../plugins/index.ts';
import type { PluginState } from '../state/index.ts';
import type { CursorHandler, CursorOptions, EventScope, RetryItem } from './cursor-types.ts';
import { runEvent } from './cursor-steps.ts';
import { readWhole } from './coalesce.ts';
import { ConcurrentFolding } from './concurrent-folding.ts';
import { ConcurrentIntake } from './concurrent-intake.ts';
import { KeyLanes, laneKey, type ConcurrencyKeyBy } from './key-lanes.ts';
import type { StateBatcher } from './state-batcher.ts';
import { CursorLifecycle, type CursorLoad } from './cursor-lifecycle.ts';
import { UnfinishedIds } from './unfinished-ids.ts';

export interface ConcurrentCursorOptions extends CursorOptions {
  by: ConcurrencyKeyBy;
  /** Callbacks in flight at once, across keys. */
  max: number;
  /** Events held in memory (queued or running) before the longest lane is parked. */
  window: number;
  /** Told how long each event waited in its key lane before it started (ms). */
  onLaneWait?: (plugin: string, ms: number) => void;
}

/**
 * One plugin's walk through the event log when its events may overlap
 * (`concurrency: { by: project | entity, max }`). Events go to key lanes;
 * within a lane they run in the order read (late ids from the backlog after
 * higher ones), across lanes up to `max` at once.
 *
 * The cursor is the highest id handed out (`lastEventId`) plus the ids at or
 * below it not finished: gaps waiting for late ids (expire after
 * `backlogTimeoutMs`) and events handed out and not finished ('pending', never
 * expire). Both live in the backlog table; a restart reads the pending ids
 * again, so a kill -9 re-delivers only events not finished (those in flight
 * and those whose finish was not flushed yet) and never skips one.
 */
export class ConcurrentCursor extends CursorLifecycle {
  readonly #opts: ConcurrentCursorOptions;
  readonly #log: EventLog;
  readonly #lanes: KeyLanes;
  /** The position: the highest id handed out, gaps, pending ids (unfinished-ids.ts). */
  readonly #ids: UnfinishedIds;
  #readPos: number;
  #inflight = 0;
  #halt: { event: EventLogEntry; callback: string | null; error: SerializedError } | null = null;
  /** Resolves the loop's wait when a lane finishes. */
  #changed: (() => void) | null = null;
  #drained: (() => void) | null = null;
  /** Creation folding (coalesceCreation). */
  readonly #folding: ConcurrentFolding;
  /** Events into the lanes: scope, folded rows, ids read again, late ids (concurrent-intake.ts). */
  readonly #intake: ConcurrentIntake;
  /** Dead letters running again, by event id. */
  readonly #retries = new Map<number, RetryItem>();
  /** A replay's last id: the loop ends once it handed out every event up to it and the lanes are empty. */
  #until: number | null = null;
  #onReplayed: ((event: EventLogEntry) => void) | null = null;

  constructor(
    state: Pick<PluginState, 'backlog' | 'lastError'> & { lastEventId: number },
    log: EventLog,
    handler: CursorHandler,
    scope: EventScope,
    batcher: StateBatcher | null,
    opts: ConcurrentCursorOptions,
  ) {
    super(handler, batcher, opts, state.lastError);
    this.#opts = opts;
    this.#log = log;
    this.#lanes = new KeyLanes(opts.window);
    this.#folding = new ConcurrentFolding(opts.coalesce, Math.min(opts.batchSize, this.#lanes.window));
    this.#ids = new UnfinishedIds(state, opts.replay === true ? null : {
      add: (id) => this.batcher?.backlogAdd(this.id, id, 0, 'pending'),
      remove: (id) => this.batcher?.backlogRemove(this.id, id),
    });
    this.#readPos = state.lastEventId;
    this.#intake = new ConcurrentIntake({
      ids: this.#ids, lanes: this.#lanes, folding: this.#folding, log, scope, ctx: this.ctx, by: opts.by,
      signal: () => this.signal,
      finishId: (id) => this.#finishId(id),
      persist: () => this.#persist(),
      pump: () => this.#pump(),
    });
  }

  get lastEventId(): number {
    return this.#ids.high;
  }

  get backlogSize(): number {
    return this.#ids.gaps.size;
  }

  get backlogIds(): number[] {
    return this.#ids.backlogIds;
  }

  /** Events handed out and not finished (running, queued, parked). */
  get pendingIds(): number[] {
    return this.#ids.pendingIds;
  }

  get inFlight(): number {
    return this.#inflight;
  }

  load(): CursorLoad {
    return { inFlight: this.#inflight, lanesBusy: this.#lanes.busy, oldestUnfinished: this.#ids.oldestPending };
  }

  protected override stopped(): void {
    // Dead letters taken for retry and not run to an end go back to the store.
    for (const retry of this.#retries.values()) retry.release();
    this.#retries.clear();
    if (this.#halt !== null) this.deactivate(this.#halt.event, this.#halt.callback, this.#halt.error);
  }

  /** Once at start: rows above the stored position whose `_New` at or below it finished are passed over. */
  async #lookBehind(signal: AbortSignal): Promise<boolean> {
    try {
      await this.#folding.lookBehind(this.#log, this.#ids, signal);
      return true;
    } catch (err) {
      if (!signal.aborted) this.#opts.logger.warn({ err, pos: this.#ids.high }, 'reading the creations below the cursor failed; will try again');
      await sleepLong(this.#opts.fetchIntervalMs, { signal }).catch(() => undefined);
      return false;
    }
  }

  protected async loop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      if (!(await this.#lookBehind(signal))) continue;
      if (this.#lanes.full()) {
        // A full window: the longest lane (a hanging key piles up there) drops its queued events back to ids.
        const dropped = this.#lanes.parkLongest();
        if (dropped > 0) this.#opts.logger.info({ dropped, held: this.#lanes.held, window: this.#lanes.window }, 'event window full: queued events of the longest key lane dropped back to ids, read again when the lane is idle');
        if (this.#lanes.full()) await this.#waitForChange(this.#opts.fetchIntervalMs);
        continue;
      }
      const room = Math.max(1, Math.min(this.#opts.batchSize, this.#lanes.window - this.#lanes.held));
      if (this.#ids.recovering) {
        // Events handed out before a restart come first, in id order (each key's order is kept).
        await this.#intake.readAgain(this.#ids.takeRecovered(room), null);
        continue;
      }
      await this.#intake.checkBacklog();
      await this.#takeRetries();
      if (signal.aborted) return;
      const parked = this.#lanes.takeParked(room);
      if (parked !== null) {
        await this.#intake.readAgain(parked.ids, parked.key);
        continue;
      }
      if (this.#until !== null && this.#readPos >= this.#until) {
        // A replay read its whole range: it ends once every lane is empty.
        if (this.#lanes.held === 0 && this.#lanes.parkedIds === 0) return;
        await this.#waitForChange(this.#opts.fetchIntervalMs);
        continue;
      }
      const idle = this.#ids.gaps.size > 0 || this.#lanes.parkedIds > 0 || this.retryTaker !== null;
      const wait = idle ? AbortSignal.any([signal, AbortSignal.timeout(this.#opts.fetchIntervalMs)]) : signal;
      let slice;
      const limit = Math.min(this.#opts.batchSize, this.#lanes.window - this.#lanes.held);
      try {
        // Folding needs to know whether more follows: a read is made whole across cached ranges.
        slice = !this.#folding.enabled ? await this.#log.next(this.#readPos, limit, wait) : await readWhole(this.#log, this.#readPos, limit, wait, signal);
      } catch (err) {
        if (signal.aborted) return;
        if (wait !== signal && wait.aborted) continue;
        if (err instanceof EventLogCulledError) {
          this.stopAtCulledLog(err);
          return;
        }
        this.#opts.logger.error({ err, pos: this.#readPos }, 'reading the event log failed; reading again');
        try {
          await sleepLong(this.#opts.fetchIntervalMs, { signal });
        } catch {
          return;
        }
        continue;
      }
      const until = this.#until;
      const events = slice.events.filter((e) => e.id > this.#ids.high && (until === null || e.id <= until));
      // Rows folded into a `_New` handed out before are passed over (never noted as gaps).
      const fresh = this.#ids.hasAhead ? events.filter((e) => !this.#ids.isAhead(e.id)) : events;
      // A read made short by the window (not by the log) must not take a `_New` whose rows it cannot see.
      const shortened = limit < Math.min(this.#opts.batchSize, this.#lanes.window);
      const more = slice.events.length >= limit;
      const fold = this.#folding.fold(fresh, more, Date.now(), shortened);
      const cut = fresh[fold.taken]?.id ?? Infinity;
      // Nothing starts while a read is taken in: a `_New` waits until its folded rows are pending.
      if (!(await this.#intake.takeRead(events, fold, cut, until, signal, (id) => {
        this.#readPos = id;
      }))) return;
      this.#pump();
      if (!signal.aborted && fold.taken === fresh.length) this.#readPos = Math.min(until ?? Infinity, Math.max(this.#readPos, slice.upTo));
      else if (fold.taken === 0 && more && shortened) {
        // The window is nearly full: read the `_New` again once callbacks finished and made room.
        this.#opts.logger.debug({ eventId: fresh[0]?.id, room: limit }, 'a creation waits for room in the window to be read with its rows');
        await this.#waitForChange(this.#opts.fetchIntervalMs);
      }
      // A `_New` at the newest end of the log waits for its rows while its window is open.
      else if (fold.taken === 0) await sleepLong(Math.min(this.#opts.fetchIntervalMs, this.#opts.coalesce?.windowMs ?? 0), { signal }).catch(() => undefined);
    }
  }

  /** Starts lane heads while fewer than `max` run and nothing stops the plugin. */
  #pump(): void {
    while (!this.#intake.holding && this.#inflight < this.#opts.max && this.#halt === null && !this.signal.aborted) {
      const next = this.#lanes.take();
      if (next === null) return;
      if (next.waitedMs !== null) this.#opts.onLaneWait?.(this.#opts.name, next.waitedMs);
      this.#inflight++;
      void this.#runHead(next.key, next.event);
    }
  }

  async #runHead(key: string, event: EventLogEntry): Promise<void> {
    let finished = false;
    const retry = this.#retries.get(event.id);
    try {
      const outcome = await runEvent(this.ctx, event, retry !== undefined ? 'retry' : this.#until !== null ? 'replay' : this.#gapOrigin(event), this.signal, null, key);
      if (retry !== undefined && outcome.kind !== 'aborted') {
        // A dead letter run again: it never moves the cursor nor stops the plugin.
        this.#retries.delete(event.id);
        if (outcome.kind === 'ok') await retry.resolve();
        else await retry.fail(outcome.error.message);
        this.#lanes.finish(key);
        return;
      }
      if (outcome.kind === 'aborted') {
        // Stopping: the event stays pending. Otherwise the thread was ended
        // under it by another lane's timeout: it runs again, not counted.
        if (!this.signal.aborted) this.#opts.logger.info({ eventId: event.id, code: outcome.error.code }, 'event cut off by a thread restart; delivering it again');
      } else if (outcome.kind === 'deactivate') {
        // Every lane stops taking events; those in flight finish; the cursor stays on this one (pending).
        this.#halt ??= { event, callback: outcome.callback, error: outcome.error };
        this.halt();
      } else {
        if (outcome.kind === 'skipped') {
          this.counters.failed++;
          this.lastErrorText = `${outcome.callback ?? 'plugin'}: ${outcome.error.message}`;
        } else this.counters.processed++;
        finished = true;
      }
    } catch (err) {
      // A fault of the daemon itself: stop, with the event pending.
      this.#opts.logger.error({ err, eventId: event.id }, 'running an event failed unexpectedly; the plugin cursor stops');
      this.halt();
    } finally {
      if (finished) {
        this.#lanes.finish(key);
        this.#finishId(event.id);
        if (this.#until !== null) this.#onReplayed?.(event);
      } else if (retry === undefined || this.#retries.has(event.id)) this.#lanes.release(key);
      this.#inflight--;
      this.wake();
      this.#pump();
    }
  }

  #gapOrigin(event: EventLogEntry): 'live' | 'backlog' {
    return event.id <= this.#ids.high ? 'backlog' : 'live';
  }

  #finishId(id: number): void {
    this.#ids.finish(id);
    if (this.#opts.replay === true) return;
    this.#persist();
    this.batcher?.eventDone();
  }

  /**
   * Dead letters marked for retry (`sgeventd dlq retry`) join their key's
   * lane like any event, so they run with the plugin's concurrency and in
   * order within a key; they are taken again only once the last ones ran.
   */
  async #takeRetries(): Promise<void> {
    if (this.retryTaker === null || this.#retries.size > 0) return;
    for (const item of await this.retryTaker(20)) {
      this.#retries.set(item.event.id, item);
      this.#lanes.add(laneKey(item.event, this.#opts.by), item.event);
    }
    this.#pump();
  }

  /**
   * Runs events `(from, to]` once with the plugin's concurrency (a replay
   * side run: the cursor was made with `lastEventId: from` and `replay`);
   * returns how many reached the plugin.
   */
  async replayRange(from: number, to: number, onProgress?: (pos: number) => void): Promise<number> {
    const at = this.#ids.high;
    if (from !== at) throw new SgeventdError('REPLAY_RANGE', `a replay cursor starts where it was made (${at}), not at ${from}`, { details: { from, at } });
    let handled = 0;
    this.#until = to;
    this.#onReplayed = (event) => {
      handled++;
      onProgress?.(event.id);
    };
    await this.start();
    return handled;
  }

  #persist(): void {
    if (this.#opts.replay) return;
    this.batcher?.plugin(this.row(this.status !== 'deactivated'));
  }

  protected override wake(): void {
    const changed = this.#changed;
    this.#changed = null;
    changed?.();
    if (this.#inflight === 0) {
      const drained = this.#drained;
      this.#drained = null;
      drained?.();
    }
  }

  async #waitForChange(ms: number): Promise<void> {
    const changed = new Promise<void>((resolve) => {
      this.#changed = resolve;
    });
    await Promise.race([changed, sleepLong(ms, { signal: this.signal }).catch(() => undefined)]);
  }

  /** Resolves once no callback is in flight (each is bounded by the callback timeout). */
  protected override async drain(): Promise<void> {
    if (this.#inflight === 0) return;
    await new Promise<void>((resolve) => {
      this.#drained = resolve;
    });
  }
}
