/**
 * The base of every error sgeventd raises on purpose. `code` is stable and is
 * what callers and tests match on; `details` holds structured fields (never
 * secrets); `cause` keeps the underlying error.
 */
export class SgeventdError extends Error {
  readonly code: string;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: string, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options.details ?? {};
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, ...this.details };
  }
}

/** Bad configuration: names the key, the value received and what was expected. */
export class ConfigError extends SgeventdError {
  constructor(key: string, message: string, options: { cause?: unknown; value?: unknown } = {}) {
    super('CONFIG_INVALID', `${key}: ${message}`, { cause: options.cause, details: { key, value: options.value } });
  }
}

/** Turns anything thrown into a short, single-line description for logs. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}
