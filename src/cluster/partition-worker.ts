// A plugin spread over the cluster (`concurrency: { by: project | entity }`):
// on this node, one term per partition placed here, each holding the lease
// `plugin.<id>.p<n>` with its own cursor and reading only its partition's
// subject. The plugin's host (thread or Python process) is loaded once and
// shared by the node's partitions, within one `max` of callbacks.
import type { DeadLetterBook } from './dead-letters.ts';
import type { Logger } from 'pino';
import type { ClusterLeaseOptions, DaemonConfig, PluginFolderConfig } from '../config/index.ts';
import type { PluginFailure, ProjectDirectory, TimingRecord } from '../dispatch/index.ts';
import type { LoadResult, PluginHost } from '../hosts/index.ts';
import { sleepLong, type EventLogEntry } from '../shared/index.ts';
import { ActiveRun, type SlotGate } from './active-run.ts';
import type { HeldLease } from './lease-types.ts';
import type { ClusterConnection } from './connect.ts';
import { freshCursor, WorkerCursor, workerCursorSchema, type WorkerCursorState } from './cursor.ts';
import { FencedLease, type LeaseTenure } from './fence.ts';
import { takePartitions } from './partition-merge.ts';
import { SpreadOrigin } from './partition-origin.ts';
import type { HeldPartition } from './membership.ts';
import type { ClusterNames } from './names.ts';
import type { ControlRecord } from './plugin-control.ts';

/** The lease key of one (plugin, partition). */
export function partitionLeaseKey(pluginId: string, partition: number): string {
  return `plugin.${pluginId}.p${partition}`;
}

/** What a spread plugin needs of the node's placement (partition-coordinator.ts). */
export interface PartitionPlacement {
  /** Partitions placed on this node now (empty until placement has settled). */
  assigned(): ReadonlySet<number>;
  /** Called when the placement of this node changes; returns the unsubscribe. */
  onChange(listener: () => void): () => void;
  /** One event of `project` handed out in `partition` (the recent work placement weighs). */
  note(partition: number, project: number | null): void;
  /** Whether a live node holds `partition` now (from the heartbeats). */
  heldByLive(partition: number): boolean;
}

export interface PartitionWorkerOptions {
  id: string;
  entry: { name: string };
  folder: PluginFolderConfig;
  config: DaemonConfig;
  directory: ProjectDirectory;
  conn: Pick<ClusterConnection, 'nc' | 'js' | 'jsm'>;
  names: ClusterNames;
  nodeId: string;
  partitions: number;
  timing: ClusterLeaseOptions;
  replicas: number;
  /** A partition is held at least this long before a rebalance moves it. */
  holdMs: number;
  /** The plugin's own lease (`plugin.<id>`): where partitions never claimed start, and the cluster-wide pause or deactivation. */
  origin: FencedLease<WorkerCursorState | null>;
  placement: PartitionPlacement;
  /** The plugin's `plugin enable/disable` record (plugin-control.ts), read at every reconcile. */
  control?: { read(): Promise<ControlRecord | null> };
  logger: Logger;
  retryMs: number;
  onReconnect(listener: () => void): () => void;
  onTiming?: (record: TimingRecord) => void;
  onFailure?: (failure: PluginFailure) => void;
  /** The cluster's dead letters, shared with the plugin's whole-plugin runs (dead-letters.ts). */
  deadLetters?: DeadLetterBook;
}

interface Term {
  readonly partition: number;
  readonly stop: AbortController;
  done: Promise<void>;
  /** performance.now() when the term began (its campaign). */
  readonly startedAt: number;
  /** performance.now() when the lease was taken; null while campaigning. */
  heldAt: number | null;
  cursor: WorkerCursor | null;
  inFlight: number;
}

/** Callback slots of one plugin on this node, shared by its partitions. */
class SlotPool implements SlotGate {
  readonly #max: number;
  readonly #listeners = new Set<() => void>();
  #used = 0;
  #notifying = false;

  constructor(max: number) {
    this.#max = max;
  }

  take(): boolean {
    if (this.#used >= this.#max) return false;
    this.#used++;
    return true;
  }

  give(notify = true): void {
    this.#used = Math.max(0, this.#used - 1);
    if (!notify || this.#notifying) return;
    this.#notifying = true;
    queueMicrotask(() => {
      this.#notifying = false;
      for (const listener of [...this.#listeners]) listener();
    });
  }

  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/**
 * Runs a spread plugin's partitions placed on this node. A partition placed
 * elsewhere is handed over drain-first: no more events handed out, the
 * callbacks in flight finish, the cursor is committed, then the lease is
 * released and the new owner claims it from that record.
 */
export class PartitionWorker {
  readonly #opts: PartitionWorkerOptions;
  readonly #log: Logger;
  readonly counters = { processed: 0, skipped: 0, failed: 0, totalMs: 0 };
  readonly #terms = new Map<number, Term>();
  readonly #leases = new Map<number, FencedLease<WorkerCursorState | null>>();
  /** The plugin's own record: where partitions never claimed start, this spread, the cluster-wide pause and deactivation. */
  readonly #record: SpreadOrigin;
  #inFlight = 0;

  constructor(opts: PartitionWorkerOptions) {
    this.#opts = opts;
    this.#log = opts.logger.child({ plugin: opts.entry.name });
    this.#record = new SpreadOrigin({
      lease: opts.origin, conn: opts.conn, names: opts.names, timing: opts.timing, retryMs: opts.retryMs, log: this.#log,
      ...(opts.control === undefined ? {} : { control: opts.control }),
    });
  }

  get pluginId(): string {
    return this.#opts.id;
  }

  /** Callbacks running on this node over its partitions. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Partitions this node holds now. */
  get holding(): number {
    let n = 0;
    for (const t of this.#terms.values()) if (t.heldAt !== null && t.cursor !== null) n++;
    return n;
  }

  /** The origin cursor (where partitions never claimed start), once read. */
  get origin(): WorkerCursorState | null {
    return this.#record.state;
  }

  /** The partitions this node holds, with their cursors (the node's heartbeat carries them). */
  held(): Record<string, HeldPartition> {
    const out: Record<string, HeldPartition> = {};
    for (const t of this.#terms.values()) {
      const c = t.cursor;
      if (t.heldAt === null || c === null) continue;
      out[String(t.partition)] = { highSeq: c.highSeq, highId: c.highId, pending: c.pendingCount, inFlight: t.inFlight };
    }
    return out;
  }

  /** Runs until `stop`: then every partition is drained, committed and released. */
  async run(host: PluginHost, loaded: Extract<LoadResult, { ok: true }>, max: number, stop: AbortSignal): Promise<void> {
    await this.#openLeases(stop);
    if (stop.aborted) return;
    if ((await this.#record.take(stop)) === null) return;
    const gate = new SlotPool(max);
    let changed: (() => void) | null = null;
    const wake = (): void => {
      changed?.();
    };
    const unsubscribe = this.#opts.placement.onChange(wake);
    try {
      while (!stop.aborted) {
        // Taken back onto one node (merged) or spread anew elsewhere: once every term here ended, spread again from the
        // plugin's record, through its fence (a node running it on its own finishes its term first).
        if (this.#record.stale && this.#terms.size === 0 && (await this.#record.take(stop)) === null) break;
        await this.#reconcile(host, loaded, gate);
        await new Promise<void>((resolve) => {
          changed = resolve;
          const timer = setTimeout(resolve, this.#opts.timing.checkMs);
          timer.unref();
          stop.addEventListener('abort', () => resolve(), { once: true });
        });
        changed = null;
      }
    } finally {
      unsubscribe();
      for (const t of this.#terms.values()) t.stop.abort();
      await Promise.all([...this.#terms.values()].map((t) => t.done));
      await Promise.all([...this.#leases.values()].map((l) => l.close().catch((err: unknown) => this.#log.warn({ err }, 'closing a partition lease failed'))));
    }
  }

  /** Starts the terms of partitions placed here; hands over those placed elsewhere (after the hold time). */
  async #reconcile(host: PluginHost, loaded: Extract<LoadResult, { ok: true }>, gate: SlotGate): Promise<void> {
    let want = this.#opts.placement.assigned();
    await this.#record.refresh();
    await this.#record.applyControl();
    const origin = this.#record.state;
    // Paused or deactivated for the cluster: no node runs any partition; taken back onto one node: this spread is over.
    const stopAll = this.#record.stale || (origin !== null && (!origin.active || origin.paused));
    if (stopAll) want = new Set();
    const now = performance.now();
    // A campaign for a partition no live node holds (its holder died) is kept until it could have claimed it (it must
    // see the record unchanged for ttlMs on its own clock), even if placement moved it meanwhile: while a dead node's
    // partitions are taken, the placement of those still free moves as the others are claimed, and dropping the
    // campaigns at each move left partitions unclaimed for a long time (25 s with a 5 s TTL, measured).
    const keepCampaign = this.#opts.timing.ttlMs + this.#opts.timing.checkMs;
    const dropCampaign = (t: Term): boolean => this.#opts.placement.heldByLive(t.partition) || now - t.startedAt >= keepCampaign;
    for (const t of this.#terms.values()) {
      if (want.has(t.partition) || t.stop.signal.aborted) continue;
      // Placement taking a partition away keeps it the hold time; a pause, a deactivation or the end of this spread stops it at once.
      if (stopAll || (t.heldAt === null ? dropCampaign(t) : now - t.heldAt >= this.#opts.holdMs)) {
        this.#log.info({ partition: t.partition }, t.heldAt === null ? 'partition placed elsewhere: no longer campaigning' : 'partition placed elsewhere: handing it over');
        t.stop.abort();
      }
    }
    for (const p of want) {
      if (this.#terms.has(p)) continue;
      const term: Term = { partition: p, stop: new AbortController(), done: Promise.resolve(), startedAt: performance.now(), heldAt: null, cursor: null, inFlight: 0 };
      this.#terms.set(p, term);
      term.done = this.#term(term, host, loaded, gate).catch((err: unknown) => {
        this.#log.error({ err, partition: p }, 'a partition term failed');
      }).finally(() => {
        this.#terms.delete(p);
      });
    }
  }

  /** Campaigns for one partition's lease; while held, runs it from its cursor. */
  async #term(term: Term, host: PluginHost, loaded: Extract<LoadResult, { ok: true }>, gate: SlotGate): Promise<void> {
    const lease = this.#leases.get(term.partition);
    if (lease === undefined) return;
    const stop = term.stop.signal;
    let held: LeaseTenure<WorkerCursorState | null> | null = null;
    while (held === null && !stop.aborted) {
      try {
        held = await lease.acquire(stop);
      } catch (err) {
        if (stop.aborted) return;
        this.#log.warn({ err, partition: term.partition }, 'campaigning for a partition lease failed; trying again');
        await sleepLong(this.#opts.retryMs, { signal: stop }).catch(() => undefined);
      }
    }
    if (held === null) return;
    term.heldAt = performance.now();
    const origin = this.#record.state ?? freshCursor(0);
    // Taken back onto one node meanwhile (the partitions' cursors merged into the plugin's): not run here.
    if (!(await this.#record.stillSpread(stop))) {
      await held.release(held.state).catch((err: unknown) => this.#log.warn({ err, partition: term.partition }, 'releasing a partition lease failed; it runs out'));
      return;
    }
    const generation = origin.spread?.generation ?? 1;
    // A record of an earlier spread (the plugin ran on one node since) is stale: the partition starts from the plugin's record.
    const stored = held.state !== null && (held.state.generation ?? 1) === generation ? held.state : {
      ...freshCursor(origin.highSeq, origin.highId), pending: await this.#record.inheritedPending(origin, term.partition, stop),
      ...(origin.spread === undefined ? {} : { generation }),
      // A migrated plugin: every partition takes the whole id list (an id of another partition's subject never comes).
      ...(origin.migrated === undefined ? {} : { migrated: origin.migrated }),
    };
    const log = this.#log.child({ partition: term.partition });
    // An enable newer than this partition's record brings it back (a deactivated partition runs its failed event again).
    const state = origin.control > stored.control
      ? { ...stored, control: origin.control, paused: origin.paused, ...(origin.paused ? {} : { active: true, lastError: null }) }
      : stored;
    if (!state.active || state.paused) {
      await untilAborted(AbortSignal.any([stop, held.signal]));
      if (!held.signal.aborted) await held.release(state);
      return;
    }
    const cursor = new WorkerCursor(state);
    term.cursor = cursor;
    log.info({ epoch: held.epoch, highSeq: cursor.highSeq, pending: cursor.pendingCount }, 'partition lease taken: running from its stored cursor');
    const parts = {
      counters: this.counters,
      track: (q: { event: EventLogEntry; seq: number }): void => {
        term.inFlight++;
        this.#inFlight++;
        this.#opts.placement.note(term.partition, q.event.project?.id ?? null);
      },
      untrack: (): void => {
        term.inFlight--;
        this.#inFlight--;
      },
    };
    const run = new ActiveRun(parts, {
      id: this.#opts.id, entry: this.#opts.entry, folder: this.#opts.folder, config: this.#opts.config, directory: this.#opts.directory,
      js: this.#opts.conn.js, stream: this.#opts.names.eventStream, filter: this.#opts.names.eventSubject(term.partition),
      retryMs: this.#opts.retryMs, onReconnect: (listener) => this.#opts.onReconnect(listener), gate,
      ...(this.#opts.deadLetters === undefined ? {} : { deadLetters: this.#opts.deadLetters }),
      ...(this.#opts.onTiming ? { onTiming: this.#opts.onTiming } : {}),
      ...(this.#opts.onFailure ? { onFailure: this.#opts.onFailure } : {}),
    }, host, loaded, cursor, held, log);
    try {
      await run.run(AbortSignal.any([stop, held.signal]));
    } finally {
      term.cursor = null;
    }
    if (held.signal.aborted) {
      log.warn({ highSeq: cursor.highSeq }, 'partition lease lost: stopped handing out; the next owner starts from the last committed cursor');
      return;
    }
    if (!cursor.active) await this.#record.deactivate(cursor.lastError, stop);
    await held.release(cursor.snapshot());
    log.info({ highSeq: cursor.highSeq }, 'partition lease released');
  }

  /**
   * The reverse switch (the plugin now runs on one node, `by: none`): takes
   * every partition lease through its fence, merges their cursors into the
   * plugin's one cursor (partition-merge.ts), stores it in the plugin's
   * record, then resets and releases the partitions. Called by the node
   * holding the plugin's own lease when its record says it is spread.
   */
  async mergeBack(stored: WorkerCursorState, held: HeldLease<WorkerCursorState | null>, signal: AbortSignal): Promise<WorkerCursorState> {
    await this.#openLeases(signal);
    signal.throwIfAborted();
    const generation = stored.spread?.generation ?? 1;
    const taken = await takePartitions(stored, {
      js: this.#opts.conn.js, jsm: this.#opts.conn.jsm, names: this.#opts.names, leases: this.#leases, retryMs: this.#opts.retryMs, logger: this.#log,
      current: (s) => (s.generation ?? 1) === generation,
      inherited: (p, stop) => this.#record.inheritedPending(stored, p, stop),
    }, signal);
    try {
      await held.write(taken.state);
    } catch (err) {
      await taken.abandon();
      throw err;
    }
    await taken.release();
    return taken.state;
  }

  async #openLeases(stop: AbortSignal): Promise<void> {
    const todo = Array.from({ length: this.#opts.partitions }, (_, p) => p).filter((p) => !this.#leases.has(p));
    // A few at a time: each is a replicated stream (see docs/ARCHITECTURE.md, "Scale-out", for what they cost).
    const batch = 8;
    while (todo.length > 0 && !stop.aborted) {
      const now = todo.splice(0, batch);
      const opened = await Promise.allSettled(now.map((p) => FencedLease.open<WorkerCursorState | null>({
        conn: this.#opts.conn, names: this.#opts.names, key: partitionLeaseKey(this.#opts.id, p), nodeId: this.#opts.nodeId,
        timing: this.#opts.timing, replicas: this.#opts.replicas, state: workerCursorSchema.nullable(), initial: null, logger: this.#log,
      })));
      opened.forEach((r, i) => {
        const p = now[i] as number;
        if (r.status === 'fulfilled') this.#leases.set(p, r.value);
        else {
          this.#log.warn({ err: r.reason, partition: p }, 'opening a partition lease failed; trying again');
          todo.push(p);
        }
      });
      if (opened.some((r) => r.status === 'rejected')) await sleepLong(this.#opts.retryMs, { signal: stop }).catch(() => undefined);
    }
  }
}

function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
