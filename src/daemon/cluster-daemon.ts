// `sgeventd foreground` with a `cluster` section: the same assembled parts
// (loggers, site, runtime pool, plugin hosts) around a cluster node instead of
// the engine and the SQLite state.
import { rmSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { DaemonConfig } from '../config/index.ts';
import { ClusterNode, ClusterPoller, type ClusterStatus, type PollerCandidate } from '../cluster/index.ts';
import { DaemonMetrics } from '../metrics/index.ts';
import { startHttpServer, type DaemonStatusLike } from '../http/index.ts';
import { SgeventdError, sleepLong, type SecretMask } from '../shared/index.ts';
import { laneAlert, timingLine } from './alerts.ts';
import { Assembly, runStopSteps } from './assembly.ts';
import type { StopSteps } from './serve.ts';
import { urlFile } from './status-server.ts';

export interface ClusterDaemonStatus extends DaemonStatusLike {
  cluster: ClusterStatus;
}

/** One cluster node with the daemon's parts: what `foreground` runs when the config has a `cluster` section. */
export class ClusterDaemon {
  readonly config: DaemonConfig;
  readonly logger: Logger;
  readonly metrics: DaemonMetrics;
  readonly #parts: Assembly;
  readonly #node: ClusterNode;
  readonly #startedAt = new Date();
  #stopping: Promise<void> | null = null;

  private constructor(parts: Assembly, node: ClusterNode, metrics: DaemonMetrics) {
    this.config = parts.config;
    this.logger = parts.logger;
    this.#parts = parts;
    this.#node = node;
    this.metrics = metrics;
  }

  static async open(config: DaemonConfig, opts: { console: boolean; logFiles?: boolean }): Promise<ClusterDaemon> {
    const parts = await Assembly.open(config, { command: 'run', console: opts.console, logFiles: opts.logFiles ?? true });
    let daemon: ClusterDaemon | undefined;
    const metrics = new DaemonMetrics({ status: () => (daemon as ClusterDaemon).status() });
    parts.observeRuntimes(metrics);
    const timing = parts.loggers.timing;
    try {
      const node = await ClusterNode.open({
        config, hosts: parts.hosts, directory: parts.directory, logger: parts.logger,
        pluginLogger: (name) => parts.loggers.plugin(name),
        onTiming: (r) => {
          metrics.observeCallback(r);
          timing?.info(timingLine(r));
        },
        onFailure: (f) => parts.mailer?.send(laneAlert(f)),
        runtimes: () => parts.toolkit.list().flatMap((r) => r.projects.map((project) => ({ project, state: r.state }))),
      });
      daemon = new ClusterDaemon(parts, node, metrics);
      // The poller candidate reads the site through the same retries as one machine (never skips).
      const cluster = config.cluster as NonNullable<DaemonConfig['cluster']>;
      const poller = await ClusterPoller.open({
        conn: node.connection, names: node.names, cluster, daemon: config.daemon, source: parts.eventLog().source, logger: parts.logger,
      });
      node.setPoller(pollerCandidate(poller, parts.logger, cluster.lease.checkMs));
      return daemon;
    } catch (err) {
      await parts.close();
      await parts.closeLogs();
      throw err;
    }
  }

  /** The configured secrets by value, masked in every text that leaves the node. */
  get mask(): SecretMask {
    return this.#parts.mask;
  }

  async start(): Promise<void> {
    this.logger.info({ site: this.config.site.url, nodeId: this.#node.nodeId, pid: process.pid }, 'sgeventd cluster node starting');
    await this.#node.start();
  }

  status(): ClusterDaemonStatus {
    const cluster = this.#node.status();
    const highIds = cluster.plugins.map((p) => p.highId ?? 0);
    return {
      site: this.config.site.url,
      pid: process.pid,
      startedAt: this.#startedAt.toISOString(),
      newestEventId: highIds.length > 0 ? Math.max(...highIds) : 0,
      lastPollAt: null,
      // The last successful read of the cluster's state from NATS: stale while NATS is away.
      lastSuccessfulReadAt: cluster.refreshedAt,
      siteErrors: this.#parts.site.errorCount,
      plugins: cluster.plugins.map((p) => ({
        id: p.id, name: p.name, kind: 'cluster', status: p.role === 'active' ? 'running' : p.role,
        lastEventId: p.highId, backlog: p.pending, lag: p.lag, lastError: p.lastError,
        processed: p.processed, failed: p.failed, meanMs: null,
      })),
      runtimes: this.#parts.toolkit.list(),
      cluster,
    };
  }

  /** `sgeventd plugin reload [NAME]`: every node reloads its copy; waits for each owner's reload. */
  reloadPlugins(name: string | undefined): Promise<string[]> {
    return this.#node.reloadPlugins(name);
  }

  /** Graceful: callbacks in flight finish, cursors are committed and leases released; idempotent; every step runs. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.logger.info('sgeventd cluster node stopping: finishing in-flight callbacks, handing over leases');
      const steps: Array<() => Promise<unknown>> = [
        () => this.#node.stop(),
        () => this.#parts.toolkit.close(),
        () => this.#parts.close(),
      ];
      await runStopSteps(this.logger, steps);
      this.logger.info('sgeventd cluster node stopped');
      await this.#parts.closeLogs();
    })();
    return this.#stopping;
  }
}

/** The poller as the node starts and stops it: `run` until stopped, then the lease is released. */
function pollerCandidate(poller: ClusterPoller, logger: Logger, retryMs: number): PollerCandidate {
  const stop = new AbortController();
  let running: Promise<void> | null = null;
  // A failure of the poller (NATS away during a claim) is logged and the node campaigns again after a pause.
  const loop = async (): Promise<void> => {
    while (!stop.signal.aborted) {
      try {
        await poller.run(stop.signal);
      } catch (err) {
        logger.error({ err }, 'the cluster poller stopped by an error; this node campaigns for it again');
        await sleepLong(retryMs, { signal: stop.signal }).catch(() => undefined);
      }
    }
  };
  return {
    start() {
      running ??= loop();
    },
    async stop() {
      stop.abort();
      await running;
      await poller.close();
    },
    lease: poller.lease,
  };
}

/** Opens a cluster node and its status server, then starts it; stop steps go to `stops`. */
export async function serveClusterNode(config: DaemonConfig, opts: { console: boolean; recordUrl: boolean }, stops: StopSteps): Promise<{ daemon: ClusterDaemon; statusUrl: string | null }> {
  const daemon = await ClusterDaemon.open(config, { console: opts.console });
  for (const w of config.warnings) daemon.logger.warn(w);
  let statusUrl: string | null = null;
  if (config.http.enabled) {
    const http = await startHttpServer({
      config: config.http,
      status: { status: () => daemon.status() },
      metrics: daemon.metrics,
      logger: daemon.logger,
      fetchIntervalMs: config.daemon.fetchIntervalMs,
      mask: daemon.mask,
      actions: {
        recycleRuntimes: () => {
          throw new SgeventdError('CLUSTER_ACTION_UNSUPPORTED', 'toolkit recycle is not available on a cluster node yet');
        },
        reloadPlugins: (name) => daemon.reloadPlugins(name),
      },
    }).catch(async (err: unknown) => {
      await daemon.stop();
      throw err;
    });
    const local = http.url.replace('://0.0.0.0:', '://127.0.0.1:').replace('://[::]:', '://[::1]:');
    if (opts.recordUrl) writeFileSync(urlFile(config), `${local}\n`);
    statusUrl = local;
    stops.register(async () => {
      if (opts.recordUrl) rmSync(urlFile(config), { force: true });
      await http.close();
    });
  }
  stops.register(() => daemon.stop());
  await daemon.start();
  return { daemon, statusUrl };
}
