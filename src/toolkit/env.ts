import path from 'node:path';

export interface RuntimeEnvOptions {
  /** TANK_CURRENT_PC; left unset for shared-core and swap runtimes. */
  configPath?: string | undefined;
  shotgunHome: string;
  /** Variables the daemon's config read secrets from: never passed on. */
  secretVars: readonly string[];
  /** Whether a folder holds a `tank` or `sgtk` package (injected for tests). */
  holdsCore: (dir: string) => boolean;
}

/**
 * The environment of a runtime: the daemon's, minus whatever would point
 * Python at another core (PYTHONPATH entries holding tank/sgtk, PYTHONHOME,
 * an inherited TANK_CURRENT_PC) or leak the daemon's own credentials.
 */
export function runtimeEnv(base: Readonly<Record<string, string | undefined>>, opts: RuntimeEnvOptions): Record<string, string> {
  const drop = new Set(['PYTHONHOME', 'TANK_CURRENT_PC', 'PYTHONSTARTUP', ...opts.secretVars]);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) {
    if (v !== undefined && !drop.has(k)) env[k] = v;
  }
  if (env.PYTHONPATH !== undefined) {
    const kept = env.PYTHONPATH.split(path.delimiter).filter((p) => p !== '' && !opts.holdsCore(p));
    if (kept.length > 0) env.PYTHONPATH = kept.join(path.delimiter);
    else delete env.PYTHONPATH;
  }
  if (opts.configPath !== undefined) env.TANK_CURRENT_PC = opts.configPath;
  env.SHOTGUN_HOME = opts.shotgunHome;
  env.PYTHONUNBUFFERED = '1';
  env.PYTHONIOENCODING = 'utf-8';
  return env;
}
