// The plugin thread's side of Toolkit: every call is a request to the main
// thread, which owns the runtime pool (a plugin thread never spawns Python).
import { SgeventdError } from '../../shared/errors.ts';
import { requestHost } from './channel.ts';
import { PluginError } from '../../plugins/errors.ts';
import type { EventLogEntry, PluginToolkit, PluginToolkitHandle, ToolkitTarget } from '../../plugins/types.ts';

/** Request methods the main thread answers for `ctx.toolkit`. */
export const TOOLKIT_METHODS = ['toolkit.call', 'toolkit.run', 'toolkit.info', 'toolkit.command'] as const;
export type ToolkitMethod = (typeof TOOLKIT_METHODS)[number];

function projectOf(project: number | { type?: string; id: number } | EventLogEntry): number | { type: 'Project'; id: number } {
  if (typeof project === 'number') return project;
  if ('event_type' in project) {
    const p = project.project;
    if (p === null) throw new PluginError('PLUGIN_REQUEST_FAILED', `event ${project.id} has no project, so it has no Toolkit configuration`);
    return { type: 'Project', id: p.id };
  }
  if (project.type !== undefined && project.type !== 'Project') {
    throw new PluginError('PLUGIN_REQUEST_FAILED', `toolkit.forProject expects a project id, a Project link or an event, got a ${project.type} link`);
  }
  return { type: 'Project', id: project.id };
}

/**
 * A failed `ctx.toolkit` call as the plugin sees it: `code` is the Toolkit
 * code (TK_CALL_TIMEOUT, TK_PYTHON_ERROR, ...; see src/toolkit/README.md),
 * `details` what the pool reported (for a Python exception: type, traceback).
 */
export class ToolkitCallError extends SgeventdError {}

/** Requests to the pool; a Toolkit failure comes back with its own code rather than PLUGIN_CALLBACK_ERROR. */
async function toolkitRequest(method: ToolkitMethod, params: unknown, seq: number | undefined): Promise<unknown> {
  try {
    return await requestHost(method, params, seq);
  } catch (err) {
    if (!(err instanceof PluginError)) throw err;
    const { originalCode: original, originalName: _name, ...details } = err.details;
    if (typeof original !== 'string' || !original.startsWith('TK_')) throw err;
    const e = new ToolkitCallError(original, err.message, { details });
    if (err.stack !== undefined) e.stack = err.stack;
    throw e;
  }
}

/** `ctx.toolkit` for one callback run; `event` goes along with `run` calls, `seq` (its batch) with every request. */
export function toolkitFor(event: EventLogEntry, seq?: number): PluginToolkit {
  return {
    forProject(target): PluginToolkitHandle {
      const project = projectOf(target);
      return {
        call: (on: ToolkitTarget, path: string, args?: readonly unknown[], kwargs?: Readonly<Record<string, unknown>>) =>
          toolkitRequest('toolkit.call', { project, target: on, path, args: args ?? [], kwargs: kwargs ?? {} }, seq),
        run: (fn: string, args?: unknown) => toolkitRequest('toolkit.run', { project, fn, args: args ?? null, event }, seq),
        info: async () => (await toolkitRequest('toolkit.info', { project }, seq)) as Record<string, unknown>,
        command: (name: string, args?: readonly unknown[]) => toolkitRequest('toolkit.command', { project, name, args: args ?? [] }, seq),
      };
    },
  };
}
