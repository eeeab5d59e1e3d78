import { dirname, isAbsolute, resolve } from 'node:path';
import { compileConfig, crossFieldIssues } from './compile.ts';
import { ConfigValidationError } from './errors.ts';
import type { ConfigIssue } from './errors.ts';
import { interpolateEnv } from './interpolate.ts';
import { issuesFromZod } from './issues.ts';
import { isSecretPath, rawConfigSchema } from './schema.ts';
import type { DaemonConfig, LegacyConfig, PluginFolderConfig, ResolvedPluginOptions } from './types.ts';

export interface ParseConfigOptions {
  /** The config file path (relative paths resolve against its folder) or a label such as 'demo'. */
  source: string;
  env?: Readonly<Record<string, string | undefined>>;
  /** Folder relative paths resolve against; default: the folder of `source` when it is a path, else the cwd. */
  baseDir?: string;
  /** Apply `${VAR}` interpolation (YAML); a shotgunEvents conf was already interpolated by ConfigParser. */
  interpolate?: boolean;
  format?: DaemonConfig['format'];
  /** Used by the shotgunEvents reader. */
  secretEnvVars?: readonly string[];
  legacy?: LegacyConfig;
  warnings?: readonly string[];
  /** Renames dotted keys in issues (the shotgunEvents reader names `[section] key`). */
  renameKey?: (key: string) => string;
}

/**
 * Validates and compiles a parsed native config (e.g. YAML already parsed into
 * objects). Throws ConfigValidationError (code CONFIG_INVALID) listing every
 * issue.
 *
 * @example
 * const config = parseConfig({ site: { url: 'http://127.0.0.1:8090', script: { name: 's', key: '${KEY}' } } },
 *   { source: 'demo', env: { KEY: 'k' } });
 */
export function parseConfig(raw: unknown, options: ParseConfigOptions): DaemonConfig {
  const env = options.env ?? process.env;
  const source = options.source;
  const baseDir = options.baseDir ?? (looksLikePath(source) ? dirname(resolve(source)) : process.cwd());
  const rename = options.renameKey ?? ((k: string) => k);
  const issues: ConfigIssue[] = [];
  let value: unknown = raw ?? {};
  const secretEnvVars = [...(options.secretEnvVars ?? [])];
  if (options.interpolate ?? true) {
    const interpolated = interpolateEnv(value, env);
    value = interpolated.value;
    issues.push(...interpolated.issues);
    for (const [path, vars] of interpolated.usedVars) if (isSecretPath(path)) secretEnvVars.push(...vars);
  }
  // Parsed once per start: zod's compiled fast path (code generated per object
  // schema at its first parse) costs more than it saves here (measured: a
  // median of 25 ms against 10 ms for the first parse of a small config).
  const parsed = rawConfigSchema.safeParse(value, { reportInput: true, jitless: true });
  if (!parsed.success) {
    issues.push(...issuesFromZod(parsed.error, rawConfigSchema, rename));
    issues.push(...crossFieldIssues(value).map((i) => ({ ...i, key: rename(i.key), message: i.message.replace(i.key, rename(i.key)) })));
    throw new ConfigValidationError(source, dedupe(issues));
  }
  const compiled = compileConfig(parsed.data, {
    source: looksLikePath(source) ? resolve(source) : source,
    format: options.format ?? 'yaml',
    baseDir,
    env,
    secretEnvVars,
    ...(options.legacy === undefined ? {} : { legacy: options.legacy }),
    warnings: options.warnings ?? [],
  });
  issues.push(...compiled.issues.map((i) => ({ ...i, key: rename(i.key), message: i.message.replace(i.key, rename(i.key)) })));
  if (issues.length > 0 || compiled.config === undefined) throw new ConfigValidationError(source, dedupe(issues));
  return compiled.config;
}

/**
 * The options in force for one plugin of a folder: the folder's options, then
 * the keys that folder's `overrides[pluginName]` sets.
 */
export function pluginOptionsFor(folder: PluginFolderConfig, pluginName: string): ResolvedPluginOptions {
  // The folder's watching settings are not plugin options.
  const { path: _path, overrides, watch: _watch, ...withPoll } = folder;
  const { ['watchPollMs']: _poll, ...base } = withPoll;
  return { ...base, ...(overrides[pluginName] ?? {}) };
}

function looksLikePath(source: string): boolean {
  return isAbsolute(source) || source.includes('/') || /\.(ya?ml|conf|ini|cfg)$/i.test(source);
}

function dedupe(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => (seen.has(i.message) ? false : (seen.add(i.message), true)));
}
