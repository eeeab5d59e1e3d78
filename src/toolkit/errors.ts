import { SgeventdError } from '../shared/errors.ts';

/**
 * Errors of Toolkit itself (resolution, the pool). `code` is stable:
 * - TK_NO_CONFIG: no configuration found for a project (details.lookedIn)
 * - TK_NOT_A_CONFIG: a named folder has no config/core/roots.yml
 * - TK_CORE_INVALID: a core_<OS>.cfg is undefined, empty or names a missing folder
 * - TK_NO_CORE: neither a localized core nor a core_<OS>.cfg (and no studioCore)
 * - TK_DISTRIBUTED_UNSUPPORTED: distributed configurations are resolved but not run yet
 * - TK_QUEUE_FULL: queueLimit calls already wait for a runtime of the key (backpressure)
 * - TK_RUNTIME_FAILED: the key crashed too often; calls fail fast until details.retryAt
 * - TK_POOL_CLOSED: the pool was closed
 * What a runtime process and a call to it can fail with (TK_INIT_FAILED,
 * TK_CALL_TIMEOUT, TK_RUNTIME_CRASHED, TK_PYTHON_ERROR, TK_PROTOCOL, ...) are
 * `PyrpcError`s, listed in src/pyrpc/errors.ts; both are SgeventdErrors, so
 * callers match on `code`.
 */
export class ToolkitError extends SgeventdError {}

export { PythonError, ChildExited as RuntimeCrashed, PyrpcError } from '../pyrpc/index.ts';
