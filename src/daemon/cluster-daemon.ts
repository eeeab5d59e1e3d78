// `sgeventd foreground` with a `cluster` section: the same assembled parts
// (loggers, site, runtime pool, plugin hosts) around a cluster node instead of
// the engine and the SQLite state.
import { rmSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { DaemonConfig } from '../config/index.ts';
import { ClusterAlertGate, ClusterNode, ClusterPoller, wakePoller, type ClusterStatus, type PollerCandidate } from '../cluster/index.ts';
import { DaemonMetrics } from '../metrics/index.ts';
import { startHttpServer, startWebhookReceiver, type DaemonStatusLike, type WebhookResult, type WebhookStatusLike } from '../http/index.ts';
import { SgeventdError, sleepLong, type SecretMask } from '../shared/index.ts';
import { laneAlert, loadAlert, timingLine } from './alerts.ts';
import { Assembly, runStopSteps } from './assembly.ts';
import { daemonIdleTrim, type IdleHeapTrim } from './idle-trim.ts';
import type { StopSteps } from './serve.ts';
import { urlFile } from './url-file.ts';

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
  readonly #webhooks: { deliveries: Record<string, number>; lastDeliveryAt: string | null; lastDeliveredId: number } | null;
  #stopping: Promise<void> | null = null;
  /** Shrinks the main thread's heap once it falls idle; null when `daemon.idleTrimMs` is 0. */
  readonly #idleTrim: IdleHeapTrim | null;

  private constructor(parts: Assembly, node: ClusterNode, metrics: DaemonMetrics) {
    this.config = parts.config;
    this.logger = parts.logger;
    this.#parts = parts;
    this.#node = node;
    this.metrics = metrics;
    this.#webhooks = parts.config.webhooks === undefined ? null : { deliveries: {}, lastDeliveryAt: null, lastDeliveredId: 0 };
    this.#idleTrim = daemonIdleTrim(parts.config.daemon.idleTrimMs, parts.logger, () => this.status());
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
        onLoadFailure: (f) => parts.mailer?.send(loadAlert(f)),
        runtimes: () => parts.toolkit.list().flatMap((r) => r.projects.map((project) => ({ project, state: r.state }))),
      });
      daemon = new ClusterDaemon(parts, node, metrics);
      node.setControl({
        describe: () => ({
          // The plugins this node runs: held outright, or spread with at least one partition here.
          active: ((s) => s.plugins.filter((p) => p.role === 'active'
            || (p.role === 'spread' && (s.scale?.owners.some((o) => o.holders[p.name] === node.nodeId) ?? false))).map((p) => p.name))(node.status()),
          runtimes: parts.toolkit.list().map((r) => ({ ...r, projects: [...r.projects] })),
        }),
        recycle: (project) => parts.toolkit.recycle(project),
      });
      // The poller candidate reads the site through the same retries as one machine (never skips).
      const cluster = config.cluster as NonNullable<DaemonConfig['cluster']>;
      const poller = await ClusterPoller.open({
        // As on one machine: with webhooks on, deliveries wake the poller and polling falls back to `webhooks.fallbackPollMs`.
        conn: node.connection, names: node.names, cluster, daemon: { ...config.daemon, fetchIntervalMs: parts.pollIntervalMs }, source: parts.eventLog().source, logger: parts.logger,
      });
      node.setPoller(pollerCandidate(poller, parts.logger, cluster.lease.checkMs));
      if (parts.mailer?.enabled === true) {
        // The same alert raised on several nodes goes out once for the cluster.
        const gate = await ClusterAlertGate.open({
          conn: node.connection, names: node.names, windowMs: cluster.alertWindowMs, replicas: cluster.replicas, nodeId: cluster.nodeId, logger: parts.logger,
        }).catch((err: unknown) => {
          parts.logger.error({ err }, 'the cluster alert bucket is unavailable: this node mails its own alerts');
          return null;
        });
        if (gate !== null) parts.mailer.gateWith((alert) => gate.claim(alert));
      }
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
    this.#idleTrim?.start();
  }

  /**
   * A correctly signed webhook delivery on this node: whichever node holds the
   * poller lease reads the log at once (core NATS, `<prefix>.wake`). A hint
   * only: the log stays the truth, and a wake lost with NATS costs one poll
   * interval.
   */
  /** A signed delivery announced the log has reached at least `newest`. */
  webhookDelivery(newest: number): void {
    const w = this.#webhooks;
    if (w === null) return;
    w.lastDeliveryAt = new Date().toISOString();
    w.lastDeliveredId = Math.max(w.lastDeliveredId, newest);
    try {
      wakePoller(this.#node.connection, this.#node.names, newest);
    } catch (err) {
      this.logger.warn({ err, eventId: newest }, 'waking the cluster poller failed; it reads at its next interval');
    }
  }

  /**
   * `sgeventd toolkit recycle [PROJECT]` on a cluster node: every node
   * recycles its own runtimes of the project (they run where the project's
   * plugins run); the total. A project no node knows is refused as on one machine.
   */
  async recycleEverywhere(project: string | undefined): Promise<number> {
    const answers = await this.#node.recycle(project);
    const failed = answers.filter((a) => a.type === 'failed');
    if (answers.length > 0 && failed.length === answers.length) {
      const first = failed[0] as Extract<(typeof answers)[number], { type: 'failed' }>;
      throw new SgeventdError(first.code, first.error, { details: { project, nodes: failed.map((f) => f.nodeId) } });
    }
    for (const f of failed) this.logger.warn({ node: f.nodeId, code: f.code, project }, `recycling on node ${f.nodeId} failed: ${f.error}`);
    return answers.reduce((n, a) => n + (a.type === 'recycled' ? a.recycled : 0), 0);
  }

  /** One request to the webhook receiver, by result (status page and /metrics). */
  webhookResult(result: WebhookResult): void {
    if (this.#webhooks === null) return;
    this.#webhooks.deliveries[result] = (this.#webhooks.deliveries[result] ?? 0) + 1;
    this.metrics.webhookDelivery(result);
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
      webhooks: this.#webhookStatus(),
      cluster,
    };
  }

  #webhookStatus(): WebhookStatusLike | null {
    const w = this.#webhooks;
    return w === null ? null : { deliveries: { ...w.deliveries }, lastDeliveryAt: w.lastDeliveryAt, lastDeliveredId: w.lastDeliveredId, silent: null, silences: 0 };
  }

  /** `sgeventd plugin reload [NAME]`: every node reloads its copy; waits for each owner's reload. */
  reloadPlugins(name: string | undefined): Promise<string[]> {
    return this.#node.reloadPlugins(name);
  }

  /** Graceful: callbacks in flight finish, cursors are committed and leases released; idempotent; every step runs. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.logger.info('sgeventd cluster node stopping: finishing in-flight callbacks, handing over leases');
      this.#idleTrim?.stop();
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
    stats: poller.stats,
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
        recycleRuntimes: (project) => daemon.recycleEverywhere(project),
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
  await startClusterWebhooks(daemon, config, stops).catch(async (err: unknown) => {
    await daemon.stop();
    throw err;
  });
  stops.register(() => daemon.stop());
  await daemon.start();
  return { daemon, statusUrl };
}

const WEBHOOK_RESULTS: readonly WebhookResult[] = ['accepted', 'malformed', 'unsigned', 'bad_signature', 'too_large'];

/**
 * The webhook receiver of a cluster node (any node may receive the site's
 * deliveries: put them all behind the webhook's URL). Stopped after the node
 * (stop steps run last registered first): a signed delivery is answered 200
 * while the node drains.
 */
async function startClusterWebhooks(daemon: ClusterDaemon, config: DaemonConfig, stops: StopSteps): Promise<void> {
  const w = config.webhooks;
  if (w === undefined) return;
  daemon.metrics.webhooksOn(WEBHOOK_RESULTS);
  const receiver = await startWebhookReceiver({
    config: { host: w.host, port: w.port, path: w.path, secrets: w.secrets },
    logger: daemon.logger,
    onAtLeast: (id) => daemon.webhookDelivery(id),
    onResult: (r) => daemon.webhookResult(r),
  });
  daemon.logger.info({ url: receiver.url }, 'webhook receiver listening; deliveries wake the cluster poller');
  stops.register(() => receiver.close());
}
