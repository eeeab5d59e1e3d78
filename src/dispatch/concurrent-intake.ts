// How a concurrent cursor (concurrent-cursor.ts) takes events into its key
// lanes as pending: scope decided (out of scope: finished at once), a read's
// rows folded into their `_New` kept pending with it, ids handed out before
// read again (after a restart, or a parked lane's), and the late ids of gaps
// looked up once per fetch interval. While a read is taken in (`holding`)
// the cursor starts nothing: a `_New` waits until its folded rows are pending.
import { sleepLong, type EventLogEntry } from '../shared/index.ts';
import type { EventLog } from '../source/index.ts';
import type { EventScope } from './cursor-types.ts';
import { expireGaps, inScope, noteGaps, type StepContext } from './cursor-steps.ts';
import type { ConcurrentFolding, ReadFold } from './concurrent-folding.ts';
import { laneKey, type ConcurrencyKeyBy, type KeyLanes } from './key-lanes.ts';
import type { UnfinishedIds } from './unfinished-ids.ts';

/** What the intake shares with its cursor. */
export interface IntakeParts {
  readonly ids: UnfinishedIds;
  readonly lanes: KeyLanes;
  readonly folding: ConcurrentFolding;
  readonly log: EventLog;
  readonly scope: EventScope;
  readonly ctx: StepContext;
  readonly by: ConcurrencyKeyBy;
  /** The cursor's current run (a new one at each start). */
  signal(): AbortSignal;
  /** An id done with: out of the unfinished ids, stored. */
  finishId(id: number): void;
  /** Stores the cursor's position. */
  persist(): void;
  /** Starts lane heads while there is room. */
  pump(): void;
}

/** Events into the lanes of one concurrent cursor. */
export class ConcurrentIntake {
  readonly #p: IntakeParts;
  #holding = false;
  #lastBacklogCheck = 0;

  constructor(parts: IntakeParts) {
    this.#p = parts;
  }

  /** True while a read is being taken in: no lane head may start. */
  get holding(): boolean {
    return this.#holding;
  }

  /**
   * Takes in a fresh read of the log: gaps noted (not in a replay), rows
   * folded into a `_New` kept pending with it, the rest accepted, up to the
   * first event not taken (`cut`). `passed` follows each event read. False
   * when the run was stopped meanwhile.
   */
  async takeRead(events: readonly EventLogEntry[], fold: ReadFold, cut: number, until: number | null, signal: AbortSignal, passed: (id: number) => void): Promise<boolean> {
    const ids = this.#p.ids;
    this.#holding = true;
    try {
      for (const event of events) {
        if (event.id >= cut) break;
        if (signal.aborted) return false;
        if (until === null) noteGaps(this.#p.ctx, ids.gaps, ids.high, event);
        if (!ids.passAhead(event.id)) {
          const owner = fold.rowOf.get(event.id);
          if (owner === undefined) await this.accept(fold.byId.get(event.id) ?? event, true);
          else this.foldRow(owner, event.id);
        }
        passed(event.id);
      }
      // Rows past the end of what was taken, folded into a `_New` taken: pending with it, passed over when read.
      for (const [row, owner] of fold.ahead) this.foldRow(owner, row, true);
    } finally {
      this.#holding = false;
    }
    return true;
  }

  /**
   * A row folded into the `_New` `owner`: pending until the `_New` finished
   * (stored as pending, so a restart reads both again and folds them again).
   */
  foldRow(owner: number, row: number, ahead = false): void {
    // A row past what the read handed out is passed over when read (the highest id handed out stays below it).
    if (!this.#p.ids.foldRow(owner, row, ahead)) {
      // The `_New` was out of scope (finished at once): so is its row.
      this.#p.finishId(row);
      return;
    }
    this.#p.persist();
  }

  /** Scope decided; in-scope events join their lane as pending, the rest are finished at once. */
  async accept(event: EventLogEntry, fresh: boolean): Promise<void> {
    const { ids, ctx } = this.#p;
    const decided = inScope(ctx, this.#p.scope, event);
    const take = typeof decided === 'boolean' ? decided : await decided;
    if (!take) {
      ctx.counters.skipped++;
      if (fresh) ids.raise(event.id);
      this.#p.finishId(event.id);
      return;
    }
    ids.markPending(event.id);
    // The stored high watermark moves only once the event is stored as pending.
    if (fresh && event.id > ids.high) {
      ids.raise(event.id);
      this.#p.persist();
    }
    this.#p.lanes.add(laneKey(event, this.#p.by), event);
    this.#p.pump();
  }

  /** Reads pending or parked ids again (`key` null: ids recovered at start, lanes chosen as they are read). */
  async readAgain(ids: number[], key: string | null): Promise<void> {
    const { lanes, folding, ctx } = this.#p;
    const unfinished = this.#p.ids;
    const logger = ctx.opts.logger;
    const signal = this.#p.signal();
    let found: Map<number, EventLogEntry>;
    // A parked `_New` gets its folded rows back.
    const rows = key === null ? [] : ids.flatMap((id) => unfinished.foldedRows(id) ?? []);
    try {
      found = await this.#p.log.lookup([...ids, ...rows], signal);
    } catch (err) {
      if (signal.aborted) return;
      logger.warn({ err }, 'reading handed-out events again failed; will try again');
      if (key === null) unfinished.returnRecovered(ids);
      else lanes.returnParked(key, ids);
      await sleepLong(ctx.opts.fetchIntervalMs, { signal }).catch(() => undefined);
      return;
    }
    const events: EventLogEntry[] = [];
    for (const id of ids) {
      const event = found.get(id);
      if (event !== undefined) events.push(event);
      else {
        logger.warn({ eventId: id }, 'a handed-out event is no longer in the event log; counted as finished');
        this.#p.finishId(id);
      }
    }
    if (key === null) {
      // Recovered ids fold again by the same rule: a `_New` and its rows were pending together.
      const fold = folding.fold(events, false);
      this.#holding = true;
      try {
        for (const event of events) {
          const owner = fold.rowOf.get(event.id);
          if (owner === undefined) await this.accept(fold.byId.get(event.id) ?? event, false);
          else this.foldRow(owner, event.id, event.id > unfinished.high);
        }
      } finally {
        this.#holding = false;
      }
    } else {
      lanes.requeue(key, events.map((event) => {
        const folded = unfinished.foldedRows(event.id);
        if (folded === undefined) return event;
        const changes = folded.map((id) => found.get(id)).filter((e) => e !== undefined);
        return { ...event, meta: { ...(event.meta ?? {}), in_create_changes: changes } };
      }));
    }
    this.#p.pump();
  }

  /** Looks for late ids once per fetch interval; a late id joins its lane (after what is queued there). */
  async checkBacklog(): Promise<void> {
    const { ctx } = this.#p;
    const gaps = this.#p.ids.gaps;
    if (gaps.size === 0) return;
    const now = Date.now();
    if (now - this.#lastBacklogCheck < ctx.opts.fetchIntervalMs) return;
    this.#lastBacklogCheck = now;
    expireGaps(ctx, gaps, now);
    if (gaps.size === 0) return;
    const signal = this.#p.signal();
    let found: Map<number, EventLogEntry>;
    try {
      found = await this.#p.log.lookup([...gaps.keys()], signal);
    } catch (err) {
      if (!signal.aborted) ctx.opts.logger.warn({ err }, 'looking up backlog ids failed; will try again');
      return;
    }
    for (const event of [...found.values()].sort((a, b) => a.id - b.id)) {
      if (!gaps.has(event.id)) continue;
      ctx.opts.logger.info({ eventId: event.id }, 'late event arrived from the backlog');
      // The gap becomes pending (same row, new kind): it leaves the backlog when its callbacks finished.
      gaps.delete(event.id);
      await this.accept(event, false);
    }
  }
}
