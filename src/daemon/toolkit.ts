import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { pluginEnvironment, type DaemonConfig } from '../config/index.ts';
import type { ToolkitAccess } from '../hosts/index.ts';
import { api3Proxy, type ShotgunClient } from '../shotgrid/index.ts';
import { SgeventdError } from '../shared/index.ts';
import { RuntimePool, resolveProject, siteLookup, type Resolution, type RuntimeStatus } from '../toolkit/index.ts';
import { toolkitRequestHandler } from './toolkit-requests.ts';

export interface DaemonToolkitOptions {
  config: DaemonConfig;
  client: ShotgunClient;
  logger: Logger;
  onRuntimeStarted?: (label: string) => void;
  onRuntimeCrashed?: (label: string) => void;
}

/**
 * The daemon's one runtime pool, created on first use (a daemon without
 * Toolkit work never starts Python for it), and what plugins reach it through.
 */
export class DaemonToolkit {
  readonly #opts: DaemonToolkitOptions;
  #pool: RuntimePool | null = null;
  /** For the engine and plugin hosts: `ctx.toolkit` requests and SGEVENTD_TOOLKIT Python plugins. */
  readonly access: ToolkitAccess;

  constructor(opts: DaemonToolkitOptions) {
    this.#opts = opts;
    this.access = {
      handleRequest: toolkitRequestHandler(() => this.pool),
      runInProject: (project, plugin, events, signal, onStep) => this.pool.pluginProcess(project, plugin, events, signal, onStep),
    };
  }

  get pool(): RuntimePool {
    const { config, client, logger } = this.#opts;
    // The compiled toolkit section is the pool's options as is.
    this.#pool ??= new RuntimePool(config.toolkit, {
      // The proxy as shotgun_api3 takes it (`[user:pass@]host:port`): tk-core hands it to its own Shotgun connections.
      site: {
        url: config.site.url, scriptName: config.site.script.name, scriptKey: config.site.script.key,
        proxy: config.site.proxy === undefined ? undefined : api3Proxy(config.site.proxy), timeoutMs: config.site.timeoutMs,
      },
      stateDir: dirname(config.daemon.state),
      lookup: siteLookup(client),
      secretVars: config.secretEnvVars,
      env: pluginEnvironment(config),
      logger: logger.child({ subsystem: 'toolkit' }),
      onRuntimeStarted: this.#opts.onRuntimeStarted,
      onRuntimeCrashed: this.#opts.onRuntimeCrashed,
    });
    return this.#pool;
  }

  /** The running runtimes (none before the first Toolkit call). */
  list(): RuntimeStatus[] {
    return this.#pool?.list() ?? [];
  }

  /** `sgeventd toolkit recycle [PROJECT]`: drains and replaces the runtimes of a project (id or tank_name), or all. */
  async recycle(project?: string): Promise<number> {
    if (this.#pool === null) return 0;
    if (project === undefined || project === '') return this.#pool.recycle();
    return this.#pool.recycle((await projectOnSite(this.#opts.client, this.#opts.config, project)).id);
  }

  /** Replaces the runtimes serving one project (or all, for null) without resolving a name: a configuration changed. */
  recycleProject(projectId: number | null): number {
    return this.#pool?.recycle(projectId ?? undefined) ?? 0;
  }

  /** How a project (id or tank_name) resolves under the config, step by step; starts nothing. */
  async resolve(project: string): Promise<Resolution> {
    return resolveOnSite(this.#opts.client, this.#opts.config, project);
  }

  close(): Promise<void> {
    return this.#pool?.close() ?? Promise.resolve();
  }
}

/** How PROJECT (an id or a tank_name) resolves on this machine under the config's toolkit section. */
export async function resolveOnSite(client: ShotgunClient, config: DaemonConfig, project: string): Promise<Resolution> {
  const lookup = siteLookup(client);
  const { id, tankName } = /^\d+$/.test(project)
    ? { id: Number(project), tankName: (await lookup.findProject?.(Number(project)))?.tank_name ?? null }
    : await projectOnSite(client, config, project);
  const platform = process.platform === 'win32' ? 'win32' : process.platform === 'darwin' ? 'darwin' : 'linux';
  return resolveProject({ id, tankName }, config.toolkit, {
    exists: existsSync, readFile: (p) => readFileSync(p, 'utf8'), env: process.env, platform, homedir: homedir(),
  }, lookup);
}

async function projectOnSite(client: ShotgunClient, config: DaemonConfig, project: string): Promise<{ id: number; tankName: string | null }> {
  if (/^\d+$/.test(project)) return { id: Number(project), tankName: null };
  const rec = await client.findOne('Project', [['tank_name', 'is', project]], ['id']);
  if (typeof rec?.['id'] !== 'number') {
    throw new SgeventdError('TK_NO_PROJECT', `no project with tank_name ${project} on ${config.site.url}`, { details: { project } });
  }
  return { id: rec['id'], tankName: project };
}
