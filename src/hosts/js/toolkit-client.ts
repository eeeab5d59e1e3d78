// The plugin thread's side of Toolkit: every call is a request to the main
// thread, which owns the runtime pool (a plugin thread never spawns Python).
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

/** `ctx.toolkit` for one callback run; `event` goes along with `run` calls. */
export function toolkitFor(event: EventLogEntry): PluginToolkit {
  return {
    forProject(target): PluginToolkitHandle {
      const project = projectOf(target);
      return {
        call: (on: ToolkitTarget, path: string, args?: readonly unknown[], kwargs?: Readonly<Record<string, unknown>>) =>
          requestHost('toolkit.call', { project, target: on, path, args: args ?? [], kwargs: kwargs ?? {} }),
        run: (fn: string, args?: unknown) => requestHost('toolkit.run', { project, fn, args: args ?? null, event }),
        info: async () => (await requestHost('toolkit.info', { project })) as Record<string, unknown>,
        command: (name: string, args?: readonly unknown[]) => requestHost('toolkit.command', { project, name, args: args ?? [] }),
      };
    },
  };
}
