import type { Logger } from 'pino';

/** One ERROR or CRITICAL record written to a plugin's logger. */
export interface MailedRecord {
  level: 'error' | 'fatal';
  /** The record's message ('' when it had none). */
  msg: string;
  /** The error it carried (`err` field, or an Error passed alone): its stack, else its message. */
  detail: string | null;
}

function errorText(value: unknown): string | null {
  if (value instanceof Error) return value.stack ?? value.message;
  if (typeof value === 'object' && value !== null) {
    const e = value as { stack?: unknown; message?: unknown };
    if (typeof e.stack === 'string') return e.stack;
    if (typeof e.message === 'string') return e.message;
  }
  return null;
}

/** pino's call forms: (msg), (obj, msg?), (err, msg?). */
function toRecord(level: 'error' | 'fatal', args: readonly unknown[]): MailedRecord {
  const [first, second] = args;
  if (typeof first === 'string') return { level, msg: first, detail: null };
  const msg = typeof second === 'string' ? second : '';
  if (first instanceof Error) return { level, msg: msg || first.message, detail: errorText(first) };
  const err = typeof first === 'object' && first !== null ? (first as { err?: unknown }).err : undefined;
  return { level, msg, detail: errorText(err) };
}

/**
 * The logger with its ERROR and CRITICAL records also handed to `onRecord`
 * (and those of every child logger made from it), as shotgunEvents hangs an
 * SMTP handler on each plugin's logger. The records are written as before.
 */
export function mailingLogger(logger: Logger, onRecord: (record: MailedRecord) => void): Logger {
  return new Proxy(logger, {
    get(target, prop, receiver): unknown {
      if (prop === 'error' || prop === 'fatal') {
        return (...args: unknown[]): void => {
          target[prop].call(target, ...(args as Parameters<Logger['error']>));
          onRecord(toRecord(prop, args));
        };
      }
      if (prop === 'child') {
        return (bindings: Record<string, unknown>, options?: Record<string, unknown>): Logger => mailingLogger(target.child(bindings, options), onRecord);
      }
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
