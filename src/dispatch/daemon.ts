import { ProxyAgent, type Dispatcher } from 'undici';
import type { Logger } from 'pino';
import type { DaemonConfig } from '../config/index.ts';
import { ShotgunClient } from '../shotgrid/index.ts';
import { openSqliteState, type DeadLetter, type StateStore } from '../state/index.ts';
import { DaemonMetrics } from '../metrics/index.ts';
import { SgeventdError } from '../shared/index.ts';
import { Api3EventSource, EventLog, ResilientEventSource } from '../source/index.ts';
import { AlertMailer, createLoggers, type Loggers } from '../logging/index.ts';
import { RuntimePool, siteLookup, type RuntimeStatus } from '../toolkit/index.ts';
import { dirname } from 'node:path';
import { poolOptionsFrom, toolkitRequestHandler } from './toolkit-bridge.ts';
import { PipelineConfigurationWatch } from './config-watch.ts';
import { Engine, type PluginSnapshot } from './engine.ts';
import { SiteProjectDirectory } from './scope.ts';
import type { LaneFailure, TimingRecord } from './lane-types.ts';

export interface DaemonOptions {
  config: DaemonConfig;
  /** Console logging (foreground); files are written unless `logFiles` is false. */
  console: boolean;
  logFiles?: boolean;
  /** Plugins with no state start after this id instead of the newest event. */
  fromId?: number;
  /** For tests: plugin folder watching. */
  watch?: { pollIntervalMs?: number; debounceMs?: number; fsWatch?: boolean };
}

export interface DaemonStatus {
  site: string;
  pid: number;
  startedAt: string;
  newestEventId: number;
  lastPollAt: string | null;
  lastSuccessfulReadAt: string | null;
  siteErrors: number;
  plugins: PluginSnapshot[];
  runtimes: RuntimeStatus[];
}

/**
 * The daemon, assembled from its config: api3 client → resilient event
 * source → shared event log → engine (lanes, plugin threads, state batcher),
 * with loggers and alert mail. Holds no process-wide handlers itself; the CLI
 * owns signals and calls `stop()`.
 */
export class Daemon {
  readonly config: DaemonConfig;
  readonly logger: Logger;
  readonly #loggers: Loggers;
  readonly #store: StateStore;
  readonly #client: ShotgunClient;
  readonly #dispatcher: Dispatcher | undefined;
  readonly #source: ResilientEventSource;
  readonly #log: EventLog;
  readonly #engine: Engine;
  readonly #mailer: AlertMailer;
  readonly #startedAt = new Date();
  #pool: RuntimePool | null = null;
  readonly #pcWatch: PipelineConfigurationWatch;
  /** Prometheus metrics: fed by callbacks and runtimes, the rest read from `status()` at scrape time. */
  readonly metrics: DaemonMetrics;
  #stopping: Promise<void> | null = null;

  private constructor(opts: DaemonOptions, loggers: Loggers, store: StateStore) {
    const { config } = opts;
    this.config = config;
    this.#loggers = loggers;
    this.logger = loggers.engine;
    this.#store = store;
    this.#mailer = new AlertMailer(config.emails, this.logger);
    this.#dispatcher = config.site.proxy ? new ProxyAgent(proxyUrl(config.site.proxy)) : undefined;
    this.#client = new ShotgunClient({
      baseUrl: config.site.url,
      auth: { kind: 'script', scriptName: config.site.script.name, scriptKey: config.site.script.key },
      timeoutMs: config.site.timeoutMs,
      logger: this.logger,
      ...(this.#dispatcher ? { dispatcher: this.#dispatcher } : {}),
    });
    this.#source = new ResilientEventSource(new Api3EventSource(this.#client, this.logger), {
      maxConnRetries: config.site.maxConnRetries,
      connRetrySleepMs: config.site.connRetrySleepMs,
      logger: this.logger,
      onAlert: (kind, err) =>
        this.#mailer.send({
          level: kind === 'site-down' ? 'error' : 'warn',
          plugin: null,
          title: kind === 'site-down' ? 'site unreachable' : 'site reachable again',
          body: kind === 'site-down' ? `${config.site.maxConnRetries} requests to ${config.site.url} failed in a row; still retrying.\n\n${String(err)}` : `${config.site.url} answers again.`,
        }),
    });
    this.#log = new EventLog(this.#source, {
      batchSize: config.daemon.maxEventBatchSize,
      fetchIntervalMs: config.daemon.fetchIntervalMs,
      maxCachedEvents: Math.max(4 * config.daemon.maxEventBatchSize, 5000),
      logger: this.logger,
    });
    this.metrics = new DaemonMetrics({ status: () => this.status() });
    const timing = loggers.timing;
    this.#engine = new Engine({
      config,
      store,
      eventLog: this.#log,
      directory: new SiteProjectDirectory(this.#client, this.logger),
      logger: this.logger,
      pluginLogger: (name) => loggers.plugin(name),
      ...(opts.fromId !== undefined ? { fromId: opts.fromId } : {}),
      ...(opts.watch ? { watch: opts.watch } : {}),
      onTiming: (r: TimingRecord) => {
        this.metrics.observeCallback(r);
        timing?.info(timingLine(r));
      },
      onFailure: (f) => this.#alert(f),
      handleRequest: toolkitRequestHandler(() => this.pool),
      runInProject: (project, plugin, events, signal, onStep) => this.pool.pluginProcess(project, plugin, events, signal, onStep),
    });
    this.#pcWatch = new PipelineConfigurationWatch(this.#log, this.logger, (projectId) => {
      this.#pool?.recycle(projectId ?? undefined);
    });
  }

  /** The project runtimes; created on first use (a daemon without Toolkit work never starts Python for it). */
  get pool(): RuntimePool {
    this.#pool ??= new RuntimePool(poolOptionsFrom(this.config.toolkit), {
      site: { url: this.config.site.url, scriptName: this.config.site.script.name, scriptKey: this.config.site.script.key },
      stateDir: dirname(this.config.daemon.state),
      lookup: siteLookup(this.#client),
      secretVars: this.config.secretEnvVars,
      logger: this.logger.child({ subsystem: 'toolkit' }),
      onRuntimeStarted: (label) => this.metrics.runtimeStarted(label),
      onRuntimeCrashed: (label) => this.metrics.runtimeCrashed(label),
    });
    return this.#pool;
  }

  /** `sgeventd toolkit recycle [PROJECT]`: drains and replaces the runtimes of a project (id or tank_name), or all. */
  async recycleRuntimes(project?: string): Promise<number> {
    if (this.#pool === null) return 0;
    if (project === undefined || project === '') return this.#pool.recycle();
    let id: unknown = /^\d+$/.test(project) ? Number(project) : undefined;
    if (id === undefined) id = (await this.#client.findOne('Project', [['tank_name', 'is', project]], ['id']))?.['id'];
    if (typeof id !== 'number') throw new SgeventdError('TK_NO_PROJECT', `no project ${project} on ${this.config.site.url}`, { details: { project } });
    return this.#pool.recycle(id);
  }

  /** `sgeventd plugin reload [NAME]`: re-imports one plugin, or all; returns the names reloaded. */
  reloadPlugins(name?: string): Promise<string[]> {
    return this.#engine.reloadPlugins(name);
  }

  /** The newest dead letters, newest first, for the status page. */
  async recentDeadLetters(limit: number): Promise<DeadLetter[]> {
    const all = await this.#store.deadLetters.list({ status: 'dead' });
    return all.slice(-limit).reverse();
  }

  static async open(opts: DaemonOptions): Promise<Daemon> {
    const loggers = await createLoggers(opts.config.logging, { console: opts.console, files: opts.logFiles ?? true });
    let store: StateStore;
    try {
      store = await openSqliteState(opts.config.daemon.state, { synchronous: opts.config.daemon.stateSync });
    } catch (err) {
      await loggers.close();
      throw err;
    }
    return new Daemon(opts, loggers, store);
  }

  async start(): Promise<void> {
    this.logger.info({ site: this.config.site.url, state: this.config.daemon.state, pid: process.pid }, 'sgeventd starting');
    await this.#engine.start();
    this.#pcWatch.start();
    this.logger.info({ plugins: this.#engine.snapshot().map((p) => `${p.name}: ${p.status}`) }, 'sgeventd running');
  }

  status(): DaemonStatus {
    const iso = (ms: number): string | null => (ms > 0 ? new Date(ms).toISOString() : null);
    return {
      site: this.config.site.url,
      pid: process.pid,
      startedAt: this.#startedAt.toISOString(),
      newestEventId: this.#log.frontier,
      lastPollAt: iso(this.#log.lastPollAt),
      lastSuccessfulReadAt: iso(this.#source.lastSuccessAt),
      siteErrors: this.#source.errorCount,
      plugins: this.#engine.snapshot(),
      runtimes: this.#pool?.list() ?? [],
    };
  }

  /** Graceful: in-flight callbacks finish, state is committed; idempotent; every step runs. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.logger.info('sgeventd stopping: finishing in-flight callbacks');
      const steps: Array<() => Promise<unknown>> = [
        () => this.#pcWatch.stop(),
        () => this.#engine.stop(),
        () => this.#pool?.close() ?? Promise.resolve(),
        () => this.#store.close(),
        () => this.#client.close(),
        () => this.#dispatcher?.close() ?? Promise.resolve(),
        () => this.#mailer.close(),
      ];
      for (const step of steps) {
        try {
          await step();
        } catch (err) {
          this.logger.error({ err }, 'a shutdown step failed');
        }
      }
      this.logger.info('sgeventd stopped');
      await this.#loggers.close();
    })();
    return this.#stopping;
  }

  #alert(f: LaneFailure): void {
    this.#mailer.send({
      level: 'error',
      plugin: f.plugin,
      title: f.action === 'deactivated' ? `deactivated at event ${f.eventId}` : `callback ${f.callback ?? ''} failed on event ${f.eventId}`,
      body: `Plugin ${f.plugin}, callback ${f.callback ?? '(load)'}, event ${f.eventId}: ${f.error.message}\n\n${f.error.stack ?? ''}\n\n${
        f.action === 'deactivated'
          ? 'The plugin is deactivated with its cursor on this event. Fix it and save the file (or run `sgeventd plugin enable`) to replay from here.'
          : 'The event was skipped for this callback and kept as a dead letter (`sgeventd dlq ls`).'
      }`,
    });
  }
}

function proxyUrl(proxy: string): string {
  return /^[a-z]+:\/\//i.test(proxy) ? proxy : `http://${proxy}`;
}

function timingLine(r: TimingRecord): Record<string, unknown> {
  return {
    event: r.eventId, plugin: r.plugin, callback: r.callback, start: r.startedAt.toISOString(),
    duration_ms: Math.round(r.durationMs * 1000) / 1000, delay_ms: r.delayMs, error: r.error,
  };
}
