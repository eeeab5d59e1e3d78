// What a callback's failure means, decided in one place for every host:
// - inside a host, which result an event gets (shotgunEvents' stopOnError
//   rule for the callbacks that ran, and for a failure outside plugin code);
// - in the plugin cursor, what happens next (retry, deactivate, dead letter).
import type { EventLogEntry } from '../shared/index.ts';
import { canProcess } from '../plugins/match.ts';
import type { SerializedError } from '../plugins/errors.ts';
import type { CallbackFailure, CallbackInfo, CallbackResult, ProcessResult } from './contract.ts';

/**
 * The result of an event from the callbacks that ran to their end: the first
 * failed callback with `stopOnError` ends the event with `deactivate`
 * (shotgunEvents' `Plugin._process`: the callbacks after it do not run);
 * failures of the others are listed and the event is `ok`.
 */
export function decide(callbacks: readonly CallbackInfo[], results: CallbackResult[], ran: readonly CallbackResult[], failures: CallbackFailure[]): ProcessResult {
  for (const r of ran) {
    if (r.error === undefined) continue;
    if (callbacks[r.index]?.stopOnError ?? true) {
      return { outcome: 'deactivate', callback: r.callback, error: r.error, results, failures };
    }
    failures.push({ callback: r.callback, error: r.error });
  }
  return { outcome: 'ok', results, failures };
}

/**
 * A failure outside the plugin's own code (its thread or process died, timed
 * out, went over its memory limit): it counts as `callback` failing, or, when
 * the host does not know which callback ran, the first one that takes the
 * event; under that callback's `stopOnError`.
 */
export function hostFailure(
  callbacks: readonly CallbackInfo[], event: EventLogEntry, error: SerializedError, callback?: CallbackInfo,
  ran: { results: CallbackResult[]; failures: CallbackFailure[] } = { results: [], failures: [] },
): ProcessResult {
  const cb = callback ?? callbacks.find((c) => canProcess(c.matchEvents, event));
  if (cb === undefined || cb.stopOnError) {
    return { outcome: 'deactivate', callback: cb?.name ?? null, error, results: ran.results, failures: ran.failures };
  }
  return { outcome: 'ok', results: ran.results, failures: [...ran.failures, { callback: cb.name, error }] };
}

/** Per-plugin rules for a failed event: opt-in retries with backoff, dead letters. */
export interface FailurePolicy {
  retries: number;
  retryBackoffMs: number;
  deadLetter: boolean;
}

/** What the plugin cursor does after an event's attempt failed. */
export type AfterFailure =
  | { action: 'retry'; delayMs: number }
  | { action: 'deactivate'; callback: string | null; error: SerializedError }
  | { action: 'skip'; failures: CallbackFailure[]; deadLetter: boolean };

/**
 * The one rule for a failed attempt (`attempt` counts from 1): retry while
 * retries are left (pauses double from `retryBackoffMs`); then a stopOnError
 * failure deactivates the plugin with its cursor on the event, and any other
 * failure skips the event for the failed callbacks, dead-lettered when the
 * plugin keeps dead letters (never for replays or a retry of a dead letter).
 * Null when the attempt did not fail.
 */
export function afterFailure(
  result: Exclude<ProcessResult, { outcome: 'aborted' }>, attempt: number, policy: FailurePolicy, opts: { canRetry: boolean; keepDeadLetter: boolean },
): AfterFailure | null {
  const failed = result.outcome === 'deactivate' || result.failures.length > 0;
  if (!failed) return null;
  if (attempt <= policy.retries && opts.canRetry) return { action: 'retry', delayMs: policy.retryBackoffMs * 2 ** (attempt - 1) };
  if (result.outcome === 'deactivate') return { action: 'deactivate', callback: result.callback, error: result.error };
  return { action: 'skip', failures: result.failures, deadLetter: policy.deadLetter && opts.keepDeadLetter };
}
