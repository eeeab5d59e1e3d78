import { pino, type Logger } from 'pino';
import { daemonSecrets, type DaemonConfig, type PluginFolderConfig } from '../config/index.ts';
import { SiteProjectDirectory } from '../dispatch/index.ts';
import { HostFactory, type PluginHost } from '../hosts/index.ts';
import type { EarlyProcessSource } from '../hosts/python/early.ts';
import { AlertMailer, createLoggers, loggerSafety, type Loggers } from '../logging/index.ts';
import { SecretMask, type EventLogEntry } from '../shared/index.ts';
import type { JsPluginFile, PythonPluginFile } from '../plugins/index.ts';
import { Api3EventSource, EventLog, ResilientEventSource } from '../source/index.ts';
import { siteAlert } from './alerts.ts';
import { connectSite, type SiteConnection } from './site-connection.ts';
import { DaemonToolkit } from './toolkit.ts';

/** What differs per command; everything else is built the same way for all of them. */
export type DaemonMode =
  /**
   * foreground, start and demo: log files (and the console), alert mail, state, the loop.
   * `deferLogFiles`: the files open at `loggers.openFiles()`; lines wait in memory until then.
   */
  | { readonly command: 'run'; readonly console: boolean; readonly logFiles: boolean; readonly deferLogFiles?: boolean }
  /** replay: a side run over (from, to]; logs on stderr, no state written, no mail, no status server. */
  | { readonly command: 'replay' }
  /** check: loads plugins and resolves Toolkit without running; silent, short site timeouts. */
  | { readonly command: 'check' };

/** Told when a project runtime starts or crashes (metrics). */
export interface RuntimeObserver {
  runtimeStarted(label: string): void;
  runtimeCrashed(label: string): void;
}

/**
 * The parts every command builds from a compiled config, built in one
 * place: loggers, the site connection (through the proxy), the one runtime
 * pool and plugins' access to it, plugin hosts, the shared event log and
 * alert mail. `Daemon`, `replay` and `check` are made of these.
 */
export class Assembly {
  readonly config: DaemonConfig;
  readonly mode: DaemonMode;
  readonly loggers: Loggers;
  readonly logger: Logger;
  readonly site: SiteConnection;
  readonly toolkit: DaemonToolkit;
  /** Every plugin host of every command is built here, with Toolkit. */
  readonly hosts: HostFactory;
  /** Alert mail; run mode only. */
  readonly mailer: AlertMailer | null;
  readonly directory: SiteProjectDirectory;
  /** The daemon's configured secrets by value: masked in every text that leaves it (logs, pages, mail, state). */
  readonly mask: SecretMask;
  #observer: RuntimeObserver | null = null;
  #closing: Promise<void> | null = null;

  private constructor(config: DaemonConfig, mode: DaemonMode, loggers: Loggers, mask: SecretMask, early?: EarlyProcessSource) {
    this.config = config;
    this.mask = mask;
    this.mode = mode;
    this.loggers = loggers;
    this.logger = loggers.engine;
    this.site = connectSite(config, { logger: this.logger, interactive: mode.command === 'check' });
    this.mailer = mode.command === 'run' ? new AlertMailer(config.emails, this.logger, mask) : null;
    this.toolkit = new DaemonToolkit({
      config,
      client: this.site.client,
      logger: this.logger,
      onRuntimeStarted: (label) => this.#observer?.runtimeStarted(label),
      onRuntimeCrashed: (label) => this.#observer?.runtimeCrashed(label),
    });
    this.directory = new SiteProjectDirectory(this.site.client, this.logger);
    this.hosts = new HostFactory(config, this.toolkit.access, early);
  }

  /** `early`: Python plugins' processes already starting (foreground); their hosts adopt them. */
  static async open(config: DaemonConfig, mode: DaemonMode, early?: EarlyProcessSource): Promise<Assembly> {
    const mask = new SecretMask(daemonSecrets(config));
    return new Assembly(config, mode, await loggersFor(config, mode, mask), mask, early);
  }

  observeRuntimes(observer: RuntimeObserver): void {
    this.#observer = observer;
  }

  /**
   * The site's event log, read through retries that never skip (alert mail
   * after `maxConnRetries`). With webhooks on, deliveries wake the poller and
   * polling runs at `webhooks.fallbackPollMs`; `onPolled` sees what each poll found.
   */
  /** How often the log is polled: `webhooks.fallbackPollMs` when deliveries wake the poller, else `daemon.fetchIntervalMs`. */
  get pollIntervalMs(): number {
    return this.config.webhooks?.fallbackPollMs ?? this.config.daemon.fetchIntervalMs;
  }

  eventLog(onPolled?: (events: readonly EventLogEntry[]) => void): { source: ResilientEventSource; log: EventLog } {
    const { config, logger, mailer } = this;
    const source = new ResilientEventSource(new Api3EventSource(this.site.client, logger), {
      maxConnRetries: config.site.maxConnRetries,
      connRetrySleepMs: config.site.connRetrySleepMs,
      logger,
      ...(mailer ? { onAlert: (kind: 'site-down' | 'site-up', err?: unknown) => mailer.send(siteAlert(config, kind, err)) } : {}),
    });
    const log = new EventLog(source, {
      batchSize: config.daemon.maxEventBatchSize,
      fetchIntervalMs: this.pollIntervalMs,
      maxCachedEvents: config.daemon.maxCachedEvents,
      logger,
      ...(onPolled ? { onPolled } : {}),
    });
    return { source, log };
  }

  /** The host of one plugin file (a thread for JS/TS, a process for Python), with Toolkit as every command gets it. */
  host(entry: JsPluginFile | PythonPluginFile, folder: PluginFolderConfig, logger: Logger): PluginHost {
    return this.hosts.create(entry, folder, logger);
  }

  /** Closes the pool, the site connection, mail and logs; idempotent; every step runs. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const steps: Array<() => Promise<unknown>> = [
        () => this.toolkit.close(),
        () => this.site.close(),
        () => this.mailer?.close() ?? Promise.resolve(),
      ];
      await runStopSteps(this.logger, steps);
    })();
    return this.#closing;
  }

  /** Flushes and ends the log files: the last step of a stop. */
  closeLogs(): Promise<void> {
    return this.loggers.close();
  }
}

/** Runs shutdown steps in order; a failing step is logged and the next ones still run. */
export async function runStopSteps(logger: Logger, steps: ReadonlyArray<() => Promise<unknown>>): Promise<void> {
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      logger.error({ err }, 'a shutdown step failed');
    }
  }
}

async function loggersFor(config: DaemonConfig, mode: DaemonMode, mask: SecretMask): Promise<Loggers> {
  if (mode.command === 'run') return createLoggers(config.logging, { console: mode.console, files: mode.logFiles, mask, deferFiles: mode.deferLogFiles ?? false });
  const engine = mode.command === 'replay'
    ? pino({ level: config.logging.level, ...loggerSafety(mask) }, pino.destination(2))
    : pino({ enabled: false });
  return { engine, plugin: (name) => Promise.resolve(engine.child({ plugin: name })), timing: null, openFiles: () => Promise.resolve(), close: () => Promise.resolve() };
}
