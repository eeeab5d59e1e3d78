// The types of the plugin host's API: what loading and processing report,
// the host's lifecycle, and its options.
import type { ResourceLimits, SHARE_ENV } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { SerializedError } from './errors.ts';
import type { EmailRecipients, MatchEvents } from './types.ts';

/** A registered callback as the main thread sees it (no script key, no function). */
export interface CallbackInfo {
  index: number;
  name: string;
  scriptName: string;
  matchEvents: MatchEvents;
  stopOnError: boolean;
  /** The callback's args, when they survive structured clone. */
  args?: unknown;
}

/** The outcome of `load()`: plugin faults are results, never exceptions. */
export type LoadResult =
  | { ok: true; callbacks: CallbackInfo[]; emails: EmailRecipients }
  | { ok: false; error: SerializedError };

/** One callback run, for counters and the timing log. */
export interface CallbackResult {
  callback: string;
  index: number;
  startedAt: Date;
  durationMs: number;
  error?: SerializedError;
}

/** A failed callback whose `stopOnError` was false: logged, and the next callbacks ran. */
export interface CallbackFailure {
  callback: string;
  error: SerializedError;
}

/**
 * The outcome of `process()`:
 * - `ok`: every matching callback ran; `failures` lists the stopOnError=false ones that failed;
 * - `deactivate`: a stopOnError callback failed (or the plugin could not be
 *   reloaded after its thread died, then `callback` is null); the plugin must
 *   be deactivated with its cursor on this event (shotgunEvents semantics);
 * - `aborted`: the host was closed while the event ran; nothing is decided.
 */
export type ProcessResult =
  | { outcome: 'ok'; results: CallbackResult[]; failures: CallbackFailure[] }
  | { outcome: 'deactivate'; callback: string | null; error: SerializedError; results: CallbackResult[]; failures: CallbackFailure[] }
  | { outcome: 'aborted'; error: SerializedError; results: CallbackResult[]; failures: CallbackFailure[] };

/** How events are run: the attempt number (retries) and whether it is a replay. */
export interface BatchOptions {
  attempt?: number;
  replay?: boolean;
}

/** Lifecycle of a host. */
export type PluginHostState = 'loading' | 'ready' | 'busy' | 'failed' | 'closed';

export const TRANSITIONS: Record<PluginHostState, readonly PluginHostState[]> = {
  loading: ['ready', 'failed', 'closed'],
  ready: ['busy', 'loading', 'closed'],
  busy: ['ready', 'failed', 'closed'],
  failed: ['loading', 'closed'],
  closed: [],
};

/**
 * Answers a worker's `request` (the toolkit handle); throw to send an error
 * back. `signal` aborts when the thread that asked is gone (callback timeout,
 * crash, reload), so work done on its behalf (a runtime call) is abandoned.
 */
export type RequestHandler = (method: string, params: unknown, context: { signal: AbortSignal }) => unknown;

export interface PluginHostOptions {
  /** The plugin file. */
  file: string;
  /** The plugin folder (a binding on log records). */
  folder: string;
  /** Plugin name: the file name without extension. */
  name: string;
  siteUrl: string;
  /** The `site` part of callback keys; default: the host[:port] of siteUrl. */
  site?: string;
  useSessionUuid: boolean;
  /** Bounds each callback; on expiry the thread is terminated. */
  callbackTimeoutMs: number;
  /** Bounds import + registerCallbacks; default callbackTimeoutMs. */
  loadTimeoutMs?: number;
  logger: Logger;
  env?: NodeJS.ProcessEnv | typeof SHARE_ENV;
  handleRequest?: RequestHandler;
  /** Heap limits for the thread (a plugin that allocates without bound dies alone). */
  resourceLimits?: ResourceLimits;
  /**
   * At most `count` lost threads (timeouts, deaths) within `windowMs` are
   * restarted; one more and the host stays failed until the next load().
   * Default 5 in 60 s.
   */
  restartBudget?: { count: number; windowMs: number };
  /**
   * A batch of events sent to the thread ends after the event during which
   * this much time passed (default 50 ms), so cursors, timing lines and stop
   * requests never wait on a long batch.
   */
  batchBudgetMs?: number;
}
