// The steps both plugin cursors take (the serial PluginCursor and the
// ConcurrentCursor): matching and scope, noting gaps, running an event with
// its retries under the one failure rule, and recording callback timings.
import { sleepLong, type EventLogEntry } from '../shared/index.ts';
import type { SerializedError } from '../plugins/index.ts';
import { afterFailure, type CallbackResult, type ProcessResult } from '../hosts/index.ts';
import type { CursorHandler, CursorOptions, EventScope } from './cursor-types.ts';
import type { StateBatcher } from './state-batcher.ts';

export type EventOrigin = 'live' | 'backlog' | 'replay' | 'retry';

export type RunOutcome =
  | { kind: 'ok' }
  | { kind: 'aborted'; error: SerializedError }
  | { kind: 'deactivate' | 'skipped'; callback: string | null; error: SerializedError };

export interface CursorCounters {
  processed: number;
  skipped: number;
  failed: number;
  totalMs: number;
}

/** Where the steps record gaps, counters and dead letters: the state batcher, or a cluster owner's own recorder. */
export type StepRecorder = Pick<StateBatcher, 'backlogAdd' | 'backlogRemove' | 'counter' | 'deadLetter'>;

/** What the steps need of a cursor. */
export interface StepContext {
  readonly opts: CursorOptions;
  readonly handler: CursorHandler;
  readonly batcher: StepRecorder | null;
  readonly counters: CursorCounters;
}

/** Matching and scope; a promise only when the scope must look something up. */
export function inScope(ctx: StepContext, scope: EventScope, event: EventLogEntry): boolean | Promise<boolean> {
  const deliver = (err: unknown): boolean => {
    ctx.opts.logger.error({ err, eventId: event.id }, 'deciding whether the event is in scope failed; delivering it');
    return true;
  };
  try {
    if (!ctx.handler.matches(event)) return false;
    const decided = scope(event);
    return typeof decided === 'boolean' ? decided : decided.catch(deliver);
  } catch (err) {
    return deliver(err);
  }
}

/**
 * Ids between `lastSeenId` and `event` have not committed yet (or never
 * will): held in `backlog` (id → expiry) until they arrive or expire.
 */
export function noteGaps(ctx: StepContext, backlog: Map<number, number>, lastSeenId: number, event: EventLogEntry): void {
  const first = lastSeenId + 1;
  if (event.id <= first) return;
  const now = Date.now();
  const age = event.created_at ? now - event.created_at.getTime() : 0;
  if (age > ctx.opts.backlogTimeoutMs) {
    // The later event is already older than the timeout: the missing ids
    // would have shown up by now (shotgunEvents PR #37 semantics).
    ctx.opts.logger.info({ from: first, to: event.id - 1, ageMs: age }, 'ignoring old gap in event ids');
    return;
  }
  const expiresAt = now + ctx.opts.backlogTimeoutMs;
  for (let id = first; id < event.id; id++) {
    if (backlog.has(id)) continue;
    backlog.set(id, expiresAt);
    ctx.batcher?.backlogAdd(ctx.opts.id, id, expiresAt);
  }
  ctx.opts.logger.debug({ from: first, to: event.id - 1 }, 'gap in event ids: waiting for late events');
}

/** Drops the gap ids whose backlog timeout has passed. */
export function expireGaps(ctx: StepContext, backlog: Map<number, number>, now: number): void {
  for (const [id, expiresAt] of backlog) {
    if (expiresAt <= now) {
      backlog.delete(id);
      ctx.batcher?.backlogRemove(ctx.opts.id, id);
      ctx.opts.logger.info({ eventId: id }, 'giving up on missing event id after the backlog timeout');
    }
  }
}

/**
 * Runs one event through the plugin with its retries (`first` is attempt 1's
 * result when it already ran), and applies the failure rule: retry, skip
 * (logged, dead-lettered) or deactivate.
 */
export async function runEvent(
  ctx: StepContext,
  event: EventLogEntry,
  from: EventOrigin,
  signal: AbortSignal,
  first: ProcessResult | null = null,
  key?: string,
): Promise<RunOutcome> {
  const { opts } = ctx;
  const replay = from === 'replay' || opts.replay === true;
  for (let attempt = 1; ; attempt++) {
    const result = attempt === 1 && first !== null ? first : await ctx.handler.process(event, key === undefined ? { attempt, replay } : { attempt, replay, key });
    recordResults(ctx, event, result.results, replay);
    if (result.outcome === 'aborted') return { kind: 'aborted', error: result.error };
    const next = afterFailure(result, attempt, opts, { canRetry: !signal.aborted, keepDeadLetter: from !== 'retry' && !replay });
    if (next === null) return { kind: 'ok' };
    if (next.action === 'retry') {
      const failure = result.outcome === 'deactivate' ? result : result.failures[0];
      opts.logger.warn({ eventId: event.id, callback: failure?.callback, attempt, retryInMs: next.delayMs, err: failure?.error }, 'callback failed; retrying');
      try {
        await sleepLong(next.delayMs, { signal });
      } catch {
        return { kind: 'aborted', error: failure?.error ?? { name: 'AbortError', message: 'stopped', code: 'PLUGIN_HOST_STATE' } };
      }
      continue;
    }
    if (next.action === 'deactivate') return { kind: 'deactivate', callback: next.callback, error: next.error };
    // stopOnError=false: log, dead-letter, skip (shotgunEvents logs and moves on).
    for (const f of next.failures) {
      opts.logger.error({ eventId: event.id, callback: f.callback, err: f.error }, 'callback failed; event skipped for this callback');
      opts.onFailure?.({ plugin: opts.name, callback: f.callback, eventId: event.id, error: f.error, action: 'skipped' });
      if (next.deadLetter) {
        ctx.batcher?.deadLetter({ pluginId: opts.id, callback: f.callback, eventId: event.id, event, error: f.error.message, attempts: attempt });
      }
    }
    const skipped = next.failures[0] as { callback: string; error: SerializedError };
    return { kind: 'skipped', callback: skipped.callback, error: skipped.error };
  }
}

/** Timing lines and per-callback counters for the callbacks that ran. */
/** `replay` runs (a replay cursor, or `replayRange` on a live one) write no counters. */
export function recordResults(ctx: StepContext, event: EventLogEntry, results: readonly CallbackResult[], replay = ctx.opts.replay === true): void {
  const { opts } = ctx;
  for (const r of results) {
    ctx.counters.totalMs += r.durationMs;
    const delayMs = event.created_at ? r.startedAt.getTime() - event.created_at.getTime() : null;
    opts.onTiming?.({
      plugin: opts.name, callback: r.callback, eventId: event.id, startedAt: r.startedAt,
      durationMs: r.durationMs, delayMs, error: r.error ? r.error.message : null,
    });
    if (!replay) {
      ctx.batcher?.counter({
        pluginId: opts.id, callback: r.callback, processed: 1, failed: r.error ? 1 : 0, totalMs: r.durationMs,
        lastEventId: event.id, ...(r.error ? { lastError: r.error.message } : {}),
      });
    }
  }
}

/** The log line and failure report of a deactivation. */
export function reportDeactivation(ctx: StepContext, event: EventLogEntry, callback: string | null, error: SerializedError): void {
  const why = callback === null
    ? error.code === 'PLUGIN_RESTART_BUDGET'
      ? 'plugin thread or process lost more often than daemon.restartBudget allows'
      : 'plugin could not be run'
    : 'callback failed with stopOnError';
  ctx.opts.logger.error(
    { eventId: event.id, callback, err: error },
    `${why}: plugin deactivated; it resumes at this event when its file changes or on \`sgeventd plugin enable\``,
  );
  ctx.opts.onFailure?.({ plugin: ctx.opts.name, callback, eventId: event.id, error, action: 'deactivated' });
}
