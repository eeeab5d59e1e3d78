import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { ToolkitError } from './errors.ts';
import type { ResolveOptions, ToolkitProjectEntry } from './options.ts';
import { expandUser, expandVars, pathFor, pcPathField, tkOsName } from './platform-paths.ts';
import type { ToolkitPlatform } from './platform-paths.ts';

/** What resolution may see of the machine: injected so every OS table is testable. */
export interface ResolveHost {
  exists(p: string): boolean;
  readFile(p: string): string;
  env: Readonly<Record<string, string | undefined>>;
  platform: ToolkitPlatform;
  homedir: string;
}

/** This machine's filesystem, platform and home, with `env` as the environment. */
export function realHost(env: Readonly<Record<string, string | undefined>>): ResolveHost {
  const platform = process.platform === 'win32' ? 'win32' : process.platform === 'darwin' ? 'darwin' : 'linux';
  return { exists: existsSync, readFile: (p) => readFileSync(p, 'utf8'), env, platform, homedir: homedir() };
}

/** The fields of a PipelineConfiguration record resolution reads. */
export interface PipelineConfigurationRecord {
  id: number;
  code?: string | null | undefined;
  linux_path?: string | null | undefined;
  mac_path?: string | null | undefined;
  windows_path?: string | null | undefined;
  plugin_ids?: string | null | undefined;
  sg_plugin_ids?: string | null | undefined;
  descriptor?: string | null | undefined;
  sg_descriptor?: string | null | undefined;
}

/** The site as resolution sees it: one injected lookup, no client import. */
export interface ResolveSite {
  findPrimaryPipelineConfiguration(projectId: number): Promise<PipelineConfigurationRecord | null>;
}

export interface ProjectRef {
  id: number;
  tankName?: string | null | undefined;
  name?: string | null | undefined;
}

export type ResolutionSource = 'projects' | 'site' | 'configsRoot';

interface ResolutionBase {
  project: ProjectRef;
  source: ResolutionSource;
  python: string;
  steps: string[];
  warnings: string[];
}

export interface CentralizedResolution extends ResolutionBase {
  mode: 'centralized';
  /** The pipeline configuration root (holds config/core/roots.yml). */
  configPath: string;
  /** The core root: the folder holding install/core/python. */
  coreRoot: string;
  /** <coreRoot>/install/core/python: first on sys.path. */
  corePython: string;
  /** bootstrap: a distributed configuration prepared by ToolkitManager.prepare_engine (core in its install/core). */
  coreSource: 'localized' | 'core-cfg' | 'studio-core' | 'bootstrap';
  coreCfgFile?: string | undefined;
  /** Files whose change means the runtime must be recycled. */
  watchFiles: string[];
  /** Folders whose *.yml files are watched too. */
  watchDirs: string[];
  /** SHOTGUN_BUNDLE_CACHE_PATH for prepared distributed configurations. */
  bundleCache?: string | undefined;
}

export interface DistributedResolution extends ResolutionBase {
  mode: 'distributed';
  pluginId?: string | undefined;
  descriptor?: string | undefined;
  baseConfiguration?: string | undefined;
  pipelineConfiguration?: string | number | undefined;
  engine?: string | undefined;
  pipelineConfigurationId?: number | undefined;
}

export type Resolution = CentralizedResolution | DistributedResolution;

function label(p: ProjectRef): string {
  return p.tankName ? `${p.id} (${p.tankName})` : String(p.id);
}

function findEntry(opts: ResolveOptions, project: ProjectRef): [string, ToolkitProjectEntry] | undefined {
  const byId = opts.projects[String(project.id)];
  if (byId) return [String(project.id), byId];
  if (project.tankName) {
    const byName = opts.projects[project.tankName];
    if (byName) return [project.tankName, byName];
  }
  return undefined;
}

/**
 * The plugin id handed to ToolkitManager for a record's `plugin_ids`. tk-core
 * matches those patterns (fnmatch, comma-separated) against the id of the
 * program that bootstraps, so a pattern is never passed as the id itself: the
 * first entry, with its wildcards filled in (`basic.*` -> `basic.sgeventd`).
 */
export function concretePluginId(pluginIds: string): string {
  const first = pluginIds.split(',').map((s) => s.trim()).find((s) => s !== '') ?? pluginIds.trim();
  return first
    .replace(/\[!?\^?([^\]]*)\]/g, (m: string, cls: string) => (m.startsWith('[!') || m.startsWith('[^') ? 'x' : cls.charAt(0) || 'x'))
    .replace(/\*/g, 'sgeventd')
    .replace(/\?/g, 's');
}

function nonEmpty(v: string | null | undefined): string | undefined {
  return v !== null && v !== undefined && v.trim() !== '' ? v.trim() : undefined;
}

/**
 * Finds a project's Toolkit configuration and core, logging every step:
 * an explicit `toolkit.projects` entry, then the project's Primary
 * PipelineConfiguration on the site, then `configsRoot/<tank_name>`.
 * Pure over `host` and `site`, so it runs the same for every OS.
 */
export async function resolveProject(
  project: ProjectRef,
  opts: ResolveOptions,
  host: ResolveHost,
  site: ResolveSite | undefined,
): Promise<Resolution> {
  const steps: string[] = [];
  const warnings: string[] = [];
  const lookedIn: string[] = [];
  const P = pathFor(host.platform);
  const who = label(project);

  const entry = findEntry(opts, project);
  if (entry) {
    const [key, e] = entry;
    steps.push(`toolkit.projects.${key}: ${e.mode}`);
    if (e.mode === 'distributed') {
      return {
        mode: 'distributed', project, source: 'projects', python: e.python ?? opts.python, steps, warnings,
        pluginId: e.pluginId, baseConfiguration: e.baseConfiguration, pipelineConfiguration: e.pipelineConfiguration, engine: e.engine,
      };
    }
    return centralized(project, 'projects', e.path, e.python, opts, host, steps, warnings);
  }
  steps.push(`toolkit.projects: no entry for ${who}`);
  lookedIn.push('toolkit.projects');

  if (site) {
    const pc = await site.findPrimaryPipelineConfiguration(project.id);
    lookedIn.push('the Primary PipelineConfiguration on the site');
    if (!pc) {
      steps.push('site: no Primary PipelineConfiguration');
    } else {
      const pluginIds = nonEmpty(pc.plugin_ids) ?? nonEmpty(pc.sg_plugin_ids);
      const descriptor = nonEmpty(pc.descriptor) ?? nonEmpty(pc.sg_descriptor);
      const field = pcPathField(host.platform);
      const pcPath = nonEmpty(pc[field]);
      if (pluginIds !== undefined || descriptor !== undefined) {
        const pluginId = pluginIds === undefined ? undefined : concretePluginId(pluginIds);
        steps.push(`site: PipelineConfiguration ${pc.id} is distributed (plugin_ids ${String(pluginIds)}, descriptor ${String(descriptor)})`
          + (pluginId !== undefined && pluginId !== pluginIds ? `; bootstrapping as plugin id ${pluginId}` : ''));
        return {
          mode: 'distributed', project, source: 'site', python: opts.python, steps, warnings,
          pluginId, descriptor, pipelineConfiguration: pc.id, pipelineConfigurationId: pc.id,
        };
      }
      if (pcPath !== undefined) {
        steps.push(`site: PipelineConfiguration ${pc.id} ${field} = ${pcPath}`);
        return centralized(project, 'site', pcPath, undefined, opts, host, steps, warnings);
      }
      steps.push(`site: PipelineConfiguration ${pc.id} has no ${field}, no plugin_ids and no descriptor`);
    }
  } else {
    steps.push('site: no lookup available');
  }

  if (opts.configsRoot !== undefined && project.tankName) {
    const candidate = P.join(opts.configsRoot, project.tankName);
    lookedIn.push(candidate);
    if (host.exists(P.join(candidate, 'config', 'core', 'roots.yml'))) {
      steps.push(`configsRoot: ${candidate} is a pipeline configuration`);
      return centralized(project, 'configsRoot', candidate, undefined, opts, host, steps, warnings);
    }
    steps.push(`configsRoot: ${candidate} has no config/core/roots.yml`);
  } else {
    steps.push(opts.configsRoot === undefined ? 'configsRoot: not set' : 'configsRoot: project has no tank_name');
  }

  throw new ToolkitError('TK_NO_CONFIG', `no Toolkit configuration for project ${who} (looked in ${lookedIn.join(', ')})`, {
    details: { project: project.id, tankName: project.tankName ?? null, lookedIn, steps },
  });
}

function centralized(
  project: ProjectRef,
  source: ResolutionSource,
  configPath: string,
  entryPython: string | undefined,
  opts: ResolveOptions,
  host: ResolveHost,
  steps: string[],
  warnings: string[],
): CentralizedResolution {
  const P = pathFor(host.platform);
  const rootsYml = P.join(configPath, 'config', 'core', 'roots.yml');
  if (!host.exists(rootsYml)) {
    throw new ToolkitError('TK_NOT_A_CONFIG', `${configPath} is not a pipeline configuration (no ${rootsYml})`, {
      details: { project: project.id, configPath, steps },
    });
  }
  steps.push(`${configPath}: pipeline configuration (config/core/roots.yml)`);
  const installCore = P.join(configPath, 'install', 'core');
  let coreRoot: string;
  let coreSource: CentralizedResolution['coreSource'];
  let coreCfgFile: string | undefined;
  const cfgFile = P.join(installCore, `core_${tkOsName(host.platform)}.cfg`);
  if (host.exists(P.join(installCore, '_core_upgrader.py'))) {
    coreRoot = configPath;
    coreSource = 'localized';
    steps.push(`core: localized (${P.join(installCore, '_core_upgrader.py')})`);
  } else if (host.exists(cfgFile)) {
    coreCfgFile = cfgFile;
    const raw = host.readFile(cfgFile).trim();
    if (raw === '' || raw === 'undefined' || raw === 'None') {
      throw new ToolkitError('TK_CORE_INVALID', `${cfgFile} names no core for this OS (${JSON.stringify(raw)})`, {
        details: { project: project.id, file: cfgFile, value: raw, steps },
      });
    }
    coreRoot = expandUser(expandVars(raw, host.env, host.platform), host.homedir, host.platform);
    if (!host.exists(coreRoot)) {
      throw new ToolkitError('TK_CORE_INVALID', `${cfgFile} names ${coreRoot}, which does not exist`, {
        details: { project: project.id, file: cfgFile, value: coreRoot, steps },
      });
    }
    coreSource = 'core-cfg';
    steps.push(`core: ${cfgFile} -> ${coreRoot}`);
  } else if (opts.studioCore !== undefined) {
    coreRoot = opts.studioCore;
    coreSource = 'studio-core';
    const w = `core: neither ${P.join(installCore, '_core_upgrader.py')} nor ${cfgFile}; falling back to toolkit.studioCore ${coreRoot}`;
    steps.push(w);
    warnings.push(w);
  } else {
    throw new ToolkitError('TK_NO_CORE', `${configPath} has neither a localized core nor ${cfgFile} (and toolkit.studioCore is not set)`, {
      details: { project: project.id, configPath, file: cfgFile, steps },
    });
  }
  const corePython = P.join(coreRoot, 'install', 'core', 'python');
  if (!host.exists(corePython)) {
    throw new ToolkitError('TK_CORE_INVALID', `core ${coreRoot} has no ${corePython}`, {
      details: { project: project.id, coreRoot, file: coreCfgFile ?? null, steps },
    });
  }
  const python = entryPython ?? coreEntry(opts, coreRoot, P)?.python ?? opts.python;
  steps.push(`python: ${python}; sys.path[0] = ${corePython}`);
  const watchFiles = [P.join(coreRoot, 'install', 'core', 'info.yml')];
  if (coreCfgFile !== undefined) watchFiles.push(coreCfgFile);
  return {
    mode: 'centralized', project, source, python, steps, warnings,
    configPath, coreRoot, corePython, coreSource, coreCfgFile,
    watchFiles, watchDirs: [P.join(configPath, 'config', 'core')],
  };
}

function coreEntry(opts: ResolveOptions, coreRoot: string, P: ReturnType<typeof pathFor>): { python: string } | undefined {
  const want = P.normalize(coreRoot).replace(/[\\/]+$/, '');
  for (const [k, v] of Object.entries(opts.cores)) {
    if (P.normalize(k).replace(/[\\/]+$/, '') === want) return v;
  }
  return undefined;
}

/** The text `sgeventd toolkit resolve` prints. */
export function formatResolution(r: Resolution): string {
  const lines = r.steps.map((s, i) => `${i + 1}. ${s}`);
  if (r.mode === 'centralized') {
    lines.push(`=> centralized config ${r.configPath}, core ${r.coreRoot} (${r.coreSource}), python ${r.python}`);
  } else {
    lines.push(`=> distributed (plugin ${String(r.pluginId)}, descriptor ${String(r.descriptor ?? r.baseConfiguration)}), python ${r.python}`);
  }
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}
