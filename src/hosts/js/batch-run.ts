// One batch of events in a plugin's thread, seen from the host: sends it,
// watches the callback running (one timer, re-armed for the callback running
// when it fires, reading the shared progress record), and turns what ran into
// per-event results when the batch ends, times out or loses its thread.
import type { Logger } from 'pino';
import { setLongTimeout, type LongTimer } from '../../shared/index.ts';
import { PluginError, serializeError, type SerializedError } from '../../plugins/errors.ts';
import type { BatchProgress } from './progress.ts';
import type { QueueWait } from './queue-wait.ts';
import { isEventShape, type FromWorker } from './protocol.ts';
import type { EventLogEntry } from '../../plugins/types.ts';
import type { CallbackInfo, CallbackResult } from '../contract.ts';

/** What the host's current operation wants to hear from the worker. */
export interface Operation {
  onMessage(msg: Exclude<FromWorker, { type: 'log' | 'request' }>): void;
  onExit(error: SerializedError): void;
}

/** How a batch went in the worker: `results` holds the callbacks of the first `completed` events. */
export type BatchRun =
  | { kind: 'done'; completed: number; results: CallbackResult[][]; partial: CallbackResult[] }
  | { kind: 'interrupted'; completed: number; results: CallbackResult[][]; partial: CallbackResult[]; index: number | null; callback: string | null; error: SerializedError };

export function fault(code: ConstructorParameters<typeof PluginError>[0], message: string, details: Record<string, unknown> = {}): SerializedError {
  return serializeError(new PluginError(code, message, { details }), code);
}

export interface BatchStart {
  plugin: string;
  seq: number;
  events: readonly EventLogEntry[];
  callbacks: readonly CallbackInfo[];
  progress: BatchProgress;
  timeoutMs: number;
  /** Time the batch's Toolkit requests waited for a runtime: not counted against `timeoutMs`. */
  queueWait: QueueWait;
  log: Logger;
  isClosed(): boolean;
  /** A callback ran over `timeoutMs`: the host terminates the thread. */
  onTimeout(): void;
}

/**
 * Watches a batch the caller then sends (with `progress.buffer`): `op` takes
 * the worker's messages and its exit, `done` settles once.
 */
export function startBatch(b: BatchStart): { op: Operation; done: Promise<BatchRun> } {
  const { events, callbacks, progress, timeoutMs, seq } = b;
  progress.reset();
  const errors = new Map<string, SerializedError>();
  let timer: LongTimer | undefined;

  // The callbacks that ended, by event: the first `completed` events, then the one cut short.
  const collect = (completed: number, limit = Infinity): { results: CallbackResult[][]; partial: CallbackResult[] } => {
    const results: CallbackResult[][] = [];
    for (let e = 0; e < completed; e++) results.push([]);
    const partial: CallbackResult[] = [];
    progress.each(limit, (event, index, startedAt, durationMs, failed) => {
      const name = callbacks[index]?.name ?? `callback${index}`;
      const r: CallbackResult = { callback: name, index, startedAt: new Date(startedAt), durationMs };
      if (failed) {
        r.error = errors.get(`${event}:${index}`)
          ?? fault('PLUGIN_CALLBACK_ERROR', `callback ${name} of plugin ${b.plugin} failed; its error was lost with the plugin thread`, { plugin: b.plugin, callback: name });
      }
      (event < completed ? results[event] ?? partial : partial).push(r);
    });
    return { results, partial };
  };
  const cutShort = (): { completed: number; limit: number; index: number | null; eventId: number | undefined } => {
    const running = progress.running();
    if (running !== null) return { completed: running.event, limit: running.run - 1, index: running.callback, eventId: events[running.event]?.id };
    // Lost between callbacks: the event of the last callback that ended is not known to be complete.
    const last = progress.entries().at(-1)?.event ?? 0;
    return { completed: last, limit: Infinity, index: null, eventId: events[last]?.id };
  };

  let settle: (outcome: BatchRun) => void = () => undefined;
  const done = new Promise<BatchRun>((resolve) => {
    let settled = false;
    settle = (outcome) => {
      timer?.clear();
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
  });
  // The watchdog: one timer, re-armed for the callback running when it fires.
  const watch = (): void => {
    const running = progress.running();
    const elapsed = running === null ? 0 : Date.now() - running.startedAt - b.queueWait.since(running.startedAt);
    if (running === null || elapsed < timeoutMs) {
      timer = setLongTimeout(watch, timeoutMs - elapsed);
      return;
    }
    const callback = callbacks[running.callback]?.name ?? null;
    const eventId = events[running.event]?.id;
    const { results, partial } = collect(running.event, running.run - 1);
    settle({
      kind: 'interrupted', completed: running.event, results, partial, index: running.callback, callback,
      error: fault('PLUGIN_CALLBACK_TIMEOUT', `callback ${callback ?? '?'} of plugin ${b.plugin} ran over ${timeoutMs} ms`, { plugin: b.plugin, callback, eventId, timeoutMs }),
    });
    b.log.warn({ callback, eventId, timeoutMs }, 'callback timed out; terminating the plugin thread');
    b.onTimeout();
  };
  const op: Operation = {
    onMessage: (msg) => {
      if (!('seq' in msg) || msg.seq !== seq) return;
      if (msg.type === 'batch-error') {
        errors.set(`${msg.event}:${msg.index}`, msg.error);
        // The dispatcher logs (and mails) failures with what it decided; this is the trace.
        b.log.debug({ callback: callbacks[msg.index]?.name, eventId: events[msg.event]?.id, err: msg.error }, 'callback failed');
      } else if (msg.type === 'batch-done') {
        const { results } = collect(msg.events);
        settle({ kind: 'done', completed: msg.events, results, partial: [] });
      }
    },
    onExit: (error) => {
      const at = cutShort();
      const callback = at.index === null ? null : (callbacks[at.index]?.name ?? null);
      if (!b.isClosed()) b.log.warn({ callback, eventId: at.eventId, err: error }, 'plugin thread died while processing');
      const { results, partial } = collect(at.completed, at.limit);
      settle({
        kind: 'interrupted', completed: at.completed, results, partial, index: at.index, callback,
        error: { ...error, details: { ...error.details, eventId: at.eventId, callback } },
      });
    },
  };
  timer = setLongTimeout(watch, timeoutMs);
  return { op, done };
}

/** Refuses (PLUGIN_PROTOCOL) an attempt below 1 or anything in `events` that is not an event. */
export function checkBatch(plugin: string, events: readonly unknown[], attempt: number): void {
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new PluginError('PLUGIN_PROTOCOL', `attempt must be a whole number from 1 for plugin ${plugin}, got ${String(attempt)}`);
  }
  for (const e of events) {
    if (!isEventShape(e)) {
      throw new PluginError('PLUGIN_PROTOCOL', `not an event for plugin ${plugin}: expected an object with a numeric id and an event_type`, { details: { id: (e as { id?: unknown } | null)?.id } });
    }
  }
}
