// What a node knows of the cluster, for `/api/status`, the status page and
// `sgeventd cluster status`: read from NATS every lease check interval (the
// holders and cursors of leases this node does not hold are in their records).
import type { Logger } from 'pino';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NodeInfo } from './control.ts';
import type { FencedLease } from './fence.ts';
import type { ClusterNames } from './names.ts';
import type { CallbackCount, WorkerCursorState } from './cursor.ts';
import type { PluginWorker, WorkerRole } from './worker.ts';
import type { ScaleStatus, SpreadPluginStatus } from './partition-status.ts';

/** One plugin across the cluster. */
export interface ClusterPluginStatus {
  id: string;
  name: string;
  /** The node holding the plugin's lease (null: nobody, or released). */
  holder: string | null;
  /** This node's part: active, standby, ... */
  role: WorkerRole;
  highSeq: number | null;
  highId: number | null;
  pending: number;
  /** Stream messages after the plugin's high watermark (all partitions). */
  lag: number | null;
  /** Callbacks running on this node. */
  inFlight: number;
  active: boolean | null;
  /**
   * Callback runs and failures, summed over the plugin's callbacks, from the
   * counters committed with its cursor (kept across failovers); a spread
   * plugin's are this node's since it started.
   */
  processed: number;
  failed: number;
  lastError: string | null;
  /** Per-callback counters committed with the cursor (null: none yet). */
  callbacks: Record<string, CallbackCount> | null;
}

export interface ClusterStatus {
  nodeId: string;
  cluster: string;
  connected: boolean;
  stream: string;
  streamLastSeq: number | null;
  pollerHolder: string | null;
  /** This node's poller candidate: reads of the log and events published while it held the lease (null: none). */
  poller: ClusterPollerCounts | null;
  plugins: ClusterPluginStatus[];
  /** Every node that answered the last `nodes` request (its runtimes, the plugins it holds); empty before the first. */
  nodes: NodeInfo[];
  /** When the holders and cursors were last read from NATS (null: not yet). */
  refreshedAt: string | null;
  /** Scale-out: partition owners and each node's load (partition-status.ts). */
  scale?: ScaleStatus;
}

/** What this node's poller did while it held the lease (since the node started). */
export interface ClusterPollerCounts {
  tenures: number;
  reads: number;
  published: number;
  duplicates: number;
}

export interface ClusterStatusBoardOptions {
  nodeId: string;
  names: ClusterNames;
  jsm: JetStreamManager;
  workers: () => readonly PluginWorker[];
  leases: () => ReadonlyArray<FencedLease<WorkerCursorState | null>>;
  pollerLease?: () => Pick<FencedLease<unknown>, 'read'> | null;
  pollerCounts?: () => ClusterPollerCounts | null;
  /** Asks every node what runs on it (control.ts). */
  nodes?: () => Promise<NodeInfo[]>;
  connected: () => boolean;
  intervalMs: number;
  logger: Logger;
  /** A spread plugin's cursor over its partitions (partition-status.ts). */
  spread?: (pluginId: string) => SpreadPluginStatus | null;
  scale?: () => ScaleStatus;
}

interface Seen {
  holder: string | null;
  state: WorkerCursorState | null;
}

/** Reads holders and cursors every `intervalMs`; `snapshot()` answers at once from the last read. */
export class ClusterStatusBoard {
  readonly #opts: ClusterStatusBoardOptions;
  #timer: NodeJS.Timeout | null = null;
  #refreshing: Promise<void> | null = null;
  #streamLastSeq: number | null = null;
  #pollerHolder: string | null = null;
  #seen = new Map<string, Seen>();
  #nodes: NodeInfo[] = [];
  #refreshedAt: number | null = null;

  constructor(opts: ClusterStatusBoardOptions) {
    this.#opts = opts;
  }

  start(): void {
    const tick = (): void => {
      this.#refreshing ??= this.#refresh().finally(() => {
        this.#refreshing = null;
      });
    };
    tick();
    this.#timer = setInterval(tick, this.#opts.intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#refreshing;
  }

  snapshot(): ClusterStatus {
    const leases = this.#opts.leases();
    const plugins = this.#opts.workers().map((w, i): ClusterPluginStatus => this.#spread(w, (() => {
      const mine = w.snapshot();
      const seen = this.#seen.get(leases[i]?.key ?? '');
      const active = w.role === 'active';
      const highSeq = active ? mine.highSeq : seen?.state?.highSeq ?? mine.highSeq;
      const callbacks = active ? mine.callbacks : seen?.state?.counters ?? mine.callbacks;
      const sum = (field: 'processed' | 'failed'): number => Object.values(callbacks ?? {}).reduce((n, c) => n + c[field], 0);
      return {
        id: w.id,
        name: w.name,
        holder: active ? this.#opts.nodeId : seen?.holder ?? null,
        role: w.role,
        highSeq,
        highId: active ? mine.highId : seen?.state?.highId ?? mine.highId,
        pending: active ? mine.pending : seen?.state?.pending.length ?? mine.pending,
        lag: highSeq === null || this.#streamLastSeq === null ? null : Math.max(0, this.#streamLastSeq - highSeq),
        inFlight: mine.inFlight,
        active: seen?.state?.active ?? null,
        processed: callbacks === null ? mine.processed : sum('processed'),
        failed: callbacks === null ? mine.failed : sum('failed'),
        lastError: mine.lastError,
        callbacks,
      };
    })()));
    return {
      nodeId: this.#opts.nodeId,
      cluster: this.#opts.names.cluster,
      connected: this.#opts.connected(),
      stream: this.#opts.names.eventStream,
      streamLastSeq: this.#streamLastSeq,
      pollerHolder: this.#pollerHolder,
      poller: this.#opts.pollerCounts?.() ?? null,
      plugins,
      nodes: this.#nodes,
      refreshedAt: this.#refreshedAt === null ? null : new Date(this.#refreshedAt).toISOString(),
      ...(this.#opts.scale === undefined ? {} : { scale: this.#opts.scale() }),
    };
  }

  /** A spread plugin's holder and cursor come from its partitions, not from the plugin lease. */
  #spread(w: PluginWorker, base: ClusterPluginStatus): ClusterPluginStatus {
    const s = w.spread ? this.#opts.spread?.(w.id) ?? null : null;
    if (s === null) return base;
    const lag = s.lagging === 0 ? 0 : s.highSeq === null || this.#streamLastSeq === null ? null : Math.max(0, this.#streamLastSeq - s.highSeq);
    const mine = w.snapshot();
    return { ...base, holder: s.holder, highSeq: s.highSeq, highId: s.highId, pending: s.pending, lag, processed: mine.processed, failed: mine.failed, callbacks: null };
  }

  async #refresh(): Promise<void> {
    if (!this.#opts.connected()) return;
    const asking = this.#opts.nodes?.().then((nodes) => {
      this.#nodes = nodes;
    }).catch((err: unknown) => this.#opts.logger.debug({ err }, 'asking the nodes what runs on them failed; the status shows the last answers'));
    try {
      const info = await this.#opts.jsm.streams.info(this.#opts.names.eventStream);
      this.#streamLastSeq = info.state.last_seq;
      const poller = this.#opts.pollerLease?.() ?? null;
      if (poller !== null) {
        const last = await poller.read();
        this.#pollerHolder = last === undefined || last.record.released === true ? null : last.record.holder;
      }
      for (const lease of this.#opts.leases()) {
        const last = await lease.read();
        this.#seen.set(lease.key, {
          holder: last === undefined || last.record.released === true ? null : last.record.holder,
          state: last?.record.state ?? null,
        });
      }
      this.#refreshedAt = Date.now();
    } catch (err) {
      this.#opts.logger.debug({ err }, 'reading the cluster status from NATS failed; the status shows the last one read');
    }
    await asking;
  }
}
