import { SgeventdError } from '../shared/errors.ts';

/**
 * Stable codes for plugin faults. Load faults: PLUGIN_IMPORT_FAILED,
 * PLUGIN_NO_REGISTER, PLUGIN_REGISTER_FAILED, PLUGIN_BAD_REGISTRATION,
 * PLUGIN_LOAD_TIMEOUT (import + registerCallbacks took too long).
 * Run faults: PLUGIN_CALLBACK_ERROR (a callback threw something without a
 * `code` of its own), PLUGIN_CALLBACK_TIMEOUT, PLUGIN_WORKER_DIED,
 * PLUGIN_MEMORY_LIMIT (the thread or process went over its memory limit),
 * PLUGIN_RESTART_BUDGET (lost its thread or process too often),
 * PLUGIN_CALLBACK_CANCELLED (the dispatcher cut the event off).
 * Folder faults: PLUGIN_FOLDER_MISSING, PLUGIN_FOLDER_UNREADABLE, PLUGIN_FOLDER_EMPTY, PLUGIN_UNSAFE_PERMISSIONS, PLUGIN_UNSAFE_OWNER,
 * PLUGIN_DUPLICATE_NAME. Misuse of a host, or a host closed
 * under a running event: PLUGIN_HOST_STATE.
 */
export type PluginErrorCode =
  | 'PLUGIN_IMPORT_FAILED'
  | 'PLUGIN_NO_REGISTER'
  | 'PLUGIN_REGISTER_FAILED'
  | 'PLUGIN_BAD_REGISTRATION'
  | 'PLUGIN_LOAD_TIMEOUT'
  /** The import or registerCallbacks hit a site error (connection, timeout, 5xx): the load is retried with backoff. */
  | 'PLUGIN_LOAD_SITE_ERROR'
  | 'PLUGIN_CALLBACK_ERROR'
  | 'PLUGIN_CALLBACK_TIMEOUT'
  | 'PLUGIN_WORKER_DIED'
  | 'PLUGIN_RESTART_BUDGET'
  | 'PLUGIN_MEMORY_LIMIT'
  | 'PLUGIN_CALLBACK_CANCELLED'
  | 'PLUGIN_PROTOCOL'
  | 'PLUGIN_SG_UNAVAILABLE'
  | 'PLUGIN_REQUEST_FAILED'
  | 'PLUGIN_FOLDER_MISSING'
  | 'PLUGIN_FOLDER_UNREADABLE'
  | 'PLUGIN_FOLDER_EMPTY'
  | 'PLUGIN_UNSAFE_PERMISSIONS'
  | 'PLUGIN_UNSAFE_OWNER'
  | 'PLUGIN_DUPLICATE_NAME'
  | 'PLUGIN_HOST_STATE';

/** A plugin fault raised by sgeventd itself (not by plugin code). */
export class PluginError extends SgeventdError {
  declare readonly code: PluginErrorCode;

  constructor(code: PluginErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(code, message, options);
  }
}

/**
 * An error as it crosses the thread boundary: plain data that keeps the
 * name, message, stack and code of what was thrown. `code` is the thrown
 * error's own string `code` when it had one, otherwise a PluginErrorCode.
 */
export interface SerializedError {
  name: string;
  message: string;
  code: string;
  stack?: string | undefined;
  details?: Record<string, unknown> | undefined;
}

/** Turns anything thrown into a SerializedError; `fallbackCode` when it has no string `code`. */
export function serializeError(err: unknown, fallbackCode: PluginErrorCode): SerializedError {
  if (err instanceof Error) {
    const own = (err as { code?: unknown }).code;
    const out: SerializedError = {
      name: err.name,
      message: err.message,
      code: typeof own === 'string' && own.length > 0 ? own : fallbackCode,
      stack: err.stack,
    };
    if (err instanceof SgeventdError && Object.keys(err.details).length > 0) out.details = plainDetails(err.details);
    return out;
  }
  return { name: 'Error', message: `non-error thrown: ${safeString(err)}`, code: fallbackCode };
}

/** Rebuilds an Error from a SerializedError (for code that wants `instanceof Error`). */
export function deserializeError(data: SerializedError): PluginError {
  const err = new PluginError(isPluginCode(data.code) ? data.code : 'PLUGIN_CALLBACK_ERROR', data.message, { details: { ...data.details, originalName: data.name, originalCode: data.code } });
  if (data.stack !== undefined) err.stack = data.stack;
  return err;
}

const CODES = new Set<string>([
  'PLUGIN_IMPORT_FAILED', 'PLUGIN_NO_REGISTER', 'PLUGIN_REGISTER_FAILED', 'PLUGIN_BAD_REGISTRATION',
  'PLUGIN_LOAD_TIMEOUT', 'PLUGIN_CALLBACK_ERROR', 'PLUGIN_CALLBACK_TIMEOUT', 'PLUGIN_WORKER_DIED', 'PLUGIN_RESTART_BUDGET', 'PLUGIN_PROTOCOL',
  'PLUGIN_MEMORY_LIMIT', 'PLUGIN_CALLBACK_CANCELLED',
  'PLUGIN_SG_UNAVAILABLE', 'PLUGIN_REQUEST_FAILED', 'PLUGIN_FOLDER_MISSING', 'PLUGIN_FOLDER_UNREADABLE', 'PLUGIN_FOLDER_EMPTY', 'PLUGIN_UNSAFE_PERMISSIONS',
  'PLUGIN_DUPLICATE_NAME', 'PLUGIN_HOST_STATE',
]);

function isPluginCode(code: string): code is PluginErrorCode {
  return CODES.has(code);
}

function safeString(value: unknown): string {
  try {
    return typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

// details must survive structured clone: keep what JSON keeps.
function plainDetails(details: Readonly<Record<string, unknown>>): Record<string, unknown> {
  try {
    return JSON.parse(JSON.stringify(details)) as Record<string, unknown>;
  } catch {
    return {};
  }
}
