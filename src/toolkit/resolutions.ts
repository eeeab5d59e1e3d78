// How each project resolves, kept once per project: resolved on its first
// call (a distributed configuration prepared then), checked against the
// files on disk at most every `changeCheckIntervalMs`, and resolved again
// when they changed (the pool recycles the project's runtimes first). A
// failed resolution is not kept: the next call tries again.
import { fingerprint } from './fingerprint.ts';
import type { ToolkitLogger } from './log.ts';
import type { RuntimePoolOptions } from './options.ts';
import type { PoolSite } from './pool-types.ts';
import { resolveProject } from './resolve.ts';
import type { CentralizedResolution, DistributedResolution, ProjectRef, Resolution, ResolveHost } from './resolve.ts';

/** A project's resolution as the pool keeps it. */
export interface Resolved {
  res: Resolution;
  /** What runtimes start on: the centralized resolution, or the prepared distributed one. */
  runnable: CentralizedResolution;
  fp: string;
  checkedAt: number;
}

export interface ResolutionsDeps {
  options: RuntimePoolOptions;
  host: ResolveHost;
  lookup: PoolSite | undefined;
  logger: ToolkitLogger;
  changeCheckIntervalMs: number;
  /** Makes a distributed configuration runnable (prepare.ts, in a bootstrap runtime). */
  prepare(res: DistributedResolution): Promise<CentralizedResolution>;
  /** The project's configuration or core changed on disk: its runtimes and cached resolution are to go. */
  changed(projectId: number): void;
}

/** The pool's resolved projects, by project id. */
export class Resolutions {
  readonly #deps: ResolutionsDeps;
  readonly #resolved = new Map<number, Promise<Resolved>>();

  constructor(deps: ResolutionsDeps) {
    this.#deps = deps;
  }

  /** The project's resolution: cached, unless its files changed since. */
  async get(ref: ProjectRef): Promise<Resolved> {
    const d = this.#deps;
    let p = this.#resolved.get(ref.id);
    if (!p) {
      p = (async () => {
        let project = ref;
        if (!project.tankName && d.lookup?.findProject) {
          const rec = await d.lookup.findProject(ref.id);
          project = { ...ref, tankName: rec?.tank_name ?? undefined, name: rec?.name ?? ref.name };
        }
        const res = await resolveProject(project, d.options, d.host, d.lookup);
        for (const w of res.warnings) d.logger.warn({ project: ref.id }, w);
        d.logger.info({ project: ref.id, steps: res.steps }, 'toolkit: resolved project');
        const runnable = res.mode === 'centralized' ? res : await d.prepare(res);
        return { res, runnable, fp: fingerprint(runnable), checkedAt: Date.now() };
      })();
      this.#resolved.set(ref.id, p);
      p.catch(() => this.#resolved.delete(ref.id));
    }
    const r = await p;
    if (Date.now() - r.checkedAt >= d.changeCheckIntervalMs) {
      r.checkedAt = Date.now();
      if (fingerprint(r.runnable) !== r.fp) {
        d.logger.info({ project: ref.id, configPath: r.runnable.configPath }, 'toolkit: configuration or core changed on disk; recycling');
        d.changed(ref.id);
        return this.get(ref);
      }
    }
    return r;
  }

  /** Forgets one project's resolution, or every one (`'all'`), so the site and disk are read again. */
  forget(projectId: number | 'all'): void {
    if (projectId === 'all') this.#resolved.clear();
    else this.#resolved.delete(projectId);
  }
}
