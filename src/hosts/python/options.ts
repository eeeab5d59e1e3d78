// Options of the Python plugin host, and what its load returns.
import type { Logger } from 'pino';
import type { ConcurrencyOption } from '../../config/index.ts';
import type { SerializedError } from '../../plugins/errors.ts';
import type { EmailRecipients } from '../../plugins/types.ts';
import type { RuntimePluginSpec } from '../../toolkit/index.ts';
import type { CallbackInfo } from '../contract.ts';
import type { PythonProcessBudget } from './process-budget.ts';
import type { EarlyProcessSource } from './early.ts';

/**
 * Sends events of one project to that project's runtime (`plugin_process_batch`):
 * one call bounded by `plugin.callbackTimeoutMs` from when it is written,
 * re-armed by each finished event, which comes back through `onStep`.
 * `signal` abandons the call (the host's cancel() and close(); there is no
 * other timer), and the pool then replaces that runtime.
 */
export type RunInProject = (
  project: { type: 'Project'; id: number }, plugin: RuntimePluginSpec, events: unknown[], signal: AbortSignal | undefined, onStep: (step: unknown) => void,
) => Promise<unknown>;

export interface PythonPluginOptions {
  file: string;
  name: string;
  siteUrl: string;
  /** `site.proxy`, as the config has it (a URL or host:port); the plugin's `sg` gets it as shotgun_api3's `http_proxy`. */
  proxy?: string | undefined;
  /** `site.timeoutMs`: the plugin's `sg` waits at most this long for the site (`config.timeout_secs`). */
  siteTimeoutMs?: number | undefined;
  /** `site.idleCloseMs`: an `sg` connection idle longer is closed before the next callback. */
  idleCloseMs?: number | undefined;
  useSessionUuid: boolean;
  python: string;
  callbackTimeoutMs: number;
  /** The process's RSS limit (MB), sampled on Linux; over it the process is killed and the event fails with PLUGIN_MEMORY_LIMIT. None: no limit. */
  maxMemoryMb?: number | undefined;
  /** Lost processes (crash, timeout, memory) restarted within `windowMs`; one more deactivates (PLUGIN_RESTART_BUDGET). */
  restartBudget: { count: number; windowMs: number };
  logger: Logger;
  /** The environment the plugin process inherits (shotgunEvents plugins read their keys from it). */
  env?: NodeJS.ProcessEnv;
  /**
   * Runs the plugin in the event's project runtime; used when the module
   * declares `SGEVENTD_TOOLKIT = True`. Events without a project stay in the
   * plugin's own process, without Toolkit.
   */
  runInProject?: RunInProject | undefined;
  /**
   * The configured concurrency (config wins over the module's
   * `SGEVENTD_CONCURRENCY`); absent: the module's, else `by: none`. With
   * `by: project | entity` the plugin is loaded once and its events run in up
   * to `max` workers forked from that process (not for Toolkit plugins).
   */
  concurrency?: ConcurrencyOption | undefined;
  /** The daemon-wide bound on forked workers (`python.maxProcesses`); default: a bound of `max` for this host alone. */
  processBudget?: PythonProcessBudget | undefined;
  /** A worker beyond a plugin's first ends after this long without an event (`python.workerIdleMs`); none: they stay. */
  workerIdleMs?: number | undefined;
  /** Processes started before the host (early.ts); the first load adopts this file's when it is the same process. */
  early?: EarlyProcessSource | undefined;
}

export type PythonLoadResult =
  | { ok: true; callbacks: CallbackInfo[]; emails: EmailRecipients; usesToolkit: boolean; shotgunApi3Error: string | null; concurrency?: ConcurrencyOption }
  | { ok: false; error: SerializedError };
