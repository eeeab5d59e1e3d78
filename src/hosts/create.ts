import type { Logger } from 'pino';
import { pluginEnvironment, pluginOptionsFor, type DaemonConfig, type PluginFolderConfig } from '../config/index.ts';
import type { JsPluginFile, PythonPluginFile } from '../plugins/folder.ts';
import type { PluginHost } from './contract.ts';
import { WorkerPluginHost } from './js/host.ts';
import type { RequestHandler } from './js/options.ts';
import { PythonPluginHost } from './python/host.ts';
import type { RunInProject } from './python/options.ts';
import type { EarlyProcessSource } from './python/early.ts';
import { PythonProcessBudget } from './python/process-budget.ts';

/**
 * How plugins reach Toolkit, without hosts or the engine knowing the pool:
 * the composition root answers it from its one runtime pool.
 */
export interface ToolkitAccess {
  /** Answers a JS/TS plugin's `ctx.toolkit` requests (sent over its thread's port). */
  readonly handleRequest: RequestHandler;
  /** Runs an `SGEVENTD_TOOLKIT = True` Python plugin on events of one project, in that project's runtime. */
  readonly runInProject: RunInProject;
}

/** Builds the host of one plugin file; the dispatcher gets one from the composition root. */
export interface PluginHostFactory {
  create(entry: JsPluginFile | PythonPluginFile, folder: PluginFolderConfig, logger: Logger): PluginHost;
}

/**
 * The one place a plugin file becomes a host: a worker thread for JS/TS, a
 * process for Python, with the plugin's options (callback timeout, memory
 * limit) and the daemon's restart budget and site settings.
 */
export class HostFactory implements PluginHostFactory {
  readonly #config: DaemonConfig;
  readonly #toolkit: ToolkitAccess | undefined;
  /** Forked workers of concurrent Python plugins, daemon-wide (`python.maxProcesses`). */
  readonly #pythonBudget: PythonProcessBudget;

  /** Python plugins' processes started before their hosts (early.ts). */
  readonly #early: EarlyProcessSource | undefined;

  constructor(config: DaemonConfig, toolkit?: ToolkitAccess, early?: EarlyProcessSource) {
    this.#config = config;
    this.#toolkit = toolkit;
    this.#early = early;
    this.#pythonBudget = new PythonProcessBudget(config.python.maxProcesses);
  }

  create(entry: JsPluginFile | PythonPluginFile, folder: PluginFolderConfig, logger: Logger): PluginHost {
    const config = this.#config;
    const { callbackTimeoutMs, maxMemoryMb, concurrency } = pluginOptionsFor(folder, entry.name);
    // Plugin code never sees the daemon's own secrets (script key, status token, SMTP password).
    const env = pluginEnvironment(config);
    if (entry.kind === 'python') {
      return new PythonPluginHost({
        file: entry.file,
        name: entry.name,
        siteUrl: config.site.url,
        proxy: config.site.proxy,
        siteTimeoutMs: config.site.timeoutMs,
        idleCloseMs: config.site.idleCloseMs,
        useSessionUuid: config.site.useSessionUuid,
        python: config.toolkit.python,
        env,
        callbackTimeoutMs,
        maxMemoryMb,
        restartBudget: config.daemon.restartBudget,
        logger,
        runInProject: this.#toolkit?.runInProject,
        concurrency,
        processBudget: this.#pythonBudget,
        workerIdleMs: config.python.workerIdleMs,
        early: this.#early,
      });
    }
    return new WorkerPluginHost({
      file: entry.file,
      folder: folder.path,
      name: entry.name,
      siteUrl: config.site.url,
      proxy: config.site.proxy,
      siteTimeoutMs: config.site.timeoutMs,
      useSessionUuid: config.site.useSessionUuid,
      callbackTimeoutMs,
      // Loading (thread start, import, registerCallbacks) is not bounded by a
      // small callback timeout: starting several threads on a busy host takes seconds.
      loadTimeoutMs: Math.max(callbackTimeoutMs, 60_000),
      maxMemoryMb,
      restartBudget: config.daemon.restartBudget,
      env,
      logger,
      ...(concurrency === undefined ? {} : { concurrency }),
      ...(this.#toolkit ? { handleRequest: this.#toolkit.handleRequest } : {}),
    });
  }
}
