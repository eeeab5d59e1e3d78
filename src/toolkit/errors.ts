import { describeError, SgeventdError } from '../shared/errors.ts';

/**
 * Every error of the toolkit subsystem. `code` is stable:
 * - TK_NO_CONFIG: no configuration found for a project (details.lookedIn)
 * - TK_NOT_A_CONFIG: a named folder has no config/core/roots.yml
 * - TK_CORE_INVALID: a core_<OS>.cfg is undefined, empty or names a missing folder
 * - TK_NO_CORE: neither a localized core nor a core_<OS>.cfg (and no studioCore)
 * - TK_DISTRIBUTED_UNSUPPORTED: distributed configurations are resolved but not run yet
 * - TK_INIT_FAILED: the runtime answered init with an error (details: type, traceback)
 * - TK_INIT_TIMEOUT: the runtime never answered init
 * - TK_CALL_TIMEOUT: one call took longer than callTimeoutMs (the runtime was killed)
 * - TK_CALL_ABORTED: the caller's AbortSignal fired (e.g. callbackTimeoutMs); a call in flight kills the runtime
 * - TK_RUNTIME_CRASHED: the runtime exited (details: exitCode, signal, project)
 * - TK_RUNTIME_CLOSED: a send to a runtime that is stopping or dead
 * - TK_PROTOCOL: the runtime wrote something that is not a valid message, or too much
 * - TK_QUEUE_FULL: the runtime's queue is full (backpressure)
 * - TK_POOL_FULL: maxRuntimes reached and no idle runtime to evict
 * - TK_RUNTIME_FAILED: the key crashed too often; calls fail fast until details.retryAt
 * - TK_PYTHON_ERROR: a Python exception (details: type, traceback)
 * - TK_POOL_CLOSED: the pool was closed
 */
export class ToolkitError extends SgeventdError {}

/** A Python exception raised inside a runtime, with its type and traceback. */
export class PythonError extends ToolkitError {
  constructor(
    code: string,
    message: string,
    details: { type: string; traceback: string; method?: string; project?: string; [k: string]: unknown },
  ) {
    super(code, message, { details });
  }
}

/** The runtime process exited while calls were pending or being sent. */
export class RuntimeCrashed extends ToolkitError {
  constructor(details: { project: string; exitCode: number | null; signal: string | null; pid?: number | undefined; stderrTail?: string }) {
    super(
      'TK_RUNTIME_CRASHED',
      `toolkit runtime for ${details.project} exited (code ${String(details.exitCode)}, signal ${String(details.signal)})`,
      { details },
    );
  }
}

/** How a runtime that failed during `init` is reported: always TK_INIT_FAILED, except for timeouts and protocol faults. */
export function initFailure(e: unknown, exit: { label: string; exitCode: number | null; signal: string | null; stderrTail: string }): ToolkitError {
  if (e instanceof PythonError) {
    return new PythonError('TK_INIT_FAILED', e.message, { ...(e.details as { type: string; traceback: string }), pythonCode: e.code });
  }
  if (e instanceof ToolkitError && (e.code === 'TK_RUNTIME_CRASHED' || e.code === 'TK_RUNTIME_CLOSED')) {
    return new ToolkitError('TK_INIT_FAILED', `toolkit runtime for ${exit.label} exited during init (code ${String(exit.exitCode)}, signal ${String(exit.signal)})`, {
      cause: e, details: { project: exit.label, exitCode: exit.exitCode, signal: exit.signal, stderrTail: exit.stderrTail.slice(-2000) },
    });
  }
  if (e instanceof ToolkitError) return e;
  return new ToolkitError('TK_INIT_FAILED', `toolkit runtime for ${exit.label} failed to start: ${describeError(e)}`, { cause: e });
}
