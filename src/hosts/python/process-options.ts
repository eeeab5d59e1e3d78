// The one description of a Python plugin's own process, shared by the host
// and by the early start (early.ts), so a process started early is exactly the
// one the host would start.
import path from 'node:path';
import { pluginEnvironment, pluginOptionsFor, type DaemonConfig, type PluginFolderConfig } from '../../config/index.ts';
import type { ChildLogger, ChildOptions } from '../../pyrpc/index.ts';
import { PLUGIN_RUNNER_SCRIPT } from '../../toolkit/scripts.ts';

/** What the plugin's process is made of. */
export interface PluginProcessSpec {
  file: string;
  name: string;
  python: string;
  env?: NodeJS.ProcessEnv | undefined;
  callbackTimeoutMs: number;
  maxMemoryMb?: number | undefined;
  logger: ChildLogger;
}

/** The pyrpc child of a Python plugin: the runner script in the plugin's folder, `init` in plugin mode. */
export function pluginProcessOptions(o: PluginProcessSpec): ChildOptions {
  return {
    label: `Python plugin ${o.name}`,
    details: { plugin: o.name },
    python: o.python,
    script: PLUGIN_RUNNER_SCRIPT,
    cwd: path.dirname(o.file),
    env: { ...stringEnv(o.env ?? process.env), PYTHONUNBUFFERED: '1', PYTHONIOENCODING: 'utf-8' },
    // The runner imports shotgun_api3 from the plugin's folder while it waits for plugin_load (plugin_runner.py).
    init: { mode: 'plugin', preloadFrom: path.dirname(o.file) },
    initTimeoutMs: o.callbackTimeoutMs,
    maxMessageBytes: 64 * 1024 * 1024,
    maxLogLineBytes: 16 * 1024,
    stopTimeoutMs: 2000,
    maxRssMb: o.maxMemoryMb,
    logger: o.logger,
  };
}

/** The process the daemon's host factory gives the plugin `name` of `folder` (hosts/create.ts builds the host from the same values). */
export function configuredProcess(config: DaemonConfig, folder: PluginFolderConfig, file: string, name: string, logger: ChildLogger): ChildOptions {
  const { callbackTimeoutMs, maxMemoryMb } = pluginOptionsFor(folder, name);
  return pluginProcessOptions({ file, name, python: config.toolkit.python, env: pluginEnvironment(config), callbackTimeoutMs, maxMemoryMb, logger });
}

/** Two children started from these would be the same process (everything but the logger). */
export function sameProcess(a: ChildOptions, b: ChildOptions): boolean {
  const { logger: _a, ...x } = a;
  const { logger: _b, ...y } = b;
  return stableJson(x) === stableJson(y);
}

function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) => (val !== null && typeof val === 'object' && !Array.isArray(val)
    ? Object.fromEntries(Object.entries(val as Record<string, unknown>).sort(([p], [q]) => (p < q ? -1 : p > q ? 1 : 0)))
    : val));
}

export function stringEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}
