import type { ShotgunClient } from '../shotgrid/index.ts';
import type { Logger } from 'pino';
import type { EventLogEntry } from '../shared/index.ts';
import type { ProjectFilter } from '../config/index.ts';
import type { EventScope } from './cursor-types.ts';

/** Finds a project's tank_name, for project filters written by name. */
export interface ProjectDirectory {
  tankName(projectId: number): Promise<string | null>;
}

type ProjectLookupClient = Pick<ShotgunClient, 'find'>;

/** Project names are read again this often even when every id is known (a renamed project). */
const NAMES_REFRESH_MS = 600_000;

/**
 * Project ids → tank_name, read once from the site and read again (at most
 * every `refreshMs`) when an unknown project shows up.
 */
export class SiteProjectDirectory implements ProjectDirectory {
  readonly #client: ProjectLookupClient;
  readonly #refreshMs: number;
  readonly #logger: Logger;
  #names = new Map<number, string | null>();
  #projectNames = new Map<number, string>();
  #loadedAt = 0;
  #loading: Promise<void> | null = null;

  constructor(client: ProjectLookupClient, logger: Logger, refreshMs = 30_000) {
    this.#client = client;
    this.#logger = logger;
    this.#refreshMs = refreshMs;
  }

  async tankName(projectId: number): Promise<string | null> {
    if (!this.#names.has(projectId) && Date.now() - this.#loadedAt >= this.#refreshMs) await this.#load();
    return this.#names.get(projectId) ?? null;
  }

  /**
   * Project names by id as last read (for the status page). Unknown ids, or
   * names older than ten minutes, start a read in the background.
   */
  projectNames(ids: Iterable<number>): ReadonlyMap<number, string> {
    const age = Date.now() - this.#loadedAt;
    const unknown = [...ids].some((id) => !this.#projectNames.has(id));
    if ((unknown && age >= this.#refreshMs) || age >= NAMES_REFRESH_MS) void this.#load();
    return this.#projectNames;
  }

  #load(): Promise<void> {
    this.#loading ??= (async () => {
      try {
        const rows = await this.#client.find('Project', [], ['id', 'tank_name', 'name']);
        const names = new Map<number, string | null>();
        const projectNames = new Map<number, string>();
        for (const r of rows) {
          if (typeof r['id'] !== 'number') continue;
          names.set(r['id'], typeof r['tank_name'] === 'string' ? r['tank_name'] : null);
          if (typeof r['name'] === 'string') projectNames.set(r['id'], r['name']);
        }
        this.#names = names;
        this.#projectNames = projectNames;
      } catch (err) {
        this.#logger.warn({ err }, 'reading projects for project filters failed');
      } finally {
        this.#loadedAt = Date.now();
        this.#loading = null;
      }
    })();
    return this.#loading;
  }
}

/**
 * A plugin's scope: `projects.include`/`exclude` (ids or tank_names) and
 * `ignoreOwnEvents` (events whose `user`, or `meta.sudo_actual_user`, is one
 * of the plugin's own script users), so plugins don't feed themselves.
 */
export function buildScope(options: {
  projects?: ProjectFilter | undefined;
  ignoreOwnEvents: boolean;
  scriptNames: readonly string[];
  directory: ProjectDirectory;
}): EventScope {
  const include = options.projects?.include;
  const exclude = options.projects?.exclude;
  const scripts = new Set(options.scriptNames);
  const needsProject = (include?.length ?? 0) > 0 || (exclude?.length ?? 0) > 0;
  if (!needsProject && !options.ignoreOwnEvents) return () => true;

  const matches = async (list: readonly (number | string)[], event: EventLogEntry): Promise<boolean> => {
    const project = event.project;
    if (project === null) return false;
    if (list.includes(project.id)) return true;
    if (!list.some((x) => typeof x === 'string')) return false;
    const tank = await options.directory.tankName(project.id);
    return tank !== null && list.includes(tank);
  };

  return async (event) => {
    if (options.ignoreOwnEvents && (isOwn(event.user, scripts) || isOwn(event.meta?.['sudo_actual_user'], scripts))) return false;
    if (include !== undefined && include.length > 0 && !(await matches(include, event))) return false;
    if (exclude !== undefined && exclude.length > 0 && (await matches(exclude, event))) return false;
    return true;
  };
}

function isOwn(user: unknown, scripts: ReadonlySet<string>): boolean {
  if (typeof user !== 'object' || user === null) return false;
  const u = user as { type?: unknown; name?: unknown };
  return u.type === 'ApiUser' && typeof u.name === 'string' && scripts.has(u.name);
}
