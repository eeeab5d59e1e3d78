// The worker side of the host channel: posting messages, log records and
// requests to the main thread. One instance per worker thread (module
// singleton), so code running in the plugin's thread (the toolkit handle
// later) reaches the host through the same port.
//
// Plugin logs travel as `log` messages on that port rather than through a
// pino instance of the worker's own: the host owns the log files (logMode),
// the error mails (setEmails) and the timing log, so it must see every
// record; records stay ordered with the callback results on the same port;
// and a thread terminated on timeout cannot lose buffered records, since
// each one is handed over before the next line of plugin code runs.
import { parentPort } from 'node:worker_threads';
import { PluginError, type SerializedError, deserializeError } from '../../plugins/errors.ts';
import type { FromWorker } from './protocol.ts';
import type { LogLevel, PluginLogger, LogFn } from '../../plugins/types.ts';

const LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];
const LEVEL_RANK: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

let minRank = LEVEL_RANK.info ?? 30;
let nextRequestId = 1;
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void; rebuild: (e: SerializedError) => unknown }>();

/** Sends one message to the host. */
export function post(message: FromWorker): void {
  if (parentPort === null) throw new PluginError('PLUGIN_PROTOCOL', 'not running in a plugin worker thread');
  parentPort.postMessage(message);
}

/** Log records below `level` are dropped in the worker (the host's logger level). */
export function setLogLevel(level: string): void {
  minRank = LEVEL_RANK[level] ?? LEVEL_RANK.info ?? 30;
}

/**
 * Calls `method` on the host (its `handleRequest` option) and waits for the
 * answer. A host without a handler, or a handler that throws, rejects with
 * a PluginError whose `details.originalCode` holds the host's code, or with
 * what `rebuild` makes of the host's error.
 */
export function requestHost(method: string, params?: unknown, seq?: number, rebuild: (e: SerializedError) => unknown = deserializeError): Promise<unknown> {
  const id = nextRequestId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject, rebuild });
    try {
      post({ type: 'request', id, method, params, ...(seq === undefined ? {} : { seq }) });
    } catch (err) {
      pending.delete(id);
      // Params that structured clone cannot carry (functions, say) land here.
      reject(new PluginError('PLUGIN_PROTOCOL', `could not send request ${method}`, { cause: err }));
    }
  });
}

/** Settles a pending request with the host's response. */
export function settleRequest(id: number, answer: { ok: true; result: unknown } | { ok: false; error: SerializedError }): void {
  const p = pending.get(id);
  if (p === undefined) return;
  pending.delete(id);
  if (answer.ok) p.resolve(answer.result);
  else p.reject(p.rebuild(answer.error));
}

/** A pino-style logger whose records travel to the host as `log` messages. */
export function createLogger(bindings: Record<string, unknown>): PluginLogger {
  const make = (level: LogLevel): LogFn => {
    const rank = LEVEL_RANK[level] ?? 30;
    return (objOrMsg: unknown, msg?: string): void => {
      if (rank < minRank) return;
      let obj: unknown;
      let text = msg;
      if (typeof objOrMsg === 'string' && msg === undefined) text = objOrMsg;
      else if (objOrMsg instanceof Error) {
        obj = { err: errorToPlain(objOrMsg) };
        text ??= objOrMsg.message;
      } else obj = toPlain(objOrMsg);
      post({ type: 'log', level, bindings, obj, msg: text });
    };
  };
  const logger = Object.fromEntries(LEVELS.map((l) => [l, make(l)])) as unknown as Omit<PluginLogger, 'child'>;
  return { ...logger, child: (more: Record<string, unknown>) => createLogger({ ...bindings, ...toPlainRecord(more) }) };
}

function errorToPlain(err: Error): Record<string, unknown> {
  const code = (err as { code?: unknown }).code;
  return { type: err.name, message: err.message, stack: err.stack, ...(code === undefined ? {} : { code: toPlain(code) }) };
}

// Log objects become JSON-safe data: Secrets print as their mask (toJSON),
// Errors keep type/message/stack/code, bigints become strings.
function toPlain(value: unknown): unknown {
  if (value === undefined) return undefined;
  try {
    const text = JSON.stringify(value, (_key, v: unknown) => {
      if (v instanceof Error) return errorToPlain(v);
      if (typeof v === 'bigint') return v.toString();
      return v;
    });
    return text === undefined ? undefined : JSON.parse(text) as unknown;
  } catch {
    return { unserializable: typeof value };
  }
}

function toPlainRecord(value: Record<string, unknown>): Record<string, unknown> {
  const plain = toPlain(value);
  return typeof plain === 'object' && plain !== null && !Array.isArray(plain) ? plain as Record<string, unknown> : {};
}
