import type { Logger } from 'pino';
import type { DaemonConfig } from '../config/index.ts';
import { Engine, PipelineConfigurationWatch, type PluginSnapshot, type TimingRecord } from '../dispatch/index.ts';
import type { PluginHostFactory } from '../hosts/index.ts';
import type { EarlyPythonProcesses } from '../hosts/python/early.ts';
import { StartSideWork } from './side-work.ts';
import { mailingLogger } from '../logging/index.ts';
import { DaemonMetrics, StatusHistory, type HistoryDocument } from '../metrics/index.ts';
import { checkPythonPathFolder } from '../plugins/index.ts';
import type { SecretMask } from '../shared/index.ts';
import { LogAgeWatch, WebhookWatch, type EventLog, type LogAgeWarning, type ResilientEventSource, type WebhookSilence } from '../source/index.ts';
import { lockStateFile, openSqliteState, type DeadLetter, type StateLock, type StateStore } from '../state/index.ts';
import type { RuntimeStatus } from '../toolkit/index.ts';
import { laneAlert, loadAlert, logAgeAlert, pluginRecordAlert, stateWriteAlert, timingLine, WEBHOOK_SILENT_MAIL_INTERVAL_MS, webhookSilentAlert } from './alerts.ts';
import { Assembly, runStopSteps } from './assembly.ts';
import { daemonIdleTrim, type IdleHeapTrim } from './idle-trim.ts';

export interface DaemonOptions {
  config: DaemonConfig;
  /** Console logging (foreground); files are written unless `logFiles` is false. */
  console: boolean;
  logFiles?: boolean;
  /** Plugins with no state start after this id instead of the newest event. */
  fromId?: number;
  /** For tests: plugin folder watching. */
  watch?: { pollIntervalMs?: number; debounceMs?: number; fsWatch?: boolean };
  /** The state file's lock, already being taken (foreground starts it before loading the daemon); default: taken by `open`. */
  lock?: Promise<StateLock>;
  /**
   * Python plugins' processes started as soon as the config was known
   * (foreground); their hosts adopt them, and those not adopted by the end of
   * the start (or of a failed start) are ended.
   */
  early?: EarlyPythonProcesses;
  /** Also told of every finished callback (the demo's change → callback latency). */
  onTiming?: (record: TimingRecord) => void;
}

export interface DaemonStatus {
  site: string;
  pid: number;
  startedAt: string;
  newestEventId: number;
  lastPollAt: string | null;
  lastSuccessfulReadAt: string | null;
  siteErrors: number;
  plugins: Array<PluginSnapshot & { logAgeWarning: LogAgeWarning | null }>;
  runtimes: RuntimeStatus[];
  /** The webhook receiver's view; null when webhooks are off. */
  webhooks: WebhookStatus | null;
  /** Names of the projects the runtimes serve, as last read from the site. */
  projectNames: ReadonlyMap<number, string>;
}

export interface WebhookStatus {
  deliveries: Record<string, number>;
  lastDeliveryAt: string | null;
  lastDeliveredId: number;
  silent: WebhookSilence | null;
  silences: number;
}

/**
 * The running daemon (foreground, start, demo): the assembled parts plus the
 * state store, the engine (cursors, plugin hosts, state batcher) and the
 * PipelineConfiguration watch. Holds no process-wide handlers itself; the CLI
 * owns signals and calls `stop()`.
 */
export class Daemon {
  readonly config: DaemonConfig;
  readonly logger: Logger;
  readonly #parts: Assembly;
  readonly #store: StateStore;
  readonly #lock: StateLock;
  readonly #source: ResilientEventSource;
  readonly #log: EventLog;
  readonly #engine: Engine;
  readonly #startedAt = new Date();
  readonly #pcWatch: PipelineConfigurationWatch;
  /** Prometheus metrics: fed by callbacks and runtimes, the rest read from `status()` at scrape time. */
  readonly metrics: DaemonMetrics;
  #stopping: Promise<void> | null = null;
  /** Webhooks on: notices a webhook that stopped delivering. */
  readonly #webhookWatch: WebhookWatch | null;
  readonly #webhookResults: Record<string, number> = {};
  /** The page's charts: samples of rates and lags over the last hour. */
  readonly #history: StatusHistory;
  /** Plugins whose unread events near the age at which a hosted site culls its log. */
  readonly #logAge: LogAgeWatch;
  #logAgeTimer: NodeJS.Timeout | null = null;
  #checkingAge = false;
  readonly #logAgeAbort = new AbortController();
  /** The log files' opening (with the start's side work, see side-work.ts); awaited by `start()`. */
  #logFiles: Promise<void> | null = null;
  /** Opens the log files and lets the servers load, once the first events are out (side-work.ts). */
  readonly #sideWork = new StartSideWork(() => {
    this.#openLogFiles().catch(() => undefined); // reported by start()
  });
  /** Shrinks the main thread's heap once it falls idle; null when `daemon.idleTrimMs` is 0. */
  readonly #idleTrim: IdleHeapTrim | null;
  readonly #early: EarlyPythonProcesses | undefined;
  #earlyEnded: Promise<void> | null = null;

  private constructor(opts: DaemonOptions, parts: Assembly, store: StateStore, lock: StateLock) {
    const { config } = opts;
    this.config = config;
    this.#parts = parts;
    this.logger = parts.logger;
    this.#store = store;
    this.#lock = lock;
    this.#early = opts.early;
    this.metrics = new DaemonMetrics({ status: () => this.status() });
    parts.observeRuntimes(this.metrics);
    this.#webhookWatch = config.webhooks === undefined ? null : new WebhookWatch({
      expect: config.webhooks.expect,
      silentAfterMs: config.webhooks.silentAfterMs,
      logger: this.logger,
      mailIntervalMs: WEBHOOK_SILENT_MAIL_INTERVAL_MS,
      onSilent: (silence, mail) => this.#onWebhookSilent(silence, mail),
    });
    const watch = this.#webhookWatch;
    ({ source: this.#source, log: this.#log } = parts.eventLog(watch ? (events) => watch.polled(events) : undefined));
    const timing = parts.loggers.timing;
    const mailer = parts.mailer;
    this.#engine = new Engine({
      config,
      store,
      eventLog: this.#log,
      directory: parts.directory,
      logger: this.logger,
      // A plugin's ERROR and CRITICAL records are mailed to its recipients (shotgunEvents' per-plugin SMTP handler).
      pluginLogger: async (name) => {
        const log = await parts.loggers.plugin(name);
        return mailer === null ? log : mailingLogger(log, (r) => mailer.send(pluginRecordAlert(name, r, this.#engine.recipients(name))));
      },
      ...(opts.fromId !== undefined ? { fromId: opts.fromId } : {}),
      ...(opts.watch ? { watch: opts.watch } : {}),
      onTiming: (r: TimingRecord) => {
        this.#sideWork.served(r.plugin);
        this.metrics.observeCallback(r);
        timing?.info(timingLine(r));
        opts.onTiming?.(r);
      },
      onFailure: (f) => parts.mailer?.send(laneAlert(f)),
      onLoadFailure: (f) => parts.mailer?.send(loadAlert(f)),
      onStateWriteFailure: (err) => parts.mailer?.send(stateWriteAlert(config, err)),
      onLaneWait: (plugin, ms) => this.metrics.observeLaneWait(plugin, ms),
      hosts: this.#hosts(parts.hosts),
    });
    this.#history = new StatusHistory({
      sampleMs: config.http.historySampleMs,
      windowMs: config.http.historyWindowMs,
      read: () => ({ newestEventId: this.#log.frontier, plugins: this.#engine.snapshot() }),
    });
    this.#idleTrim = daemonIdleTrim(config.daemon.idleTrimMs, this.logger, () => ({ newestEventId: this.#log.frontier, plugins: this.#engine.snapshot() }));
    this.#logAge = new LogAgeWatch(this.#source, { warnAfterMs: config.daemon.logAgeWarnDays * 86_400_000, logger: this.logger });
    this.#pcWatch = new PipelineConfigurationWatch(this.#log, this.logger, (projectId) => {
      parts.toolkit.recycleProject(projectId);
    });
  }

  /** The plugin hosts, as the engine gets them: the side work waits for each one's first callback (side-work.ts). */
  #hosts(factory: PluginHostFactory): PluginHostFactory {
    return {
      create: (entry, folder, logger) => {
        const host = factory.create(entry, folder, logger);
        this.#sideWork.arm(entry.name);
        return host;
      },
    };
  }

  #openLogFiles(): Promise<void> {
    this.#logFiles ??= this.#parts.loggers.openFiles();
    return this.#logFiles;
  }

  static async open(opts: DaemonOptions): Promise<Daemon> {
    // One daemon per state file (STATE_LOCKED names the holder). The state
    // store opens, and the engine (the only thing that delivers) is built,
    // only once the lock is held. Settled into a value so a refusal is never
    // left unhandled.
    const locking = (opts.lock ?? lockStateFile(opts.config.daemon.state))
      .then((held) => ({ held }), (err: unknown) => ({ err }));
    let parts: Assembly | undefined;
    let lock: StateLock | undefined;
    let store: StateStore;
    try {
      // Studio code on toolkit.pythonPath runs in every runtime: nobody else may change it.
      for (const dir of opts.config.toolkit.pythonPath) await checkPythonPathFolder(dir);
      parts = await Assembly.open(opts.config, { command: 'run', console: opts.console, logFiles: opts.logFiles ?? true, deferLogFiles: true }, opts.early);
      const locked = await locking;
      if ('err' in locked) throw locked.err;
      lock = locked.held;
      if (lock.networkFilesystem !== null) {
        parts.logger.warn({ state: opts.config.daemon.state, filesystem: lock.networkFilesystem },
          'the state file is on a network filesystem: its locks and fsyncs may not hold across hosts; keep it on a local disk');
      }
      const mask = parts.mask;
      store = await openSqliteState(opts.config.daemon.state, { synchronous: opts.config.daemon.stateSync, maskText: (text) => mask.mask(text) });
    } catch (err) {
      await opts.early?.close();
      await parts?.close();
      await parts?.closeLogs();
      const locked = lock === undefined ? await locking : { held: lock };
      if ('held' in locked) await locked.held.release();
      throw err;
    }
    return new Daemon(opts, parts, store, lock);
  }

  /** Ends the early Python processes no host adopted (once the start is over, and at stop); idempotent. */
  #endEarly(): Promise<void> {
    this.#earlyEnded ??= (this.#early?.close() ?? Promise.resolve()).catch((err: unknown) => {
      this.logger.warn({ err }, 'ending an unused Python plugin process failed');
    });
    return this.#earlyEnded;
  }

  /** The configured secrets by value, masked in every text that leaves the daemon. */
  get mask(): SecretMask {
    return this.#parts.mask;
  }

  /** `sgeventd toolkit recycle [PROJECT]`: drains and replaces the runtimes of a project (id or tank_name), or all. */
  recycleRuntimes(project?: string): Promise<number> {
    return this.#parts.toolkit.recycle(project);
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

  /** A correctly signed webhook delivery: the log has reached at least these ids (a hint; the log stays the truth). */
  webhookDelivery(eventIds: readonly number[]): void {
    if (eventIds.length === 0) return;
    const newest = Math.max(...eventIds);
    this.#webhookWatch?.delivered(newest);
    this.#log.nudge(newest);
  }

  /** One request to the webhook receiver, by result (counted for the status page and /metrics). */
  webhookResult(result: string): void {
    this.#webhookResults[result] = (this.#webhookResults[result] ?? 0) + 1;
    this.metrics.webhookDelivery(result);
  }

  #onWebhookSilent(silence: WebhookSilence, mail: boolean): void {
    this.metrics.webhookSilent();
    if (mail) this.#parts.mailer?.send(webhookSilentAlert(this.config, silence));
  }

  /**
   * Resolves once the start's side work has begun (side-work.ts): the
   * servers' modules wait for it, so the main thread hands out the first
   * events first.
   */
  get sideWorkBegun(): Promise<void> {
    return this.#sideWork.begun;
  }

  async start(): Promise<void> {
    this.logger.info({ site: this.config.site.url, state: this.config.daemon.state, pid: process.pid }, 'sgeventd starting');
    try {
      await this.#engine.start();
    } catch (err) {
      this.#sideWork.begin();
      throw err;
    } finally {
      // Every plugin found at the start has loaded: an early process left now is not needed.
      void this.#endEarly();
    }
    // No plugin started: nothing to hand out first.
    if (!this.#sideWork.armed) this.#sideWork.begin();
    await this.#sideWork.begun;
    // A file that cannot be opened fails the start.
    await this.#openLogFiles();
    this.#pcWatch.start();
    this.#history.start();
    // In the background: a site that is down must not hold up the start (its reads retry).
    void this.#checkLogAge();
    this.#logAgeTimer = setInterval(() => void this.#checkLogAge(), this.config.daemon.logAgeCheckMs);
    this.#logAgeTimer.unref();
    this.#idleTrim?.start();
    this.logger.info({ plugins: this.#engine.snapshot().map((p) => `${p.name}: ${p.status}`) }, 'sgeventd running');
  }

  /** The samples behind the status page's charts and `/api/history`. */
  history(): HistoryDocument {
    return this.#history.document();
  }

  /** Warns (log, mail, status) about plugins whose oldest unread event nears the site's log retention. */
  async #checkLogAge(): Promise<void> {
    if (this.#checkingAge) return; // the last check is still reading
    this.#checkingAge = true;
    try {
      const fresh = await this.#logAge.check(this.#engine.snapshot().map((p) => ({
        plugin: p.name, lastEventId: p.lastEventId, oldestUnfinished: p.oldestUnfinished, lag: p.lag,
      })), this.#logAgeAbort.signal);
      for (const w of fresh) this.#parts.mailer?.send(logAgeAlert(w));
    } catch (err) {
      if (!this.#logAgeAbort.signal.aborted) this.logger.warn({ err }, 'checking the age of unread events failed; trying again at the next check');
    } finally {
      this.#checkingAge = false;
    }
  }

  status(): DaemonStatus {
    const iso = (ms: number): string | null => (ms > 0 ? new Date(ms).toISOString() : null);
    const runtimes = this.#parts.toolkit.list();
    return {
      site: this.config.site.url,
      pid: process.pid,
      startedAt: this.#startedAt.toISOString(),
      newestEventId: this.#log.frontier,
      lastPollAt: iso(this.#log.lastPollAt),
      lastSuccessfulReadAt: iso(this.#source.lastSuccessAt),
      // Every failed request to the site, retries included (the source's own count misses the client's retries).
      siteErrors: this.#parts.site.errorCount,
      plugins: this.#engine.snapshot().map((p) => ({ ...p, logAgeWarning: this.#logAge.warnings.get(p.name) ?? null })),
      runtimes,
      projectNames: this.#parts.directory.projectNames(runtimes.flatMap((r) => r.projects)),
      webhooks: this.#webhookWatch === null ? null : {
        deliveries: { ...this.#webhookResults },
        lastDeliveryAt: iso(this.#webhookWatch.lastDeliveryAt),
        lastDeliveredId: this.#webhookWatch.lastDeliveredId,
        silent: this.#webhookWatch.silence,
        silences: this.#webhookWatch.silences,
      },
    };
  }

  /** Graceful: in-flight callbacks finish, state is committed; idempotent; every step runs. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#sideWork.begin();
      this.logger.info('sgeventd stopping: finishing in-flight callbacks');
      this.#history.stop();
      this.#idleTrim?.stop();
      if (this.#logAgeTimer !== null) clearInterval(this.#logAgeTimer);
      this.#logAgeAbort.abort();
      const steps: Array<() => Promise<unknown>> = [
        () => this.#pcWatch.stop(),
        () => this.#engine.stop(),
        () => this.#endEarly(),
        () => this.#parts.toolkit.close(),
        () => this.#store.close(),
        () => this.#lock.release(),
        () => this.#parts.close(),
      ];
      await runStopSteps(this.logger, steps);
      this.logger.info('sgeventd stopped');
      await this.#parts.closeLogs();
    })();
    return this.#stopping;
  }
}
