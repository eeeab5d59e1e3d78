// What a Python plugin's call reported, turned into one result per event: the
// steps of the events that finished, then the failure (a timeout, crash,
// memory kill, cancel or close) on the event it was in.
import type { SerializedError } from '../../plugins/errors.ts';
import type { EventLogEntry } from '../../shared/index.ts';
import { describeError, SgeventdError } from '../../shared/index.ts';
import { PyrpcError } from '../../pyrpc/index.ts';
import type { CallbackInfo, ProcessResult } from '../contract.ts';
import { hostFailure } from '../outcome.ts';
import { parseStep } from './wire.ts';

/** The reason a run is cut off by close(). */
export const CLOSED = Symbol('closed');

/** The plugin the results are for. */
export interface ResultPlugin {
  name: string;
  callbacks: readonly CallbackInfo[];
  callbackTimeoutMs: number;
}

/** Results for the events that finished, then the failure (if any) on the event it was in. */
export function collectResults(plugin: ResultPlugin, events: readonly EventLogEntry[], steps: readonly unknown[], failure: unknown, cancelled: AbortSignal): ProcessResult[] {
  const out: ProcessResult[] = [];
  for (const [i, step] of steps.entries()) {
    const event = events[i];
    if (event === undefined) break;
    const result = parseStep(step) ?? failedResult(plugin, event, new PyrpcError('TK_PROTOCOL', `Python plugin ${plugin.name} answered with an unexpected shape`));
    out.push(result);
    if (result.outcome !== 'ok' || result.failures.length > 0) return out;
  }
  const cut = events[out.length];
  if (failure !== null && cut !== undefined) {
    const error: SerializedError | null = !cancelled.aborted
      ? null
      : cancelled.reason === CLOSED
        ? { name: 'PythonPluginError', code: 'PLUGIN_HOST_STATE', message: `plugin ${plugin.name} was closed while the event ran` }
        : { name: 'PythonPluginError', code: 'PLUGIN_CALLBACK_CANCELLED', message: `event ${String(cancelled.reason)} was cancelled while it ran in plugin ${plugin.name}` };
    out.push(error === null ? failedResult(plugin, cut, failure) : { outcome: 'aborted', results: [], failures: [], error });
  }
  return out;
}

/** A process or runtime failure counts as the first matching callback failing, under its stopOnError. */
export function failedResult(plugin: ResultPlugin, event: EventLogEntry, err: unknown): ProcessResult {
  const tkCode = err instanceof SgeventdError ? err.code : undefined;
  const timedOut = tkCode === 'TK_CALL_TIMEOUT' || tkCode === 'TK_CALL_ABORTED' || (err instanceof Error && err.name === 'TimeoutError');
  const code = timedOut
    ? 'PLUGIN_CALLBACK_TIMEOUT'
    : tkCode === 'TK_MEMORY_LIMIT'
      ? 'PLUGIN_MEMORY_LIMIT'
      : tkCode === 'TK_RUNTIME_CRASHED' || tkCode === 'TK_PROTOCOL' || tkCode === undefined
        ? 'PLUGIN_WORKER_DIED'
        : tkCode;
  const message = timedOut ? `ran past callbackTimeoutMs (${plugin.callbackTimeoutMs} ms): ${describeError(err)}` : describeError(err);
  return hostFailure(plugin.callbacks, event, { name: 'PythonPluginError', message, code });
}
