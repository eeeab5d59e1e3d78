// A spread plugin's own record (the lease `plugin.<id>`), as the nodes
// running its partitions use it: where partitions never claimed in this
// spread start, which spread this is (its generation), and the cluster-wide
// pause and deactivation. docs/ARCHITECTURE.md, "Scale-out".
import type { Logger } from 'pino';
import type { ClusterLeaseOptions } from '../config/index.ts';
import { SgeventdError, sleepLong } from '../shared/index.ts';
import type { ClusterConnection } from './connect.ts';
import { freshCursor, type PendingEvent, type WorkerCursorState } from './cursor.ts';
import type { FencedLease } from './fence.ts';
import type { ClusterNames } from './names.ts';
import type { ControlRecord } from './plugin-control.ts';

export interface SpreadOriginOptions {
  readonly lease: FencedLease<WorkerCursorState | null>;
  /** The plugin's `plugin enable/disable` record (plugin-control.ts). */
  readonly control?: { read(): Promise<ControlRecord | null> };
  readonly conn: Pick<ClusterConnection, 'jsm'>;
  readonly names: ClusterNames;
  readonly timing: ClusterLeaseOptions;
  readonly retryMs: number;
  readonly log: Logger;
}

/** Whether two records of the plugin are of the same spread, not merged back. */
export function sameSpread(a: WorkerCursorState, b: WorkerCursorState | null): boolean {
  return a.spread?.merged === false && b?.spread?.merged === false && a.spread.generation === b.spread.generation;
}

/** The plugin's own record while this node runs its partitions. */
export class SpreadOrigin {
  readonly #opts: SpreadOriginOptions;
  #state: WorkerCursorState | null = null;
  /** The record no longer says this spread (taken back onto one node, or spread again by others). */
  #stale = false;
  /** Stream sequence → partition (a message's subject never changes, so entries never go stale). */
  readonly #partitionOf = new Map<number, number>();

  constructor(opts: SpreadOriginOptions) {
    this.#opts = opts;
  }

  /** The record as last read (null before `take`). */
  get state(): WorkerCursorState | null {
    return this.#state;
  }

  /** True once the record says another spread, or none: this node's partitions must end, then `take` again. */
  get stale(): boolean {
    return this.#stale;
  }

  /**
   * Takes part in the spread the record says, or starts one. The first node
   * to run the plugin spread writes it (the stream's end then, as one
   * machine starts after the newest event); a plugin that ran on one node
   * before (HA, or merged back) continues from its cursor, in a new
   * generation. Null once stopped.
   */
  async take(stop: AbortSignal): Promise<WorkerCursorState | null> {
    const { lease, log } = this.#opts;
    while (!stop.aborted) {
      try {
        const last = await lease.read();
        const known = last?.record.state ?? null;
        if (known !== null && known.spread?.merged === false && (last?.record.released === true || last?.record.holder === null)) return this.#took(known);
        // Taken through the fence: a node still running the plugin on one node (by: none) finishes its term first.
        const tenure = await lease.acquire(stop);
        // Its pending entries (unfinished when it ran on one node) stay: each partition never claimed takes those of its subject.
        const found: WorkerCursorState = tenure.state ?? freshCursor(await this.#streamEnd());
        // A new spread (the first, or after the plugin ran on one node again): partition records of an earlier one are stale.
        const origin: WorkerCursorState = found.spread?.merged === false ? found
          : { ...found, spread: { generation: found.spread === undefined ? 1 : found.spread.generation + 1, merged: false } };
        await tenure.release(origin);
        log.info({ highSeq: origin.highSeq, generation: origin.spread?.generation }, 'plugin spread over partitions: partitions never claimed in this spread start after this stream sequence');
        return this.#took(origin);
      } catch (err) {
        if (stop.aborted) return null;
        log.warn({ err }, 'reading the plugin\'s record failed; trying again');
        await sleepLong(this.#opts.retryMs, { signal: stop }).catch(() => undefined);
      }
    }
    return null;
  }

  /** Reads the record again (each reconcile): the same spread updates it (pause, deactivation); another marks it stale. */
  async refresh(): Promise<void> {
    try {
      const now = (await this.#opts.lease.read())?.record.state ?? null;
      if (now === null) return;
      if (sameSpread(now, this.#state)) this.#state = now;
      else this.#markStale(now);
    } catch (err) {
      this.#opts.log.debug({ err }, 'reading the plugin\'s record failed; keeping the last one read');
    }
  }

  /**
   * Read again once a partition is claimed: a node that took the plugin back
   * onto itself merged the partitions' cursors first (holding every
   * partition lease), so a record still saying this spread means no such
   * node runs it.
   */
  async stillSpread(stop: AbortSignal): Promise<boolean> {
    while (!stop.aborted) {
      try {
        const now = (await this.#opts.lease.read())?.record.state ?? null;
        if (now === null || sameSpread(now, this.#state)) return true;
        this.#markStale(now);
        return false;
      } catch (err) {
        this.#opts.log.warn({ err }, 'reading the plugin\'s record failed; trying again');
        await sleepLong(this.#opts.retryMs, { signal: stop }).catch(() => undefined);
      }
    }
    return false;
  }

  /**
   * `plugin enable/disable` of a spread plugin: the newest control record is
   * written into the plugin's own record (through its fence, by whichever
   * node sees it first), which every node reads at each reconcile: a pause
   * stops every partition on every node (drained and committed), an enable
   * lets each partition resume at its own cursor.
   */
  async applyControl(): Promise<void> {
    const { control, lease, log } = this.#opts;
    const known = this.#state;
    if (control === undefined || known === null || this.#stale) return;
    let rec: ControlRecord | null;
    try {
      rec = await control.read();
    } catch (err) {
      log.debug({ err }, 'reading the plugin control record failed; applied at the next look');
      return;
    }
    if (rec === null || rec.seq <= known.control) return;
    const signal = AbortSignal.timeout(this.#opts.timing.ttlMs * 2);
    try {
      const tenure = await lease.acquire(signal);
      const state = tenure.state ?? known;
      // Another node may have applied it (or a newer one) meanwhile.
      const next = rec.seq <= state.control ? state
        : { ...state, control: rec.seq, paused: rec.paused, ...(rec.paused ? {} : { active: true, lastError: null }) };
      await tenure.release(next);
      if (sameSpread(next, known)) this.#state = next;
      else this.#markStale(next);
      if (next !== state) log.info({ paused: rec.paused, control: rec.seq }, rec.paused ? 'spread plugin disabled for the cluster: every partition stops' : 'spread plugin enabled for the cluster: each partition resumes at its cursor');
    } catch (err) {
      log.warn({ err }, 'applying the plugin control record failed; trying again at the next look');
    }
  }

  /** stopOnError in one partition deactivates the plugin for the cluster: written in the plugin's own record. */
  async deactivate(lastError: string | null, stop: AbortSignal): Promise<void> {
    const { lease, log } = this.#opts;
    const signal = AbortSignal.any([stop, AbortSignal.timeout(this.#opts.timing.ttlMs * 2)]);
    try {
      const tenure = await lease.acquire(signal);
      const state = tenure.state ?? this.#state ?? freshCursor(0);
      const next = { ...state, active: false, lastError };
      await tenure.release(next);
      if (sameSpread(next, this.#state)) this.#state = next;
      log.error({ lastError }, 'plugin deactivated for the whole cluster (stopOnError)');
    } catch (err) {
      log.error({ err }, 'recording the plugin\'s deactivation for the cluster failed; its other partitions keep running');
    }
  }

  /**
   * The record's pending events that belong to `partition` (a plugin that
   * ran on one node before it was spread: the events it had handed out and
   * not finished), found by the subject each was published on (one stream
   * read per event, once); an event no longer in the stream cannot be run
   * again and is left.
   */
  async inheritedPending(origin: WorkerCursorState, partition: number, stop: AbortSignal): Promise<PendingEvent[]> {
    const { conn, names, log } = this.#opts;
    for (const p of origin.pending) {
      while (!stop.aborted && !this.#partitionOf.has(p.seq)) {
        try {
          const m = await conn.jsm.streams.getMessage(names.eventStream, { seq: p.seq });
          const n = m === null ? NaN : Number(m.subject.slice(m.subject.lastIndexOf('.') + 1));
          if (Number.isInteger(n)) this.#partitionOf.set(p.seq, n);
          else log.warn({ seq: p.seq, eventId: p.id }, 'an event left unfinished before the plugin was spread is no longer in the stream; it cannot run again');
          break;
        } catch (err) {
          log.warn({ err, seq: p.seq }, 'reading an unfinished event\'s partition failed; trying again');
          await sleepLong(this.#opts.retryMs, { signal: stop }).catch(() => undefined);
        }
      }
    }
    if (stop.aborted) return [];
    return origin.pending.filter((p) => this.#partitionOf.get(p.seq) === partition);
  }

  #took(state: WorkerCursorState): WorkerCursorState {
    this.#state = state;
    this.#stale = false;
    return state;
  }

  #markStale(now: WorkerCursorState): void {
    if (!this.#stale) this.#opts.log.info({ spread: now.spread ?? null }, 'the plugin\'s record no longer says this spread (taken back onto one node, or spread again): its partitions here end');
    this.#stale = true;
  }

  async #streamEnd(): Promise<number> {
    const stream = this.#opts.names.eventStream;
    try {
      return (await this.#opts.conn.jsm.streams.info(stream)).state.last_seq;
    } catch (err) {
      throw new SgeventdError('CLUSTER_STREAM_UNAVAILABLE', `the event stream ${stream} could not be read`, { cause: err, details: { stream } });
    }
  }
}
