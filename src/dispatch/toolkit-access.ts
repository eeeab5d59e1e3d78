import type { RequestHandler } from '../plugins/index.ts';
import type { PythonPluginOptions } from '../toolkit/index.ts';

/**
 * How plugins reach Toolkit, without the engine knowing the pool: the daemon
 * answers it from its one runtime pool.
 */
export interface ToolkitAccess {
  /** Answers a JS/TS plugin's `ctx.toolkit` requests (sent over its thread's port). */
  readonly handleRequest: RequestHandler;
  /** Runs an `SGEVENTD_TOOLKIT = True` Python plugin on events of one project, in that project's runtime. */
  readonly runInProject: NonNullable<PythonPluginOptions['runInProject']>;
}
