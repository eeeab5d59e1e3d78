// The plugin host's plumbing to its thread that is not about events: the
// thread's stdout/stderr and log records into the plugin's logger, answers
// to the thread's requests (the toolkit handle), and callback descriptions.
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { PluginError, serializeError } from '../../plugins/errors.ts';
import type { FromWorker, ToWorker } from './protocol.ts';
import type { CallbackInfo } from '../contract.ts';
import type { RequestHandler } from './options.ts';

/** A stray console.log in a plugin becomes a log record, not daemon output. */
export function forwardLines(stream: Readable, name: 'stdout' | 'stderr', level: 'info' | 'warn', log: Logger): void {
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  lines.on('line', (line) => log[level]({ stream: name }, line));
}

/** Writes a log record sent by the thread through the host's logger. */
export function writeWorkerLog(log: Logger, msg: Extract<FromWorker, { type: 'log' }>): void {
  const obj = msg.obj === undefined ? {} : typeof msg.obj === 'object' && msg.obj !== null && !Array.isArray(msg.obj) ? msg.obj : { value: msg.obj };
  log[msg.level]({ ...msg.bindings, ...obj }, msg.msg);
}

/** The answer to a thread's request: the handler's result, or its error (no handler: PLUGIN_REQUEST_FAILED). */
export async function answerRequest(
  handler: RequestHandler | undefined, msg: Extract<FromWorker, { type: 'request' }>, signal: AbortSignal, onStarted?: () => void,
): Promise<ToWorker> {
  try {
    if (handler === undefined) throw new PluginError('PLUGIN_REQUEST_FAILED', `no handler for request ${msg.method}`, { details: { method: msg.method } });
    return { type: 'response', id: msg.id, ok: true, result: await handler(msg.method, msg.params, { signal, ...(onStarted === undefined ? {} : { onStarted }) }) };
  } catch (err) {
    return { type: 'response', id: msg.id, ok: false, error: serializeError(err, 'PLUGIN_REQUEST_FAILED') };
  }
}

export function toCallbackInfo(msg: { index: number; name: string; scriptName: string; matchEvents: Record<string, string[] | string | null> | null; stopOnError: boolean; args?: unknown }): CallbackInfo {
  const info: CallbackInfo = { index: msg.index, name: msg.name, scriptName: msg.scriptName, matchEvents: msg.matchEvents, stopOnError: msg.stopOnError };
  if ('args' in msg) info.args = msg.args;
  return info;
}
