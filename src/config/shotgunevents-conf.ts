import { execFile } from 'node:child_process';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ConfigReadError, ConfigValidationError } from './errors.ts';
import type { ConfigIssue } from './errors.ts';
import { parseConfig } from './parse.ts';
import { applyNativeSection, NATIVE_SECTION, resolveNativeKey } from './native-ini.ts';
import { SECRET_PATHS } from './schema.ts';
import type { DaemonConfig, LogLevel } from './types.ts';

const READER = fileURLToPath(new URL('./read_shotgunevents_conf.py', import.meta.url));

const readerOutput = z.union([
  z.object({ fatal: z.object({ type: z.string(), message: z.string() }) }),
  z.object({
    sections: z.record(z.string(), z.record(z.string(), z.string())),
    raw: z.record(z.string(), z.record(z.string(), z.string())),
    errors: z.array(z.object({ section: z.string(), key: z.string(), type: z.string(), message: z.string() })),
  }),
]);
type ReaderResult = Extract<z.output<typeof readerOutput>, { sections: unknown }>;

/** Every key shotgunEvents reads (ConfigParser lower-cases them), per section. */
const KNOWN: Record<string, readonly string[]> = {
  shotgun: ['server', 'name', 'key', 'proxy_server', 'use_session_uuid'],
  daemon: ['pidfile', 'eventidfile', 'logmode', 'logpath', 'logfile', 'logging', 'timing_log', 'conn_retry_sleep', 'max_conn_retries', 'fetch_interval', 'max_event_batch_size'],
  plugins: ['paths'],
  emails: ['enabled', 'server', 'port', 'usetls', 'username', 'password', 'from', 'to', 'subject'],
};

/**
 * Reads an unchanged shotgunEvents conf with python3's own ConfigParser
 * (environment as defaults, so `%(VAR)s` works exactly as in shotgunEvents),
 * then maps every key onto the native config. Relative paths resolve against
 * the conf's folder (shotgunEvents resolved them against its working folder).
 */
export async function loadShotgunEventsConf(path: string, env: Readonly<Record<string, string | undefined>> = process.env): Promise<DaemonConfig> {
  const source = resolve(path);
  const read = await runReader(source, env);
  return mapShotgunEventsConf(read, source, env);
}

async function runReader(source: string, env: Readonly<Record<string, string | undefined>>): Promise<ReaderResult> {
  const python = env.SGEVENTD_PYTHON ?? 'python3';
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = v;
  const stdout = await new Promise<string>((ok, fail) => {
    execFile(python, [READER, source], { env: childEnv, maxBuffer: 16 * 1024 * 1024, timeout: 30_000 }, (err, out, errOut) => {
      // Exit 2 is the reader's own "cannot read" answer, carried on stdout.
      if (err && !(typeof err.code === 'number' && err.code === 2)) {
        fail(new ConfigReadError('CONFIG_PYTHON_FAILED', source, `could not read ${source} with ${python}: ${err.message}${errOut ? `\n${errOut.trim()}` : ''}`, { cause: err, details: { python } }));
      } else ok(out);
    });
  });
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch (cause) {
    throw new ConfigReadError('CONFIG_PYTHON_FAILED', source, `the conf reader printed something that is not JSON`, { cause, details: { python } });
  }
  const parsed = readerOutput.parse(json);
  if ('fatal' in parsed) {
    const code = parsed.fatal.type === 'FileNotFoundError' ? 'CONFIG_NOT_FOUND' : 'CONFIG_SYNTAX';
    throw new ConfigReadError(code, source, `cannot read ${source}: ${parsed.fatal.type}: ${parsed.fatal.message}`, { details: { type: parsed.fatal.type } });
  }
  return parsed;
}

function mapShotgunEventsConf(read: ReaderResult, source: string, env: Readonly<Record<string, string | undefined>>): DaemonConfig {
  const issues: ConfigIssue[] = [];
  const warnings: string[] = [];
  const keyNames = new Map<string, string>();
  const baseDir = dirname(source);
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));

  for (const e of read.errors) {
    // Python's interpolation messages quote the raw value: not for secrets.
    const nativeKey = e.section === NATIVE_SECTION ? resolveNativeKey(e.key) : null;
    const secret = (e.section === 'shotgun' && e.key === 'key') || (e.section === 'emails' && e.key === 'password')
      || (nativeKey !== null && typeof nativeKey !== 'string' && SECRET_PATHS.includes(nativeKey.path.join('.')));
    const why = secret ? `${e.type} (value hidden: secret; a literal % is written %%)` : `${e.type}: ${e.message}`;
    issues.push({ key: `[${e.section}] ${e.key}`, message: `[${e.section}] ${e.key} cannot be read: ${why}` });
  }
  for (const [section, keys] of Object.entries(read.raw)) {
    if (section === NATIVE_SECTION) continue;
    const known = KNOWN[section];
    if (known === undefined) {
      warnings.push(`section [${section}] is not used by shotgunEvents nor sgeventd; ignored`);
      continue;
    }
    for (const k of Object.keys(keys)) if (!known.includes(k)) warnings.push(`[${section}] ${k} is not a shotgunEvents key; ignored`);
  }

  const has = (section: string, key: string): boolean => read.sections[section]?.[key] !== undefined;
  const get = (section: string, key: string): string | undefined => read.sections[section]?.[key];
  const required = (section: string, key: string): string | undefined => {
    const v = get(section, key);
    if (v === undefined && !read.errors.some((e) => e.section === section && e.key === key)) {
      issues.push({ key: `[${section}] ${key}`, message: `[${section}] ${key} must be set, got nothing` });
    }
    return v;
  };
  const int = (section: string, key: string, min = 0): number | undefined => {
    const v = get(section, key);
    if (v === undefined) return undefined;
    // Python's int(): surrounding blanks, a sign, underscores between digits.
    if (/^\s*[+-]?\d+(_\d+)*\s*$/.test(v)) {
      const n = Number(v.trim().replace(/_/g, ''));
      if (n >= min) return n;
    }
    issues.push({ key: `[${section}] ${key}`, message: `[${section}] ${key} must be an integer >= ${min}, got ${JSON.stringify(v)}`, value: v, expected: `an integer >= ${min}` });
    return undefined;
  };
  const bool = (section: string, key: string): boolean | undefined => {
    const v = get(section, key);
    if (v === undefined) return undefined;
    const l = v.trim().toLowerCase();
    if (['1', 'yes', 'true', 'on'].includes(l)) return true;
    if (['0', 'no', 'false', 'off'].includes(l)) return false;
    issues.push({ key: `[${section}] ${key}`, message: `[${section}] ${key} must be a boolean (1/yes/true/on or 0/no/false/off), got ${JSON.stringify(v)}`, value: v, expected: 'a boolean' });
    return undefined;
  };
  const set = (target: Record<string, unknown>, nativeKey: string, field: string, value: unknown, iniKey: string): void => {
    keyNames.set(nativeKey, iniKey);
    if (value !== undefined) target[field] = value;
  };

  const site: Record<string, unknown> = {};
  const script: Record<string, unknown> = {};
  set(site, 'site.url', 'url', required('shotgun', 'server'), '[shotgun] server');
  set(script, 'site.script.name', 'name', required('shotgun', 'name'), '[shotgun] name');
  set(script, 'site.script.key', 'key', required('shotgun', 'key'), '[shotgun] key');
  site.script = script;
  const proxy = get('shotgun', 'proxy_server')?.trim();
  set(site, 'site.proxy', 'proxy', proxy === '' ? undefined : proxy, '[shotgun] proxy_server');
  set(site, 'site.useSessionUuid', 'useSessionUuid', bool('shotgun', 'use_session_uuid'), '[shotgun] use_session_uuid');
  set(site, 'site.maxConnRetries', 'maxConnRetries', int('daemon', 'max_conn_retries', 1), '[daemon] max_conn_retries');
  set(site, 'site.connRetrySleepMs', 'connRetrySleepMs', seconds(int('daemon', 'conn_retry_sleep')), '[daemon] conn_retry_sleep');

  const daemon: Record<string, unknown> = {};
  const eventIdFile = get('daemon', 'eventidfile');
  set(daemon, 'daemon.pidFile', 'pidFile', get('daemon', 'pidfile'), '[daemon] pidFile');
  // The state file lives beside the old event-id file: same folder, same owner, same backups.
  if (eventIdFile !== undefined && eventIdFile.trim() !== '') daemon.state = resolve(dirname(abs(eventIdFile)), 'sgeventd.db');
  set(daemon, 'daemon.fetchIntervalMs', 'fetchIntervalMs', seconds(int('daemon', 'fetch_interval')), '[daemon] fetch_interval');
  set(daemon, 'daemon.maxEventBatchSize', 'maxEventBatchSize', int('daemon', 'max_event_batch_size', 1), '[daemon] max_event_batch_size');

  const logging: Record<string, unknown> = {};
  const logMode = int('daemon', 'logmode');
  if (logMode !== undefined) {
    if (logMode === 0 || logMode === 1) set(logging, 'logging.mode', 'mode', logMode === 0 ? 'single' : 'per-plugin', '[daemon] logMode');
    else issues.push({ key: '[daemon] logMode', message: `[daemon] logMode must be 0 or 1, got ${logMode}`, value: logMode, expected: '0 or 1' });
  }
  // shotgunEvents writes logs in its working folder when logPath is absent.
  set(logging, 'logging.dir', 'dir', get('daemon', 'logpath') ?? '.', '[daemon] logPath');
  set(logging, 'logging.file', 'file', get('daemon', 'logfile'), '[daemon] logFile');
  set(logging, 'logging.level', 'level', pythonLevel(int('daemon', 'logging')), '[daemon] logging');
  logging.timing = get('daemon', 'timing_log') === 'on';

  const paths = (required('plugins', 'paths') ?? '').split(',').map((s) => s.trim());
  const plugins = paths.filter((p) => p !== '').map((path) => ({ path }));
  paths.forEach((_, i) => keyNames.set(`plugins.${i}.path`, '[plugins] paths'));

  const emails: Record<string, unknown> = {};
  if (read.sections.emails !== undefined) {
    set(emails, 'emails.enabled', 'enabled', bool('emails', 'enabled'), '[emails] enabled');
    set(emails, 'emails.host', 'host', get('emails', 'server'), '[emails] server');
    set(emails, 'emails.port', 'port', int('emails', 'port'), '[emails] port');
    // Python's SMTPHandler with secure=() calls starttls() after EHLO.
    set(emails, 'emails.starttls', 'starttls', has('emails', 'usetls') ? bool('emails', 'usetls') : undefined, '[emails] useTLS');
    set(emails, 'emails.username', 'username', get('emails', 'username'), '[emails] username');
    set(emails, 'emails.password', 'password', get('emails', 'password'), '[emails] password');
    set(emails, 'emails.from', 'from', get('emails', 'from'), '[emails] from');
    const to = get('emails', 'to');
    set(emails, 'emails.to', 'to', to === undefined ? undefined : to.split(',').map((s) => s.trim()).filter((s) => s !== ''), '[emails] to');
    set(emails, 'emails.subjectPrefix', 'subjectPrefix', get('emails', 'subject'), '[emails] subject');
  }

  const native = read.raw[NATIVE_SECTION] ?? {};
  const nativeSecrets = Object.keys(native).filter((k) => {
    const key = resolveNativeKey(k);
    return typeof key !== 'string' && SECRET_PATHS.includes(key.path.join('.'));
  });
  const secretEnvVars = [
    ...envRefs(read.raw.shotgun?.key, env, read.raw.shotgun),
    ...envRefs(read.raw.emails?.password, env, read.raw.emails),
    ...nativeSecrets.flatMap((k) => envRefs(native[k], env, native)),
  ];
  const rename = (key: string): string => keyNames.get(key) ?? key;
  const raw: Record<string, Record<string, unknown>> = { site, daemon, logging, emails };
  applyNativeSection(raw, read.sections[NATIVE_SECTION], issues, keyNames);
  (raw as Record<string, unknown>).plugins = plugins;
  let config: DaemonConfig | undefined;
  try {
    config = parseConfig(raw, {
      source,
      env,
      baseDir,
      interpolate: false,
      format: 'shotgunevents',
      secretEnvVars,
      legacy: { ...(eventIdFile === undefined || eventIdFile.trim() === '' ? {} : { eventIdFile: abs(eventIdFile) }), pluginPaths: paths.filter((p) => p !== '') },
      warnings,
      renameKey: rename,
    });
  } catch (err) {
    if (!(err instanceof ConfigValidationError)) throw err;
    // A key already reported by the INI checks (unreadable, not an integer...) is not reported twice.
    const seen = new Set(issues.map((i) => i.key));
    issues.push(...err.issues.filter((i) => !seen.has(i.key)));
  }
  if (issues.length > 0 || config === undefined) throw new ConfigValidationError(source, issues);
  return config;
}

function seconds(n: number | undefined): number | undefined {
  return n === undefined ? undefined : n * 1000;
}

/** Python logging levels (10 DEBUG ... 50 CRITICAL) onto pino's; in-between values round down, so nothing is hidden. */
function pythonLevel(n: number | undefined): LogLevel | undefined {
  if (n === undefined) return undefined;
  if (n < 10) return 'trace';
  if (n < 20) return 'debug';
  if (n < 30) return 'info';
  if (n < 40) return 'warn';
  if (n < 50) return 'error';
  return 'fatal';
}

/** The environment variables a raw ConfigParser value refers to as `%(name)s` (names are matched case-insensitively, as ConfigParser does). */
function envRefs(rawValue: string | undefined, env: Readonly<Record<string, string | undefined>>, sectionKeys: Record<string, string> | undefined): string[] {
  if (rawValue === undefined) return [];
  const out: string[] = [];
  for (const m of rawValue.matchAll(/%\(([^)]+)\)s/g)) {
    const ref = m[1]!.toLowerCase();
    if (sectionKeys !== undefined && ref in sectionKeys) continue;
    for (const name of Object.keys(env)) if (name.toLowerCase() === ref) out.push(name);
  }
  return out;
}
