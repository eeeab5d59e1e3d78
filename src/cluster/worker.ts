// One plugin in cluster mode: active on one node at a time through its lease
// (`plugin.<pluginId>`), reading the event stream from the cursor stored in
// that lease and running events through the same steps as one machine.
import type { Logger } from 'pino';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { pluginOptionsFor, type DaemonConfig, type PluginFolderConfig } from '../config/index.ts';
import { effectiveConcurrency, type PluginFailure, type PluginLoadFailure, type ProjectDirectory, type TimingRecord } from '../dispatch/index.ts';
import type { LoadResult, PluginHost, PluginHostFactory } from '../hosts/index.ts';
import type { JsPluginFile, PythonPluginFile } from '../plugins/index.ts';
import { SgeventdError, sleepLong, type EventLogEntry } from '../shared/index.ts';
import { freshCursor, WorkerCursor, type CallbackCount, type WorkerCursorState } from './cursor.ts';
import { ActiveRun } from './active-run.ts';
import type { HeldLease } from './lease-types.ts';
import type { ControlRecord } from './plugin-control.ts';
import type { DeadLetterBook } from './dead-letters.ts';
import { WarmCopy } from './warm-copy.ts';

export type { HeldLease } from './lease-types.ts';

/** Campaigns for a lease: resolves once this node holds it. */
export interface LeaseCampaign<T> {
  acquire(signal: AbortSignal): Promise<HeldLease<T>>;
}

/** `spread`: the plugin's partitions are spread over the nodes (`concurrency: { by: project | entity }`, partition-worker.ts). */
export type WorkerRole = 'standby' | 'active' | 'deactivated' | 'paused' | 'load-failed' | 'stopped' | 'spread';

/** What a worker hands a plugin that is spread over partitions (partition-worker.ts). */
export interface SpreadRun {
  readonly inFlight: number;
  /** Partitions this node holds now. */
  readonly holding: number;
  run(host: PluginHost, loaded: Extract<LoadResult, { ok: true }>, max: number, stop: AbortSignal): Promise<void>;
  /** The reverse switch: merges the partitions' cursors into the plugin's one cursor, stored through `held` (partition-worker.ts). */
  mergeBack?(stored: WorkerCursorState, held: HeldLease<WorkerCursorState | null>, signal: AbortSignal): Promise<WorkerCursorState>;
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
  /** Per-callback counters of the cursor as this node last knew it (its own while active): cluster-wide, kept across failovers. */
  callbacks: Record<string, CallbackCount> | null;
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
  /** A load failed for the plugin's own reason (an import or registration error; a site error is tried again). */
  onLoadFailure?: (failure: PluginLoadFailure) => void;
  /** The plugin's `plugin enable/disable` record (control.ts); read by the owner every `retryMs`. */
  control?: { read(): Promise<ControlRecord | null> };
  /** The cluster's dead letters (dead-letters.ts): the owner writes them and runs those marked for retry. */
  deadLetters?: DeadLetterBook;
  /** Set on a node that spreads plugins: a plugin with `by: project | entity` runs its partitions through it instead of the plugin lease. */
  spread?: SpreadRun;
}

/** What a reload did on this node: the owner reloaded (`active`), a standby its copy (`copy`). */
export type ReloadOutcome = 'active' | 'copy';

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
  /** This node's copy of the plugin: its host and last load (warm-copy.ts). */
  readonly #copy: WarmCopy;
  /** Aborted to end the current term early: a reload, or an enable/disable to apply. */
  #nudge = new AbortController();
  /** Reloads asked of the owner, resolved once its host is replaced. */
  #reloads: Array<() => void> = [];

  constructor(opts: PluginWorkerOptions) {
    this.#opts = opts;
    this.id = opts.id;
    this.name = opts.entry.name;
    this.#log = opts.logger.child({ plugin: opts.entry.name });
    this.#copy = new WarmCopy({
      name: this.name, entry: opts.entry, folder: opts.folder, hosts: opts.hosts, log: this.#log, pluginLogger: opts.pluginLogger,
      stop: this.#stop.signal, onLoadFailure: opts.onLoadFailure, onRetried: () => this.#poke(),
    });
  }

  get role(): WorkerRole {
    return this.#role;
  }

  /** Whether the plugin runs spread over partitions (partition-worker.ts). */
  get spread(): boolean {
    return this.#role === 'spread';
  }

  snapshot(): WorkerSnapshot {
    const c = this.#cursor;
    const known = this.#lastKnown;
    return {
      id: this.id,
      name: this.name,
      // A spread plugin shows as active on a node holding any of its partitions (it hands out work there).
      role: this.#role === 'spread' ? ((this.#opts.spread?.holding ?? 0) > 0 ? 'active' : 'standby') : this.#role,
      highSeq: c?.highSeq ?? known?.highSeq ?? null,
      highId: c?.highId ?? known?.highId ?? null,
      pending: c?.pendingCount ?? known?.pending.length ?? 0,
      inFlight: this.#role === 'spread' ? this.#opts.spread?.inFlight ?? 0 : this.#inflight.size,
      processed: this.counters.processed,
      failed: this.counters.failed,
      lastError: c?.lastError ?? known?.lastError ?? null,
      callbacks: (c === null ? known : c.snapshot())?.counters ?? null,
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
   * Replaces the plugin's thread or process (a changed file, `plugin reload`).
   * The owner ends its term (callbacks in flight finish, the cursor is
   * committed), loads the new code and goes on from its cursor, keeping the
   * lease; a deactivated owner resumes. A standby reloads its warm copy.
   */
  async reload(entry?: JsPluginFile | PythonPluginFile): Promise<ReloadOutcome> {
    if (entry !== undefined) this.#copy.replaceEntry(entry);
    if (this.#role === 'active' || this.#role === 'deactivated' || this.#role === 'paused' || this.#role === 'spread') {
      const done = new Promise<void>((resolve) => this.#reloads.push(resolve));
      this.#poke();
      await done;
      return 'active';
    }
    await this.#copy.load();
    this.#poke();
    return 'copy';
  }

  /** Ends the current term (or a wait) so the worker looks again at reloads and control records. */
  #poke(): void {
    const nudge = this.#nudge;
    this.#nudge = new AbortController();
    nudge.abort();
  }

  /**
   * Loads the plugin first (a warm standby: a takeover does not wait for a
   * thread to start and import), then campaigns until stopped. A plugin that
   * does not load here does not campaign (another node may run it) until a
   * reload loads it.
   */
  async #campaign(): Promise<void> {
    const stop = this.#stop.signal;
    try {
      await this.#copy.load();
      while (!stop.aborted) {
        await this.#copy.ready;
        if (this.#copy.loaded?.ok !== true) {
          this.#role = 'load-failed';
          await untilAborted(AbortSignal.any([stop, this.#nudge.signal]));
          continue;
        }
        if (await this.#runSpread(stop)) continue;
        this.#role = 'standby';
        this.#log.info('plugin loaded: standing by for its lease');
        let held: HeldLease<WorkerCursorState | null>;
        // A reload ends the campaign too: the new code may spread the plugin (then it does not campaign for this lease).
        const nudge = this.#nudge.signal;
        try {
          held = await this.#opts.lease.acquire(AbortSignal.any([stop, nudge]));
        } catch (err) {
          if (stop.aborted) return;
          if (nudge.aborted) continue;
          this.#log.warn({ err }, 'campaigning for the plugin lease failed; trying again');
          await sleepLong(this.#opts.retryMs, { signal: stop }).catch(() => undefined);
          continue;
        }
        try {
          await this.#hold(held);
        } catch (err) {
          this.#log.error({ err }, 'running the plugin as its active node failed; campaigning again');
          await sleepLong(this.#opts.retryMs, { signal: stop }).catch(() => undefined);
        } finally {
          this.#lastKnown = this.#cursor?.snapshot() ?? this.#lastKnown;
          this.#cursor = null;
          for (const resolve of this.#reloads.splice(0)) resolve();
        }
      }
    } finally {
      await this.#copy.close();
    }
  }

  /**
   * A plugin with `concurrency: { by: project | entity }` on a node that
   * spreads plugins runs its partitions placed here (partition-worker.ts)
   * instead of campaigning for the plugin lease, until stopped or nudged (a
   * reload: its partitions are handed over, the host reloaded, then claimed
   * again). False when the plugin is not spread.
   */
  async #runSpread(stop: AbortSignal): Promise<boolean> {
    const spread = this.#opts.spread;
    const loaded = this.#copy.loaded;
    const host = this.#copy.host;
    if (spread === undefined || loaded?.ok !== true || host === null) return false;
    const concurrency = effectiveConcurrency(loaded, pluginOptionsFor(this.#opts.folder, this.name).concurrency);
    if (concurrency.by === 'none') return false;
    if (this.#reloads.length > 0) {
      await this.#copy.load();
      for (const resolve of this.#reloads.splice(0)) resolve();
      return true;
    }
    this.#role = 'spread';
    await spread.run(host, loaded, Math.max(1, Math.min(concurrency.max, host.capacity)), AbortSignal.any([stop, this.#nudge.signal]));
    return true;
  }

  /** Whether the loaded code spreads the plugin over partitions (`by: project | entity` on a node that spreads plugins). */
  #spreads(): boolean {
    const loaded = this.#copy.loaded;
    if (this.#opts.spread === undefined || loaded?.ok !== true) return false;
    return effectiveConcurrency(loaded, pluginOptionsFor(this.#opts.folder, this.name).concurrency).by !== 'none';
  }

  /**
   * While this node holds the lease: terms of running (or of holding the
   * lease without running, when deactivated or paused for the cluster), each
   * ended by a loss, a stop, a reload or an enable/disable to apply.
   */
  async #hold(held: HeldLease<WorkerCursorState | null>): Promise<void> {
    const session = AbortSignal.any([this.#stop.signal, held.signal]);
    let stored = held.state ?? freshCursor(await this.#streamEnd());
    // Spread before and now run on one node: the partitions hold its progress, merged into this cursor before anything runs.
    if (stored.spread?.merged === false && this.#opts.spread?.mergeBack !== undefined) stored = await this.#opts.spread.mergeBack(stored, held, session);
    const cursor = new WorkerCursor(stored);
    this.#cursor = cursor;
    const watching = this.#watchControl(cursor, session);
    try {
      while (!session.aborted) {
        const nudge = this.#nudge.signal;
        if (this.#reloads.length > 0) {
          await this.#copy.load();
          for (const resolve of this.#reloads.splice(0)) resolve();
          // As on one machine: a reload brings a deactivated plugin back, at its cursor.
          cursor.reactivate();
        }
        await this.#copy.ready;
        await this.#applyControl(cursor, held);
        if (this.#copy.loaded?.ok !== true || this.#copy.host === null) {
          await held.release(cursor.snapshot());
          return;
        }
        // Reloaded with code that spreads the plugin: the lease is handed over (released), so its partitions run spread.
        if (this.#spreads()) {
          await held.release(cursor.snapshot());
          this.#log.info({ highSeq: cursor.highSeq }, 'plugin now spread over partitions: its lease released');
          return;
        }
        if (!cursor.active || cursor.paused) {
          // Deactivated (stopOnError) or paused for the whole cluster: hold the lease so no node runs it.
          this.#role = cursor.paused ? 'paused' : 'deactivated';
          this.#log.info({ highSeq: cursor.highSeq, lastError: cursor.lastError }, `plugin is ${this.#role} for the cluster; holding its lease without running it`);
          await untilAborted(AbortSignal.any([session, nudge]));
          continue;
        }
        this.#role = 'active';
        this.#log.info({ highSeq: cursor.highSeq, highId: cursor.highId, pending: cursor.pendingCount }, 'plugin lease taken: running from the stored cursor');
        const run = new ActiveRun(this, this.#opts, this.#copy.host, this.#copy.loaded, cursor, held, this.#log);
        await run.run(AbortSignal.any([session, nudge]));
      }
      if (held.signal.aborted) {
        this.#log.warn({ highSeq: cursor.highSeq }, 'plugin lease lost: stopped handing out events; the next owner starts from the last committed cursor');
        return;
      }
      await held.release(cursor.snapshot());
      this.#log.info({ highSeq: cursor.highSeq }, 'plugin lease released');
    } finally {
      await watching;
    }
  }

  /** The owner looks for a new enable/disable record every `retryMs`; one to apply ends the term. */
  async #watchControl(cursor: WorkerCursor, session: AbortSignal): Promise<void> {
    const control = this.#opts.control;
    if (control === undefined) return;
    while (!session.aborted) {
      await sleepLong(this.#opts.retryMs, { signal: session }).catch(() => undefined);
      if (session.aborted) return;
      try {
        const rec = await control.read();
        if (rec !== null && rec.seq > cursor.snapshot().control) this.#poke();
      } catch (err) {
        this.#log.debug({ err }, 'reading the plugin control record failed; trying again');
      }
    }
  }

  /** Applies a new enable/disable record to the cursor and commits it through the fence. */
  async #applyControl(cursor: WorkerCursor, held: HeldLease<WorkerCursorState | null>): Promise<void> {
    const control = this.#opts.control;
    if (control === undefined) return;
    let rec: ControlRecord | null;
    try {
      rec = await control.read();
    } catch (err) {
      this.#log.warn({ err }, 'reading the plugin control record failed; applied at the next look');
      return;
    }
    if (rec === null || !cursor.applyControl(rec.seq, rec.paused)) return;
    this.#log.info({ paused: rec.paused, control: rec.seq }, rec.paused ? 'plugin disabled for the cluster' : 'plugin enabled for the cluster; resuming at its cursor');
    // Stored at once: a node taking over after this one finds the plugin as the operator left it.
    await held.write(cursor.snapshot()).catch((err: unknown) => {
      if (!held.signal.aborted) this.#log.warn({ err }, 'storing the enable/disable in the plugin cursor failed; stored with the next commit');
    });
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
