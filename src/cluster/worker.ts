// One plugin in cluster mode: active on one node at a time through its lease
// (`plugin.<pluginId>`), reading the event stream from the cursor stored in
// that lease and running events through the same steps as one machine.
import type { Logger } from 'pino';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { pluginOptionsFor, type DaemonConfig, type PluginFolderConfig } from '../config/index.ts';
import { effectiveConcurrency, type PluginFailure, type ProjectDirectory, type TimingRecord } from '../dispatch/index.ts';
import type { LoadResult, PluginHost, PluginHostFactory } from '../hosts/index.ts';
import type { JsPluginFile, PythonPluginFile } from '../plugins/index.ts';
import { SgeventdError, sleepLong, type EventLogEntry } from '../shared/index.ts';
import { freshCursor, WorkerCursor, type WorkerCursorState } from './cursor.ts';
import { ActiveRun, type HeldLease } from './active-run.ts';

export type { HeldLease } from './active-run.ts';

/** Campaigns for a lease: resolves once this node holds it. */
export interface LeaseCampaign<T> {
  acquire(signal: AbortSignal): Promise<HeldLease<T>>;
}

/** `spread`: the plugin's partitions are spread over the nodes (`concurrency: { by: project | entity }`, partition-worker.ts). */
export type WorkerRole = 'standby' | 'active' | 'deactivated' | 'paused' | 'load-failed' | 'stopped' | 'spread';

/** What a worker hands a plugin that is spread over partitions (partition-worker.ts). */
export interface SpreadRun {
  readonly inFlight: number;
  run(host: PluginHost, loaded: Extract<LoadResult, { ok: true }>, max: number, stop: AbortSignal): Promise<void>;
}

/** What the status shows for a plugin on this node. */
export interface WorkerSnapshot {
  id: string;
  name: string;
  role: WorkerRole;
  /** The cursor as this node last knew it (its own while active). */
  highSeq: number | null;
  highId: number | null;
  pending: number;
  inFlight: number;
  processed: number;
  failed: number;
  lastError: string | null;
}

export interface PluginWorkerOptions {
  id: string;
  entry: JsPluginFile | PythonPluginFile;
  folder: PluginFolderConfig;
  config: DaemonConfig;
  hosts: PluginHostFactory;
  directory: ProjectDirectory;
  lease: LeaseCampaign<WorkerCursorState | null>;
  /** Subscribes to the connection's reconnects (the consumer is made again after one); returns the unsubscribe. */
  onReconnect(listener: () => void): () => void;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The event stream and the subject filter this plugin reads (all partitions for `by: none`). */
  stream: string;
  filter: string;
  logger: Logger;
  pluginLogger?: Logger;
  /** Pause between failed attempts to claim or read (lease check interval). */
  retryMs: number;
  onTiming?: (record: TimingRecord) => void;
  onFailure?: (failure: PluginFailure) => void;
  /** Set on a node that spreads plugins: a plugin with `by: project | entity` runs its partitions through it instead of the plugin lease. */
  spread?: SpreadRun;
}

interface Queued {
  event: EventLogEntry;
  seq: number;
}

/**
 * A plugin's worker on one node. Campaigns for the plugin's lease; while it
 * holds it, reads the stream with an ordered consumer from the stored
 * cursor, hands events to key lanes (one lane for `by: none`, so one event
 * at a time in stream order), runs each through `runEvent` (retries and the
 * one failure rule) and commits the cursor through the lease's fence every
 * `stateFlushMs`. Losing the lease stops handing out at once and cuts off the
 * callbacks in flight; nothing more is committed.
 */
export class PluginWorker {
  readonly id: string;
  readonly name: string;
  readonly #opts: PluginWorkerOptions;
  readonly #log: Logger;
  readonly #stop = new AbortController();
  readonly counters = { processed: 0, skipped: 0, failed: 0, totalMs: 0 };
  #role: WorkerRole = 'standby';
  #cursor: WorkerCursor | null = null;
  #lastKnown: WorkerCursorState | null = null;
  #inflight = new Map<number, Queued>();
  #running: Promise<void> | null = null;

  constructor(opts: PluginWorkerOptions) {
    this.#opts = opts;
    this.id = opts.id;
    this.name = opts.entry.name;
    this.#log = opts.logger.child({ plugin: opts.entry.name });
  }

  get role(): WorkerRole {
    return this.#role;
  }

  snapshot(): WorkerSnapshot {
    const c = this.#cursor;
    const known = this.#lastKnown;
    return {
      id: this.id,
      name: this.name,
      role: this.#role,
      highSeq: c?.highSeq ?? known?.highSeq ?? null,
      highId: c?.highId ?? known?.highId ?? null,
      pending: c?.pendingCount ?? known?.pending.length ?? 0,
      inFlight: this.#role === 'spread' ? this.#opts.spread?.inFlight ?? 0 : this.#inflight.size,
      processed: this.counters.processed,
      failed: this.counters.failed,
      lastError: c?.lastError ?? known?.lastError ?? null,
    };
  }

  start(): void {
    this.#running ??= this.#campaign().catch((err: unknown) => {
      this.#log.error({ err }, 'plugin worker stopped by an unexpected error');
    }).finally(() => {
      this.#role = 'stopped';
    });
  }

  /** Hands out nothing more, lets the callbacks in flight finish, commits and releases the lease. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#running;
  }

  /**
   * Loads the plugin first (a warm standby: a takeover does not wait for a
   * thread to start and import), then campaigns until stopped. A plugin that
   * does not load here does not campaign: another node may run it.
   */
  async #campaign(): Promise<void> {
    const stop = this.#stop.signal;
    const host = this.#opts.hosts.create(this.#opts.entry, this.#opts.folder, this.#opts.pluginLogger ?? this.#log);
    try {
      const loaded = await host.load();
      if (!loaded.ok) {
        this.#role = 'load-failed';
        this.#log.error({ err: loaded.error }, 'plugin failed to load on this node; this node does not campaign for it');
        await untilAborted(stop);
        return;
      }
      const spread = this.#opts.spread;
      const concurrency = effectiveConcurrency(loaded, pluginOptionsFor(this.#opts.folder, this.name).concurrency);
      if (spread !== undefined && concurrency.by !== 'none') {
        this.#role = 'spread';
        await spread.run(host, loaded, Math.max(1, Math.min(concurrency.max, host.capacity)), stop);
        return;
      }
      while (!stop.aborted) {
        this.#role = 'standby';
        let held: HeldLease<WorkerCursorState | null>;
        try {
          held = await this.#opts.lease.acquire(stop);
        } catch (err) {
          if (stop.aborted) return;
          this.#log.warn({ err }, 'campaigning for the plugin lease failed; trying again');
          await sleepLong(this.#opts.retryMs, { signal: stop }).catch(() => undefined);
          continue;
        }
        try {
          await this.#hold(held, host, loaded);
        } catch (err) {
          this.#log.error({ err }, 'running the plugin as its active node failed; campaigning again');
          await sleepLong(this.#opts.retryMs, { signal: stop }).catch(() => undefined);
        } finally {
          this.#lastKnown = this.#cursor?.snapshot() ?? this.#lastKnown;
          this.#cursor = null;
        }
      }
    } finally {
      await host.close().catch((err: unknown) => this.#log.warn({ err }, 'closing the plugin host failed'));
    }
  }

  /** While this node holds the lease. */
  async #hold(held: HeldLease<WorkerCursorState | null>, host: PluginHost, loaded: Extract<LoadResult, { ok: true }>): Promise<void> {
    const state = held.state ?? freshCursor(await this.#streamEnd());
    this.#lastKnown = state;
    const session = AbortSignal.any([this.#stop.signal, held.signal]);
    if (!state.active || state.paused) {
      // Deactivated (stopOnError) or paused for the whole cluster: hold the lease so no node runs it.
      this.#role = state.paused ? 'paused' : 'deactivated';
      this.#log.info({ highSeq: state.highSeq, lastError: state.lastError }, `plugin is ${this.#role} for the cluster; holding its lease without running it`);
      await untilAborted(session);
      if (!held.signal.aborted) await held.release(state);
      return;
    }
    const cursor = new WorkerCursor(state);
    this.#cursor = cursor;
    this.#role = 'active';
    this.#log.info({ highSeq: cursor.highSeq, highId: cursor.highId, pending: cursor.pendingCount }, 'plugin lease taken: running from the stored cursor');
    const run = new ActiveRun(this, this.#opts, host, loaded, cursor, held, this.#log);
    await run.run(session);
    if (held.signal.aborted) {
      this.#log.warn({ highSeq: cursor.highSeq }, 'plugin lease lost: stopped handing out events; the next owner starts from the last committed cursor');
      return;
    }
    if (!cursor.active) {
      this.#role = 'deactivated';
      await untilAborted(session);
    }
    if (!held.signal.aborted) {
      await held.release(cursor.snapshot());
      this.#log.info({ highSeq: cursor.highSeq }, 'plugin lease released');
    }
  }

  /** A new plugin starts after the stream's last message (as one machine starts after the newest event). */
  async #streamEnd(): Promise<number> {
    try {
      const info = await this.#opts.jsm.streams.info(this.#opts.stream);
      return info.state.last_seq;
    } catch (err) {
      throw new SgeventdError('CLUSTER_STREAM_UNAVAILABLE', `the event stream ${this.#opts.stream} could not be read`, { cause: err, details: { stream: this.#opts.stream } });
    }
  }

  /** Tracks events in flight (status, cut-off on lease loss). */
  track(q: Queued): void {
    this.#inflight.set(q.seq, q);
  }

  untrack(seq: number): void {
    this.#inflight.delete(seq);
  }
}

function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
