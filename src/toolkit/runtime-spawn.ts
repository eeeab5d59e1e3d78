// Which runtime serves a resolved project (its pool key and mode), and what
// a runtime process of a key starts with: its own SHOTGUN_HOME under the
// state folder, the shared working folder, an environment without the
// daemon's secrets, and the init it must answer. The pool (pool.ts) decides
// when a runtime starts; this file decides how.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { runtimeEnv } from './env.ts';
import type { ToolkitLogger } from './log.ts';
import type { RuntimePoolOptions } from './options.ts';
import type { RuntimePoolDeps } from './pool-types.ts';
import type { InitParams } from './protocol.ts';
import type { CentralizedResolution } from './resolve.ts';
import { ProjectRuntime } from './runtime.ts';

/**
 * Which runtimes serve a resolved project: the pool key (projects with one key
 * share its runtimes, so their calls run at most `maxRuntimesPerProject` at
 * once between them) and the runtime mode. `needsEngine`: engine and
 * context calls, which need a per-configuration runtime even on a shared core.
 *
 * @example
 * const { key, mode } = runtimeKey(res, pool.options, false); // e.g. 'config:/studio/cfg|core:/studio/core|python3', 'centralized'
 */
export function runtimeKey(
  res: CentralizedResolution, options: Pick<RuntimePoolOptions, 'isolation' | 'shareCoreRuntimes'>, needsEngine: boolean,
): { key: string; mode: InitParams['mode'] } {
  if (options.isolation === 'swap') return { key: `swap:${res.python}`, mode: 'swap' };
  if (res.coreSource === 'bootstrap') return { key: `config:${res.configPath}|${res.python}`, mode: 'distributed' };
  if (options.shareCoreRuntimes && !needsEngine && res.coreSource !== 'localized') {
    return { key: `core:${res.coreRoot}|${res.python}`, mode: 'shared-core' };
  }
  return { key: `config:${res.configPath}|core:${res.coreRoot}|${res.python}`, mode: 'centralized' };
}

/** One runtime process to start for a key. */
export interface RuntimeSpawn {
  key: string;
  mode: InitParams['mode'];
  python: string;
  /** The project(s) served, for errors and logs. */
  label: string;
  /** The configuration it opens (centralized and distributed runtimes). */
  configPath: string | undefined;
  /** The core's own interpreter when it names one (not for swap). */
  corePython: string | undefined;
  bundleCache: string | undefined;
}

/** What a runtime of `mode` for `key` starts with, from the resolution of the call that needs it. */
export function spawnFor(key: string, mode: InitParams['mode'], res: CentralizedResolution, options: Pick<RuntimePoolOptions, 'python'>): RuntimeSpawn {
  const perProject = mode === 'centralized' || mode === 'distributed';
  return {
    key, mode,
    python: mode === 'swap' ? options.python : res.python,
    label: perProject ? `project ${res.project.id}` : key,
    configPath: perProject ? res.configPath : undefined,
    corePython: mode === 'swap' ? undefined : res.corePython,
    bundleCache: res.bundleCache,
  };
}

/** Starts a runtime process; resolves once it answered init. */
export function spawnRuntime(s: RuntimeSpawn, options: RuntimePoolOptions, deps: RuntimePoolDeps, logger: ToolkitLogger): Promise<ProjectRuntime> {
  const slug = createHash('sha1').update(s.key).digest('hex').slice(0, 12);
  const shotgunHome = path.join(deps.stateDir, 'toolkit', 'shotgun_home', slug);
  const cwd = path.join(deps.stateDir, 'toolkit', 'run');
  mkdirSync(shotgunHome, { recursive: true });
  mkdirSync(cwd, { recursive: true });
  const o = options;
  const { mode, configPath, corePython } = s;
  const env = runtimeEnv(deps.env ?? process.env, {
    configPath,
    shotgunHome,
    secretVars: deps.secretVars ?? [],
    holdsCore: (d) => existsSync(path.join(d, 'tank')) || existsSync(path.join(d, 'sgtk')),
  });
  if (s.bundleCache !== undefined) env.SHOTGUN_BUNDLE_CACHE_PATH = s.bundleCache;
  return ProjectRuntime.start({
    label: s.label,
    python: s.python,
    script: deps.runtimeScript,
    cwd,
    env,
    init: { site: deps.site, mode, configPath, corePython, pythonPath: o.pythonPath, syncPathCache: o.syncPathCache },
    initTimeoutMs: deps.initTimeoutMs ?? 120_000,
    callTimeoutMs: mode === 'bootstrap' ? Math.max(o.callTimeoutMs, deps.initTimeoutMs ?? 120_000) : o.callTimeoutMs,
    queueLimit: o.queueLimit,
    maxMessageBytes: deps.maxMessageBytes ?? 64 * 1024 * 1024,
    maxLogLineBytes: deps.maxLogLineBytes ?? 8192,
    stopTimeoutMs: deps.stopTimeoutMs ?? 5000,
    logger,
  });
}
