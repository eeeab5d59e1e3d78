import type { Logger } from 'pino';
import type { DaemonConfig } from '../config/index.ts';
import type { JsPluginFile, PythonPluginFile } from '../plugins/folder.ts';
import type { PluginHost } from './contract.ts';
import { WorkerPluginHost } from './js/host.ts';
import type { RequestHandler } from './js/options.ts';
import { PythonPluginHost, type PythonPluginOptions } from './python/host.ts';

/** What hosts need of the daemon beyond the config: where plugin threads' requests and Toolkit plugins' events go. */
export interface HostServices {
  logger: Logger;
  callbackTimeoutMs: number;
  /** The plugin's memory limit (MB): JS heap and Buffers, or a Python process's RSS. */
  maxMemoryMb: number;
  /** Answers JS plugin threads' requests (`ctx.toolkit`). */
  handleRequest?: RequestHandler | undefined;
  /** Runs `SGEVENTD_TOOLKIT = True` Python plugins' events in their project's runtime. */
  runInProject?: PythonPluginOptions['runInProject'];
}

/** Builds the host for a plugin file: a worker thread for JS/TS, a process for Python. */
export function createHost(entry: JsPluginFile | PythonPluginFile, folder: string, config: DaemonConfig, services: HostServices): PluginHost {
  if (entry.kind === 'python') {
    return new PythonPluginHost({
      file: entry.file,
      name: entry.name,
      siteUrl: config.site.url,
      proxy: config.site.proxy,
      useSessionUuid: config.site.useSessionUuid,
      python: config.toolkit.python,
      callbackTimeoutMs: services.callbackTimeoutMs,
      maxMemoryMb: services.maxMemoryMb,
      restartBudget: config.daemon.restartBudget,
      logger: services.logger,
      runInProject: services.runInProject,
    });
  }
  return new WorkerPluginHost({
    file: entry.file,
    folder,
    name: entry.name,
    siteUrl: config.site.url,
    useSessionUuid: config.site.useSessionUuid,
    callbackTimeoutMs: services.callbackTimeoutMs,
    // Loading (thread start, import, registerCallbacks) is not bounded by a
    // small callback timeout: starting several threads on a busy host takes seconds.
    loadTimeoutMs: Math.max(services.callbackTimeoutMs, 60_000),
    maxMemoryMb: services.maxMemoryMb,
    restartBudget: config.daemon.restartBudget,
    logger: services.logger,
    ...(services.handleRequest ? { handleRequest: services.handleRequest } : {}),
  });
}
