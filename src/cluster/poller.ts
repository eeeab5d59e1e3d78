// The cluster's one reader of the site's event log: the node holding the
// `poller` lease reads the log and publishes each event once to its
// partition's subject. Its read position is the lease's fenced state, so a
// deposed poller can never move its successor's position.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Subscription } from '@nats-io/transport-node';
import { z } from 'zod';
import type { ClusterConfig, DaemonOptions } from '../config/index.ts';
import { describeError, type EventLogEntry } from '../shared/index.ts';
import type { EventSource } from '../source/index.ts';
import type { ClusterConnection } from './connect.ts';
import { ensureEventStream } from './connect.ts';
import { FencedLease, type ClusterLogger, type LeaseTenure } from './fence.ts';
import { LeaseLostError } from './errors.ts';
import type { ClusterNames } from './names.ts';
import { PublishChain, type PublishCounts } from './publish-chain.ts';

export { EPOCH_HEADER } from './publish-chain.ts';

/** The poller's fenced state: everything up to `lastId` is published except `gaps` (ids not visible yet, until `expiresAt`, epoch ms). */
export const pollerStateSchema = z.object({
  /** -1: nothing read yet (the first holder starts at the site's newest id, or `startAfter`). */
  lastId: z.number().int().min(-1),
  gaps: z.array(z.object({ id: z.number().int().positive(), expiresAt: z.number() })),
  /** Stream sequence of the last message published with this state (0: none); a successor scans what follows it. */
  seq: z.number().int().nonnegative().default(0),
});
export type PollerState = z.infer<typeof pollerStateSchema>;

const wakeSchema = z.object({ atLeastId: z.number().int().nonnegative() });

/** Tells the poller's holder that the log has reached at least `atLeastId` (a webhook delivery): it reads at once. */
export function wakePoller(conn: Pick<ClusterConnection, 'nc'>, names: ClusterNames, atLeastId: number): void {
  conn.nc.publish(names.wakeSubject, JSON.stringify({ atLeastId }));
}

export interface ClusterPollerOptions {
  readonly conn: ClusterConnection;
  readonly names: ClusterNames;
  readonly cluster: Pick<ClusterConfig, 'nodeId' | 'replicas' | 'partitions' | 'maxAgeMs' | 'duplicateWindowMs' | 'lease' | 'poller'>;
  readonly daemon: Pick<DaemonOptions, 'maxEventBatchSize' | 'fetchIntervalMs' | 'backlogTimeoutMs'>;
  /** The site's event log (the daemon passes its ResilientEventSource: site failures are retried there). */
  readonly source: EventSource;
  /** Where a cluster with no poller state starts: after this id (default: the site's newest id). */
  readonly startAfter?: number;
  readonly logger?: ClusterLogger;
}

/** Counters of this node's poller. */
export interface PollerStats extends PublishCounts {
  tenures: number;
  lateIds: number;
  /** Reads of the log after the newest id (one per round): a wake shows as one more read. */
  reads: number;
}

/**
 * Holds the `poller` lease when it can and, while it holds it, publishes the
 * site's events to the event stream with `Nats-Msg-Id = <site>:<eventId>`
 * (a republish by a successor is dropped by the dedup window), a bounded
 * number in flight. After each batch the position is written through the
 * fence; a failed fence or a stale renewal stops publishing at once.
 *
 * @example
 * const poller = await ClusterPoller.open({ conn, names, cluster, daemon, source });
 * await poller.run(signal);   // until signal aborts; then poller.close() releases
 */
export class ClusterPoller {
  readonly lease: FencedLease<PollerState>;
  readonly stats: PollerStats = { tenures: 0, published: 0, duplicates: 0, lateIds: 0, publishFailures: 0, reads: 0 };
  readonly #opts: ClusterPollerOptions;
  #wake: (() => void) | undefined;
  #wakeSub: Subscription | undefined;
  #wokenTo = 0;
  #lastId = -1;
  /** The order of the stream held by this node's tenure (publish-chain.ts). */
  readonly #chain: PublishChain;

  private constructor(opts: ClusterPollerOptions, lease: FencedLease<PollerState>) {
    this.#opts = opts;
    this.lease = lease;
    this.#chain = new PublishChain({
      conn: opts.conn, names: opts.names, partitions: opts.cluster.partitions, maxInFlight: opts.cluster.poller.maxInFlight,
      renewMs: opts.cluster.lease.renewMs, logger: opts.logger, counts: this.stats,
    });
  }

  /** Creates the event stream and the lease stream when missing. */
  static async open(opts: ClusterPollerOptions): Promise<ClusterPoller> {
    await ensureEventStream(opts.conn.jsm, opts.names, opts.cluster);
    const lease = await FencedLease.open<PollerState>({
      conn: opts.conn, names: opts.names, key: 'poller', nodeId: opts.cluster.nodeId, timing: opts.cluster.lease,
      replicas: opts.cluster.replicas, state: pollerStateSchema, initial: { lastId: -1, gaps: [], seq: 0 },
      ...(opts.logger === undefined ? {} : { logger: opts.logger }),
    });
    return new ClusterPoller(opts, lease);
  }

  /** The last event id this node published or found published (-1 before any). */
  get lastId(): number {
    return this.#lastId;
  }

  /** Waits for the lease and publishes while holding it, again and again, until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    this.#subscribeWake();
    try {
      while (!signal.aborted) {
        let tenure: LeaseTenure<PollerState>;
        try {
          tenure = await this.lease.acquire(signal);
        } catch (err) {
          if (signal.aborted) return;
          throw err;
        }
        this.stats.tenures++;
        const both = AbortSignal.any([signal, tenure.signal]);
        try {
          await this.#hold(tenure, both);
        } catch (err) {
          if (!(err instanceof LeaseLostError) && !both.aborted) throw err;
        }
        if (signal.aborted) return;
        if (tenure.held) continue;
        this.#opts.logger?.warn({ epoch: tenure.epoch }, 'cluster: poller lease lost, publishing stopped');
      }
    } finally {
      this.#wakeSub?.unsubscribe();
      this.#wakeSub = undefined;
    }
  }

  /** Stops as a crash would: no release, the others take over after the TTL. */
  abandon(): void {
    this.lease.abandon();
  }

  /** Releases the lease (another node takes over at once). Call after `run`'s signal aborted. */
  async close(): Promise<void> {
    await this.lease.close();
  }

  // Holds until the tenure ends or `signal` aborts. A failed round (the site,
  // NATS) is logged and tried again while the lease is held; its events are
  // read again from the stored position and come back as duplicates.
  async #hold(tenure: LeaseTenure<PollerState>, signal: AbortSignal): Promise<void> {
    const { daemon, logger } = this.#opts;
    let state: PollerState | undefined;
    const rounds = { lastGapLookup: 0 };
    while (!signal.aborted && tenure.held) {
      try {
        state ??= await this.#begin(tenure, signal);
        state = await this.#round(tenure, state, rounds, signal);
      } catch (err) {
        if (err instanceof LeaseLostError || signal.aborted || !tenure.held) throw err;
        logger?.error({ epoch: tenure.epoch, err: describeError(err) }, 'cluster: poller round failed, will retry');
        await sleep(Math.max(50, Math.min(daemon.fetchIntervalMs, 5000)), undefined, { signal }).catch(() => undefined);
      }
    }
  }

  async #begin(tenure: LeaseTenure<PollerState>, signal: AbortSignal): Promise<PollerState> {
    let state = tenure.state;
    if (state.lastId < 0) {
      state = { lastId: this.#opts.startAfter ?? await this.#opts.source.newestId(signal), gaps: [], seq: state.seq };
      await tenure.write(state);
    }
    state = await this.#takeOver(tenure, state, signal);
    this.#lastId = state.lastId;
    this.#opts.logger?.info({ epoch: tenure.epoch, lastId: state.lastId, gaps: state.gaps.length }, 'cluster: poller publishing');
    return state;
  }

  /** One read of the log (and of late ids), published, then the position written through the fence. */
  async #round(tenure: LeaseTenure<PollerState>, state: PollerState, rounds: { lastGapLookup: number }, signal: AbortSignal): Promise<PollerState> {
    const { source, daemon } = this.#opts;
    const gaps = new Map(state.gaps.map((g) => [g.id, g.expiresAt]));
    const now = Date.now();
    for (const [id, expiresAt] of gaps) {
      if (expiresAt <= now) {
        gaps.delete(id);
        this.#opts.logger?.info({ eventId: id }, 'cluster: giving up on missing event id after the backlog timeout');
      }
    }
    const toPublish: EventLogEntry[] = [];
    // Late ids: looked up at most once per fetch interval; published after higher ones.
    if (gaps.size > 0 && performance.now() - rounds.lastGapLookup >= daemon.fetchIntervalMs) {
      rounds.lastGapLookup = performance.now();
      const wanted = [...gaps.keys()].sort((a, b) => a - b);
      const late: EventLogEntry[] = [];
      for (let i = 0; i < wanted.length; i += daemon.maxEventBatchSize) {
        late.push(...await source.readIds(wanted.slice(i, i + daemon.maxEventBatchSize), signal));
      }
      for (const e of late) {
        gaps.delete(e.id);
        toPublish.push(e);
        this.stats.lateIds++;
      }
    }
    const events = await source.readAfter(state.lastId, daemon.maxEventBatchSize, signal);
    this.stats.reads++;
    let lastId = state.lastId;
    for (const e of events) {
      if (e.id <= lastId) continue;
      noteGaps(gaps, lastId, e, daemon.backlogTimeoutMs);
      toPublish.push(e);
      lastId = e.id;
    }
    const seq = toPublish.length > 0 ? await this.#chain.publish(tenure, toPublish, signal) : state.seq;
    if (toPublish.length > 0) this.#opts.logger?.debug({ epoch: tenure.epoch, events: toPublish.length, lastId }, 'cluster: poller published');
    const next: PollerState = { lastId, gaps: [...gaps].map(([id, expiresAt]) => ({ id, expiresAt })), seq };
    if (toPublish.length > 0 || next.gaps.length !== state.gaps.length) await tenure.write(next);
    this.#lastId = lastId;
    if (events.length < daemon.maxEventBatchSize) await this.#idle(daemon.fetchIntervalMs, signal);
    return next;
  }

  /**
   * Makes the event stream this tenure's (publish-chain.ts: a takeover mark,
   * then every publish expects the previous one's id, so a deposed holder's
   * next publish fails). Ids the previous holder published beyond its stored
   * state are not published again; the ids between them are gaps.
   */
  async #takeOver(tenure: LeaseTenure<PollerState>, state: PollerState, signal: AbortSignal): Promise<PollerState> {
    const { published, seq } = await this.#chain.takeOver(tenure, state.seq, signal);
    const gaps = new Map(state.gaps.map((g) => [g.id, g.expiresAt]));
    for (const id of published) gaps.delete(id);
    let lastId = state.lastId;
    const highest = Math.max(lastId, ...published);
    const expiresAt = Date.now() + this.#opts.daemon.backlogTimeoutMs;
    for (let id = lastId + 1; id <= highest; id++) if (!published.has(id)) gaps.set(id, expiresAt);
    lastId = highest;
    const next: PollerState = { lastId, gaps: [...gaps].map(([id, e]) => ({ id, expiresAt: e })), seq };
    if (published.size > 0) this.#opts.logger?.info({ epoch: tenure.epoch, ids: published.size, lastId }, 'cluster: poller found ids published by its predecessor');
    await tenure.write(next);
    return next;
  }

  async #idle(ms: number, signal: AbortSignal): Promise<void> {
    // One read at once per wake: a delivery may announce an id the log does not show yet.
    if (this.#wokenTo > this.#lastId) {
      this.#wokenTo = 0;
      return;
    }
    const ctl = new AbortController();
    const stop = AbortSignal.any([signal, ctl.signal]);
    this.#wake = () => ctl.abort();
    try {
      await sleep(ms, undefined, { signal: stop });
    } catch {
      // woken or stopped
    } finally {
      this.#wake = undefined;
    }
  }

  #subscribeWake(): void {
    if (this.#wakeSub !== undefined) return;
    this.#wakeSub = this.#opts.conn.nc.subscribe(this.#opts.names.wakeSubject, {
      callback: (err, msg) => {
        if (err !== null) return;
        let parsed: z.infer<typeof wakeSchema>;
        try {
          parsed = wakeSchema.parse(msg.json());
        } catch (e) {
          this.#opts.logger?.warn({ err: describeError(e) }, 'cluster: ignoring a malformed wake message');
          return;
        }
        this.#wokenTo = Math.max(this.#wokenTo, parsed.atLeastId);
        if (parsed.atLeastId > this.#lastId) this.#wake?.();
      },
    });
  }
}

/**
 * Ids between `lastId` and `event` are not visible yet (committed late, or
 * never): held until `backlogTimeoutMs`, unless the later event is already
 * older than that (they would have shown up; the rule of the plugin cursors).
 */
function noteGaps(gaps: Map<number, number>, lastId: number, event: EventLogEntry, backlogTimeoutMs: number): void {
  if (lastId < 0 || event.id <= lastId + 1) return;
  const now = Date.now();
  const age = event.created_at ? now - event.created_at.getTime() : 0;
  if (age > backlogTimeoutMs) return;
  for (let id = lastId + 1; id < event.id; id++) if (!gaps.has(id)) gaps.set(id, now + backlogTimeoutMs);
}
