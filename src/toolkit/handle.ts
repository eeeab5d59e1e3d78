import type { CallTarget, RuntimeInfo } from './protocol.ts';
import type { ProjectRef } from './resolve.ts';

/**
 * Toolkit for one project, as plugins see it. Every call runs in that
 * project's runtime, on that project's own core.
 *
 * @example
 * const tk = toolkit.forProject(event.project);
 * const [p] = await tk.call('tk', 'paths_from_template', [{ $template: 'shot_work' }, { Shot: 'sh010', version: 3 }]);
 * const version = await tk.call('sgtk', '__version__');
 * await tk.run('studio_hooks:on_publish', { notify: true }, event);
 */
export interface ToolkitHandle {
  readonly projectId: number;
  /** A dotted path on tk, sgtk, engine or context; called with args/kwargs when callable. `{ $template: name }` in args stands for tk.templates[name]. */
  call(target: CallTarget, path: string, args?: readonly unknown[], kwargs?: Readonly<Record<string, unknown>>): Promise<unknown>;
  /** `module:function` from toolkit.pythonPath, called with a context holding tk, sgtk, engine, event and args. */
  run(fn: string, args?: unknown, event?: unknown): Promise<unknown>;
  /** Python version, core version and path, config path, rss. */
  info(): Promise<RuntimeInfo>;
  /** An engine command by name (the engine starts on first use). */
  command(name: string, args?: readonly unknown[]): Promise<unknown>;
}

/** A project as plugins name it: an id, or a link like `event.project`. */
export type ProjectLike = number | { type?: string; id: number; name?: string | null; tank_name?: string | null };

/** What resolution needs of a project a caller passed (an id or a Project record). */
export function projectRef(project: ProjectLike): ProjectRef {
  return typeof project === 'number' ? { id: project } : { id: project.id, tankName: project.tank_name ?? undefined, name: project.name ?? undefined };
}
