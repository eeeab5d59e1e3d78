// Options and lifecycle of the worker-thread host.
import type { ResourceLimits, SHARE_ENV } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { ConcurrencyOption } from '../../config/index.ts';

/** Lifecycle of a host. */
export type WorkerHostState = 'loading' | 'ready' | 'busy' | 'failed' | 'closed';

export const TRANSITIONS: Record<WorkerHostState, readonly WorkerHostState[]> = {
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
 * `onStarted`: the handler calls it once the work starts (a Toolkit call
 * handed to a runtime); until then the asking callback's timeout is paused.
 */
export type RequestHandler = (method: string, params: unknown, context: { signal: AbortSignal; onStarted?: () => void }) => unknown;

export interface WorkerHostOptions {
  /** The plugin file. */
  file: string;
  /** The plugin folder (a binding on log records). */
  folder: string;
  /** Plugin name: the file name without extension. */
  name: string;
  siteUrl: string;
  /** `site.proxy`: the plugin's `sg` reaches the site through it. */
  proxy?: string | undefined;
  /** `site.timeoutMs`: bounds each request of the plugin's `sg`. */
  siteTimeoutMs?: number | undefined;
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
   * At most `count` lost threads (timeouts, deaths, memory kills) within
   * `windowMs` are restarted; one more and the host stays failed until the
   * next load() (config: `daemon.restartBudget`).
   */
  restartBudget: { count: number; windowMs: number };
  /**
   * Memory limit (MB) of the thread's heap and of its external memory
   * (Buffers, ArrayBuffers), each read every `memorySampleMs`; over it, and
   * still over after the thread collected its garbage (or over for 1 s of
   * a thread too busy to collect), the thread is ended with
   * PLUGIN_MEMORY_LIMIT (memory-watch.ts). V8's own heap limit for the
   * thread is a multiple of it. Unset: no limit of sgeventd's own.
   */
  maxMemoryMb?: number;
  /** How often the thread's memory is read; default 100 ms. */
  memorySampleMs?: number;
  /**
   * A batch of events sent to the thread ends after the event during which
   * this much time passed (default 50 ms), so cursors, timing lines and stop
   * requests never wait on a long batch.
   */
  batchBudgetMs?: number;
  /** The configured concurrency (config wins over the file's `setConcurrency`); absent: the file's, else `by: none`. */
  concurrency?: ConcurrencyOption;
}
