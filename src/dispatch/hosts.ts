import type { Logger } from 'pino';
import type { DaemonConfig } from '../config/index.ts';
import { PluginHost, type CallbackInfo, type JsPluginFile, type PythonPluginFile, type RequestHandler, type SerializedError } from '../plugins/index.ts';
import { PythonPluginHost, type PythonPluginOptions } from '../toolkit/index.ts';
import type { LaneHandler } from './lane-types.ts';

/** A loaded plugin, JS (worker thread) or Python (own process): what a lane and the engine need. */
export interface EngineHost extends LaneHandler {
  readonly name: string;
  load(): Promise<{ ok: true; callbacks: readonly CallbackInfo[] } | { ok: false; error: SerializedError }>;
  close(): Promise<void>;
}

/** Builds the host for a plugin file: a worker thread for JS/TS, a process for Python. */
export function createHost(
  entry: JsPluginFile | PythonPluginFile,
  folder: string,
  config: DaemonConfig,
  options: { callbackTimeoutMs: number; logger: Logger; handleRequest?: RequestHandler | undefined; runInProject?: PythonPluginOptions['runInProject'] },
): EngineHost {
  if (entry.kind === 'python') {
    return new PythonPluginHost({
      file: entry.file,
      name: entry.name,
      siteUrl: config.site.url,
      proxy: config.site.proxy,
      useSessionUuid: config.site.useSessionUuid,
      python: config.toolkit.python,
      callbackTimeoutMs: options.callbackTimeoutMs,
      maxRssMb: config.toolkit.maxRssMb,
      logger: options.logger,
      runInProject: options.runInProject,
    });
  }
  return new PluginHost({
    file: entry.file,
    folder,
    name: entry.name,
    siteUrl: config.site.url,
    useSessionUuid: config.site.useSessionUuid,
    callbackTimeoutMs: options.callbackTimeoutMs,
    // Loading (thread start, import, registerCallbacks) is not bounded by a
    // small callback timeout: starting several threads on a busy host takes seconds.
    loadTimeoutMs: Math.max(options.callbackTimeoutMs, 60_000),
    logger: options.logger,
    ...(options.handleRequest ? { handleRequest: options.handleRequest } : {}),
  });
}
