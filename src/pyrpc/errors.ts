import { describeError, SgeventdError } from '../shared/errors.ts';

/**
 * Every failure of a Python child or of a call to it. The codes keep the
 * `TK_` prefix they had when only Toolkit runtimes spoke this protocol
 * (plugins, dead letters and tests match on them); they mean the same for a
 * Python plugin's own process:
 * - TK_SPAWN_FAILED: the interpreter could not be started (details.python)
 * - TK_INIT_FAILED: the child answered `init` with an error (details: type,
 *   traceback, pythonCode) or exited before answering it (exitCode, signal, stderrTail)
 * - TK_INIT_TIMEOUT: no answer to `init` within its timeout
 * - TK_CALL_TIMEOUT: a call (or one progress step of it) ran past its timeout,
 *   measured from when the request was written; the child is killed
 * - TK_CALL_ABORTED: the caller's AbortSignal fired; a call in flight kills the child
 * - TK_RUNTIME_CRASHED: the child exited while the call was pending (details:
 *   exitCode, signal, pid, sent)
 * - TK_RUNTIME_CLOSED: a send to a child that is stopping or stopped
 * - TK_PROTOCOL: the child wrote something on its protocol pipe that is not a
 *   valid message, an answer to no call, or a line over maxMessageBytes
 * - TK_WRITE_FAILED: a request could not be written (a closed pipe, a value
 *   JSON cannot carry)
 * - TK_MEMORY_LIMIT: the child's resident memory passed maxRssMb (Linux); it was killed
 * - TK_BAD_TRANSITION: a lifecycle bug (never expected)
 * - any code the child answers with: TK_PYTHON_ERROR (an exception),
 *   TK_NOT_INITIALIZED, TK_NO_METHOD, or a handler's own (a PythonError)
 */
export class PyrpcError extends SgeventdError {}

/** A Python exception raised by a call, with its type and traceback. */
export class PythonError extends PyrpcError {
  constructor(
    code: string,
    message: string,
    details: { type: string; traceback: string; method?: string; pythonMessage?: string; [k: string]: unknown },
  ) {
    super(code, message, { details });
  }
}

/** The child exited while a call was pending or before it was sent. */
export class ChildExited extends PyrpcError {
  constructor(label: string, details: { exitCode: number | null; signal: string | null; pid?: number | undefined; [k: string]: unknown }) {
    super('TK_RUNTIME_CRASHED', `${label} exited (code ${String(details.exitCode)}, signal ${String(details.signal)})`, { details });
  }
}

/** How a child that failed during `init` is reported: TK_INIT_FAILED, except for timeouts, spawn and protocol faults. */
export function initFailure(e: unknown, exit: { label: string; exitCode: number | null; signal: string | null; stderrTail: string; details: Record<string, unknown> }): PyrpcError {
  if (e instanceof PythonError) {
    return new PythonError('TK_INIT_FAILED', e.message, { ...(e.details as { type: string; traceback: string }), pythonCode: e.code });
  }
  if (e instanceof PyrpcError && (e.code === 'TK_RUNTIME_CRASHED' || e.code === 'TK_RUNTIME_CLOSED')) {
    return new PyrpcError('TK_INIT_FAILED', `${exit.label} exited during init (code ${String(exit.exitCode)}, signal ${String(exit.signal)})`, {
      cause: e, details: { ...exit.details, exitCode: exit.exitCode, signal: exit.signal, stderrTail: exit.stderrTail.slice(-2000) },
    });
  }
  if (e instanceof PyrpcError) return e;
  return new PyrpcError('TK_INIT_FAILED', `${exit.label} failed to start: ${describeError(e)}`, { cause: e, details: exit.details });
}
