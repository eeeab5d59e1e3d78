// One node of a cluster: its NATS connection, the poller candidate, and a
// worker per plugin (the same plugin folders and host factory as one
// machine). Every node runs the same config; leases decide who does what.
import type { Logger } from 'pino';
import type { DaemonConfig, PluginFolderConfig } from '../config/index.ts';
import type { PluginFailure, PluginLoadFailure, ProjectDirectory, TimingRecord } from '../dispatch/index.ts';
import type { PluginHostFactory } from '../hosts/index.ts';
import { PluginFolderWatcher, type JsPluginFile, type PythonPluginFile } from '../plugins/index.ts';
import { pluginId } from '../state/index.ts';
import { SgeventdError } from '../shared/index.ts';
import { connectCluster, ensureEventStream, type ClusterConnection } from './connect.ts';
import { FencedLease } from './fence.ts';
import { clusterNames, type ClusterNames } from './names.ts';
import { workerCursorSchema, type WorkerCursorState } from './cursor.ts';
import { PluginWorker } from './worker.ts';
import { PluginControl } from './plugin-control.ts';
import { DeadLetterBook } from './dead-letters.ts';
import { answerReloads, reloadAcrossNodes } from './reload.ts';
import { ClusterStatusBoard, type ClusterStatus } from './status.ts';
import { ClusterControl, type ControlHandlers, type RecycleAnswer } from './control.ts';
import { Membership } from './membership.ts';
import { PartitionCoordinator } from './partition-coordinator.ts';
import { PartitionWorker } from './partition-worker.ts';
import { scaleStatus, spreadPluginStatus } from './partition-status.ts';

/** What a node takes from the composition root (daemon/assembly.ts). */
export interface ClusterNodeParts {
  config: DaemonConfig;
  hosts: PluginHostFactory;
  directory: ProjectDirectory;
  logger: Logger;
  pluginLogger(name: string): Logger | Promise<Logger>;
  onTiming?: (record: TimingRecord) => void;
  onFailure?: (failure: PluginFailure) => void;
  onLoadFailure?: (failure: PluginLoadFailure) => void;
  /** This node's Toolkit runtimes (project, state), announced in its heartbeat: `toolkit ps` per node in the cluster status. */
  runtimes?: () => Array<{ project: number; state: string }>;
}

/** The poller's part, when this build has one: started with the node, stopped (lease released) before it. */
export interface PollerCandidate {
  start(): void;
  stop(): Promise<void>;
  /** The poller's lease, for the status (who holds it). */
  readonly lease: Pick<FencedLease<unknown>, 'read'>;
  /** The poller's counters, for the status. */
  readonly stats: { tenures: number; reads: number; published: number; duplicates: number };
}

/**
 * One node: connects to NATS (reconnecting without limit), makes sure the
 * event stream exists, campaigns for the poller lease and for every plugin's
 * lease. `stop()` finishes the callbacks in flight, commits and releases
 * every lease it holds, so another node takes over at once.
 */
export class ClusterNode {
  readonly nodeId: string;
  readonly names: ClusterNames;
  readonly #parts: ClusterNodeParts;
  readonly #conn: ClusterConnection;
  readonly #workers: PluginWorker[] = [];
  readonly #leases: Array<FencedLease<WorkerCursorState | null>> = [];
  readonly #reconnectListeners = new Set<() => void>();
  readonly #board: ClusterStatusBoard;
  readonly #spread = new Map<string, PartitionWorker>();
  #coordinator: PartitionCoordinator | null = null;
  #poller: PollerCandidate | null = null;
  #control: ClusterControl | null = null;
  /** `plugin enable/disable` records and `plugin reload` requests. */
  #pluginControl: PluginControl | null = null;
  #deadLetters: DeadLetterBook | null = null;
  readonly #watchers: PluginFolderWatcher[] = [];
  #stopReloads: (() => void) | null = null;
  #connected = true;
  #watching: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;

  private constructor(parts: ClusterNodeParts, conn: ClusterConnection) {
    const cluster = parts.config.cluster;
    if (cluster === undefined) throw new SgeventdError('CLUSTER_NOT_CONFIGURED', 'this config has no cluster section');
    this.#parts = parts;
    this.#conn = conn;
    this.nodeId = cluster.nodeId;
    this.names = clusterNames(cluster.name, parts.config.site.url);
    this.#board = new ClusterStatusBoard({
      nodeId: this.nodeId, names: this.names, jsm: conn.jsm, workers: () => this.#workers, leases: () => this.#leases,
      pollerLease: () => this.#poller?.lease ?? null,
      pollerCounts: () => {
        const s = this.#poller?.stats;
        return s === undefined ? null : { tenures: s.tenures, reads: s.reads, published: s.published, duplicates: s.duplicates };
      },
      nodes: () => this.#control?.nodes() ?? Promise.resolve([]),
      connected: () => this.#connected, intervalMs: cluster.lease.checkMs, logger: parts.logger,
      spread: (id) => this.#spreadStatus(id), scale: () => this.#scaleStatus(),
    });
  }

  /** Connects to NATS: CLUSTER_CONNECT_FAILED when no server answers the first time. */
  static async open(parts: ClusterNodeParts): Promise<ClusterNode> {
    const cluster = parts.config.cluster;
    if (cluster === undefined) throw new SgeventdError('CLUSTER_NOT_CONFIGURED', 'this config has no cluster section');
    const conn = await connectCluster({ nats: cluster.nats, nodeId: cluster.nodeId });
    return new ClusterNode(parts, conn);
  }

  get connection(): ClusterConnection {
    return this.#conn;
  }

  /**
   * Answers the other nodes' control requests (`nodes`, `recycle`) with
   * `handlers` (the composition root's runtimes), and asks them for the status.
   */
  setControl(handlers: ControlHandlers): ClusterControl {
    const cluster = this.#parts.config.cluster as NonNullable<DaemonConfig['cluster']>;
    this.#control = new ClusterControl({
      conn: this.#conn, names: this.names, nodeId: this.nodeId, handlers, logger: this.#parts.logger, waitMs: cluster.controlWaitMs,
    });
    return this.#control;
  }

  /** The poller candidate (built by the composition root from the same connection). */
  setPoller(poller: PollerCandidate): void {
    this.#poller = poller;
  }

  async start(): Promise<void> {
    const { config, logger } = this.#parts;
    const cluster = config.cluster as NonNullable<DaemonConfig['cluster']>;
    this.#watching = this.#watchConnection();
    this.#control?.start();
    await ensureEventStream(this.#conn.jsm, this.names, cluster);
    this.#pluginControl = await PluginControl.open(this.#conn, this.names, cluster.replicas);
    this.#deadLetters = await DeadLetterBook.open(this.#conn, this.names, cluster.replicas);
    this.#stopReloads = answerReloads(this.#conn, this.#pluginControl, this.nodeId, () => this.#workers, logger);
    this.#poller?.start();
    const coordinator = new PartitionCoordinator({
      nodeId: this.nodeId, names: this.names, partitions: cluster.partitions, placement: cluster.placement, jsm: this.#conn.jsm, logger,
      checkMs: cluster.lease.checkMs,
      ...(this.#parts.runtimes ? { runtimes: this.#parts.runtimes } : {}),
      membership: await Membership.open({ conn: this.#conn, names: this.names, nodeId: this.nodeId, replicas: cluster.replicas, timing: cluster.lease, logger }),
    });
    this.#coordinator = coordinator;
    for (const folder of config.plugins) {
      // Hot reload as on one machine: a changed file reloads the plugin (the owner's and the standbys' copies).
      const watcher = new PluginFolderWatcher({ folder: folder.path, mode: folder.watch, pollIntervalMs: folder.watchPollMs });
      watcher.on('add', (entry) => {
        if (entry.kind !== 'refused') this.#addWorker(folder, entry).catch((err: unknown) => logger.error({ err, plugin: entry.name }, 'starting a new plugin failed'));
      });
      watcher.on('change', (entry) => {
        const worker = this.#workers.find((w) => w.id === pluginId({ folder: folder.path, name: entry.name }));
        if (entry.kind === 'refused') {
          logger.error({ err: entry.error, plugin: entry.name }, 'plugin refused after a change; the loaded code keeps running');
        } else if (worker === undefined) {
          this.#addWorker(folder, entry).catch((err: unknown) => logger.error({ err, plugin: entry.name }, 'starting a plugin failed'));
        } else {
          logger.info({ plugin: entry.name }, 'plugin file changed; reloading');
          worker.reload(entry).catch((err: unknown) => logger.error({ err, plugin: entry.name }, 'reloading a changed plugin failed'));
        }
      });
      watcher.on('remove', (prev) => {
        const i = this.#workers.findIndex((w) => w.id === pluginId({ folder: folder.path, name: prev.name }));
        const worker = this.#workers[i];
        if (worker === undefined) return;
        this.#workers.splice(i, 1);
        logger.info({ plugin: prev.name }, 'plugin file removed; stopping it on this node (its cursor stays in NATS)');
        worker.stop().catch((err: unknown) => logger.error({ err, plugin: prev.name }, 'stopping a removed plugin failed'));
      });
      watcher.on('error', (err) => logger.error({ err, folder: folder.path }, 'plugin folder scan failed; the loaded plugins stay'));
      let entries;
      try {
        entries = await watcher.start();
      } catch (err) {
        logger.error({ err, folder: folder.path }, 'plugin folder refused');
        await watcher.close();
        continue;
      }
      this.#watchers.push(watcher);
      for (const entry of entries) {
        if (entry.kind === 'refused') {
          logger.error({ err: entry.error, plugin: entry.name }, 'plugin refused');
          continue;
        }
        await this.#addWorker(folder, entry);
      }
    }
    coordinator.start();
    this.#board.start();
    logger.info({ nodeId: this.nodeId, plugins: this.#workers.map((w) => w.name) }, 'cluster node running');
  }

  /** Asks every node (this one included) to recycle its runtimes of `project`, or all. */
  recycle(project: string | undefined): Promise<RecycleAnswer[]> {
    if (this.#control === null) return Promise.reject(new SgeventdError('CLUSTER_NOT_CONFIGURED', 'this node answers no control requests'));
    return this.#control.recycle(project);
  }

  /**
   * `sgeventd plugin reload [NAME]` on any node: every node reloads its copy,
   * the owner's reload (callbacks in flight finish first) is waited for.
   * PLUGIN_UNKNOWN when no plugin has that name. Returns the names reloaded.
   */
  async reloadPlugins(name: string | undefined): Promise<string[]> {
    const control = this.#pluginControl;
    if (control === null) throw new SgeventdError('CLUSTER_NOT_STARTED', 'this cluster node has not started');
    const chosen = this.#workers.filter((w) => name === undefined || w.name === name || w.id === name);
    if (chosen.length === 0 && name !== undefined) {
      throw new SgeventdError('PLUGIN_UNKNOWN', `no plugin named ${JSON.stringify(name)} on this node (known: ${this.#workers.map((w) => w.name).join(', ') || 'none'})`, { details: { name } });
    }
    const leases = new Map(this.#leases.map((l) => [l.key, l]));
    return reloadAcrossNodes(this.#conn, control, chosen.map((w) => ({ id: w.id, name: w.name, lease: leases.get(`plugin.${w.id}`) ?? null })));
  }

  async #addWorker(folder: PluginFolderConfig, entry: JsPluginFile | PythonPluginFile): Promise<void> {
    const { config, logger } = this.#parts;
    const cluster = config.cluster as NonNullable<DaemonConfig['cluster']>;
    const id = pluginId({ folder: folder.path, name: entry.name });
    if (this.#workers.some((w) => w.id === id) || this.#stopping !== null) return;
    const lease = await FencedLease.open<WorkerCursorState | null>({
      conn: this.#conn, names: this.names, key: `plugin.${id}`, nodeId: this.nodeId, timing: cluster.lease,
      replicas: cluster.replicas, state: workerCursorSchema.nullable(), initial: null, logger,
    });
    if (!this.#leases.some((l) => l.key === lease.key)) this.#leases.push(lease);
    const control = this.#pluginControl;
    const onReconnect = (listener: () => void): (() => void) => {
      this.#reconnectListeners.add(listener);
      return () => this.#reconnectListeners.delete(listener);
    };
    // Used only when the plugin loads with `concurrency: { by: project | entity }`.
    const coordinator = this.#coordinator;
    const spread = coordinator === null ? undefined : new PartitionWorker({
      id, entry, folder, config, directory: this.#parts.directory, conn: this.#conn, names: this.names, nodeId: this.nodeId,
      partitions: cluster.partitions, timing: cluster.lease, replicas: cluster.replicas, holdMs: cluster.placement.holdMs,
      origin: lease, placement: coordinator, logger, retryMs: cluster.lease.checkMs, onReconnect,
      ...(control === null ? {} : { control: { read: () => control.read(id) } }),
      ...(this.#deadLetters === null ? {} : { deadLetters: this.#deadLetters }),
      ...(this.#parts.onTiming ? { onTiming: this.#parts.onTiming } : {}),
      ...(this.#parts.onFailure ? { onFailure: this.#parts.onFailure } : {}),
    });
    if (spread !== undefined) {
      this.#spread.set(id, spread);
      coordinator?.add(spread);
    }
    const worker = new PluginWorker({
      id, entry, folder, config, hosts: this.#parts.hosts, directory: this.#parts.directory, lease,
      js: this.#conn.js, jsm: this.#conn.jsm, stream: this.names.eventStream, filter: this.names.allEvents,
      logger, pluginLogger: await this.#parts.pluginLogger(entry.name), retryMs: cluster.lease.checkMs,
      onReconnect,
      ...(spread === undefined ? {} : { spread }),
      ...(control === null ? {} : { control: { read: () => control.read(id) } }),
      ...(this.#deadLetters === null ? {} : { deadLetters: this.#deadLetters }),
      ...(this.#parts.onTiming ? { onTiming: this.#parts.onTiming } : {}),
      ...(this.#parts.onFailure ? { onFailure: this.#parts.onFailure } : {}),
      ...(this.#parts.onLoadFailure ? { onLoadFailure: this.#parts.onLoadFailure } : {}),
    });
    this.#workers.push(worker);
    worker.start();
  }

  /** Node id, NATS connectivity, lease holders, per plugin cursor, lag and in flight. */
  status(): ClusterStatus {
    return this.#board.snapshot();
  }

  #spreadStatus(pluginId: string): ReturnType<typeof spreadPluginStatus> | null {
    const coordinator = this.#coordinator;
    const worker = this.#spread.get(pluginId);
    if (coordinator === null || worker === undefined) return null;
    const cluster = this.#parts.config.cluster as NonNullable<DaemonConfig['cluster']>;
    return spreadPluginStatus(pluginId, coordinator.members(), coordinator.lastSeqs, cluster.partitions, worker.origin);
  }

  #scaleStatus(): ReturnType<typeof scaleStatus> {
    const cluster = this.#parts.config.cluster as NonNullable<DaemonConfig['cluster']>;
    const names = new Map(this.#workers.map((w) => [w.id, w.name]));
    const coordinator = this.#coordinator;
    return scaleStatus(coordinator?.members() ?? new Map(), coordinator?.placement ?? null, cluster.partitions, names);
  }

  /**
   * Graceful: callbacks in flight finish, cursors are committed, leases
   * released; idempotent. Each step is logged (debug) and bounded: the whole
   * stop by `daemon.stopTimeoutMs` (what callbacks in flight may take) plus
   * the lease TTL (what the commits and releases after them may take), each
   * step that only talks to NATS also by the TTL (past it every lease ran out
   * anyway). A step that overruns is logged with its name and the stop goes
   * on (docs/ARCHITECTURE.md, "Cluster mode: stop order and bounds").
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      const { logger, config } = this.#parts;
      const cluster = config.cluster as NonNullable<DaemonConfig['cluster']>;
      const deadline = performance.now() + config.daemon.stopTimeoutMs + cluster.lease.ttlMs;
      const steps: StopStep[] = [
        { name: 'plugin folder watchers', network: false, run: () => Promise.all(this.#watchers.map((w) => w.close())) },
        { name: 'reload answers', network: true, run: () => Promise.resolve(this.#stopReloads?.()) },
        // All at once: each plugin releases its lease as soon as its callbacks finished and its cursor is committed
        // (before its thread closes), and the poller hands over beside them, not after every plugin thread closed (a
        // plugin's successor waits for new events, and they come from the poller). Spread plugins leave placement
        // first, so the others claim this node's partitions as they are released.
        { name: 'plugins and poller', network: false, run: () => {
          const spread = this.#workers.filter((w) => w.spread);
          const leaving = (this.#coordinator?.leave() ?? Promise.resolve()).then(
            () => logger.debug('left placement'),
            (err: unknown) => logger.error({ err }, 'leaving placement failed; stopping the spread plugins anyway'),
          );
          return Promise.all([
            ...this.#workers.filter((w) => !w.spread).map((w) => w.stop()),
            this.#poller?.stop() ?? Promise.resolve(),
            leaving.then(() => Promise.all(spread.map((w) => w.stop()))),
          ]);
        } },
        { name: 'plugin leases', network: true, run: () => Promise.all(this.#leases.map((l) => l.close())) },
        { name: 'status board', network: true, run: () => this.#board.stop() },
        { name: 'placement and heartbeat', network: true, run: () => this.#coordinator?.close() ?? Promise.resolve() },
        { name: 'control answers', network: true, run: () => Promise.resolve(this.#control?.stop()) },
        { name: 'NATS connection', network: true, run: () => this.#conn.close() },
        { name: 'connection watch', network: true, run: () => this.#watching ?? Promise.resolve() },
      ];
      for (const step of steps) {
        const boundMs = Math.max(0, Math.min(deadline - performance.now(), step.network ? cluster.lease.ttlMs : Infinity));
        logger.debug({ step: step.name }, `cluster node stop: ${step.name}`);
        const result = await boundedStep(step.run, boundMs, (err) => logger.debug({ err, step: step.name }, `cluster node stop: ${step.name} failed after its bound`));
        if (result.kind === 'failed') logger.error({ err: result.err, step: step.name }, `cluster node stop: ${step.name} failed`);
        else if (result.kind === 'overran') {
          logger.error({ code: 'CLUSTER_STOP_STEP_OVERRAN', step: step.name, boundMs: Math.round(boundMs) }, `cluster node stop: ${step.name} did not finish within ${Math.round(boundMs)} ms; stopping without it`);
        }
      }
      // A stalled connection (a step overran) is closed outright, so nothing of it keeps the process alive.
      if (!this.#conn.nc.isClosed()) {
        const closed = await boundedStep(() => this.#conn.nc.close(), 1000, (err) => logger.debug({ err }, 'closing the NATS connection failed'));
        if (closed.kind !== 'done') logger.warn({ outcome: closed.kind }, 'closing the NATS connection outright did not finish');
      }
      logger.debug('cluster node stopped');
    })();
    return this.#stopping;
  }

  /** Connectivity for `/healthz`, and reconnects for the workers (their consumers are made again). */
  async #watchConnection(): Promise<void> {
    const { logger } = this.#parts;
    for await (const s of this.#conn.nc.status()) {
      if (s.type === 'disconnect') {
        this.#connected = false;
        logger.warn({ server: s.server }, 'disconnected from NATS; reconnecting (leases held run out, work stops until NATS is back)');
      } else if (s.type === 'reconnect') {
        this.#connected = true;
        logger.info({ server: s.server }, 'reconnected to NATS');
        for (const listener of this.#reconnectListeners) listener();
      }
    }
  }
}

/** One step of `ClusterNode.stop`; `network`: it only waits on NATS, so the lease TTL bounds it too. */
interface StopStep {
  name: string;
  network: boolean;
  run: () => Promise<unknown>;
}

type StepResult = { kind: 'done' } | { kind: 'failed'; err: unknown } | { kind: 'overran' };

/** Runs `run`, waiting `boundMs` at most; an overrunning step keeps going unawaited, and a failure it meets later goes to `late`. */
async function boundedStep(run: () => Promise<unknown>, boundMs: number, late: (err: unknown) => void): Promise<StepResult> {
  let timer: NodeJS.Timeout | undefined;
  let over = false;
  const work = (async (): Promise<StepResult> => {
    try {
      await run();
      return { kind: 'done' };
    } catch (err) {
      if (over) late(err);
      return { kind: 'failed', err };
    }
  })();
  const overran = new Promise<StepResult>((resolve) => {
    timer = setTimeout(() => {
      over = true;
      resolve({ kind: 'overran' });
    }, boundMs);
  });
  try {
    return await Promise.race([work, overran]);
  } finally {
    clearTimeout(timer);
  }
}
