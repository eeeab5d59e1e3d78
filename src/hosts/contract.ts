// The plugin-host contract: what the dispatcher needs of a loaded plugin,
// whatever runs it (a worker thread for JS/TS, a Python process or a project
// runtime for Python), and what loading and running events report.
// Implementations: js/host.ts (WorkerPluginHost), python/host.ts (PythonPluginHost).
import type { EventLogEntry } from '../shared/index.ts';
import type { SerializedError } from '../plugins/errors.ts';
import type { ConcurrencyDeclaration, EmailRecipients, MatchEvents } from '../plugins/types.ts';

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
  | { ok: true; callbacks: CallbackInfo[]; emails: EmailRecipients; concurrency?: ConcurrencyDeclaration; usesToolkit?: boolean }
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
  /**
   * The event's concurrency key lane (`concurrency.by`), for a host that runs
   * several events at once: it keeps one key on one worker while the key has
   * events in flight. Absent for serial plugins.
   */
  key?: string;
}

/**
 * One loaded plugin as the dispatcher sees it. A host runs events and reports
 * what happened, event by event; it never decides what a failure means for
 * the plugin's cursor (retry, deactivate, dead letter: `outcome.ts`).
 *
 * - `load()` (re)starts the plugin's thread or process and imports it; plugin
 *   faults come back as `{ ok: false }`, never as exceptions;
 * - `matches(event)` runs on the main thread, from the callbacks' `matchEvents`;
 * - `processBatch(events)` runs events in order and returns one result per
 *   event handled: a prefix of `events` (it stops after an event that is not
 *   a clean `ok`, and after its time budget); the caller sends the rest again;
 * - `capacity`: events that may be in flight at once (1: one batch at a time);
 * - `cancel(eventId)`: cuts off the event if it is running (its result is
 *   `aborted`, nothing is decided for it); other events of the same thread or
 *   process may be cut off with it and come back `aborted` too;
 * - `close()` stops the thread or process; idempotent; a running event ends `aborted`.
 */
export interface PluginHost {
  readonly name: string;
  readonly kind: 'js' | 'python';
  readonly capacity: number;
  /** The callbacks of the last successful load, in registration order. */
  readonly callbacks: readonly CallbackInfo[];
  load(): Promise<LoadResult>;
  matches(event: EventLogEntry): boolean;
  process(event: EventLogEntry, options?: BatchOptions): Promise<ProcessResult>;
  processBatch(events: readonly EventLogEntry[], options?: BatchOptions): Promise<ProcessResult[]>;
  cancel(eventId: number): void;
  close(): Promise<void>;
}
