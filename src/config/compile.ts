import { hostname } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { Secret } from '../shared/index.ts';
import type { ConfigIssue } from './errors.ts';
import { httpSectionSchema, webhooksSectionSchema, type RawConfig } from './schema.ts';
import type {
  ClusterConfig, DaemonConfig, EmailConfig, HttpConfig, LegacyConfig, PluginFolderConfig, PluginOptions, ToolkitConfig, ToolkitProjectConfig,
  WebhookExpectation, WebhooksConfig,
} from './types.ts';

export interface CompileContext {
  source: string;
  format: DaemonConfig['format'];
  baseDir: string;
  env: Readonly<Record<string, string | undefined>>;
  secretEnvVars: readonly string[];
  legacy?: LegacyConfig;
  warnings: readonly string[];
}

/** Raw (validated, context-free defaults applied) → the compiled, frozen config; checks that span keys. */
export function compileConfig(raw: RawConfig, ctx: CompileContext): { config?: DaemonConfig; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(ctx.baseDir, p));
  // A bare command name (python3) is looked up on PATH; anything with a slash is a path.
  const command = (p: string): string => (p.includes('/') ? abs(p) : p);

  // Folder option defaults live in the schema; a folder's callback timeout and memory limit default to the daemon's.
  const plugins: PluginFolderConfig[] = raw.plugins.map((p) => {
    const { path, overrides, ...options } = p;
    const cleanOverrides: Record<string, Partial<PluginOptions>> = {};
    for (const [name, o] of Object.entries(overrides ?? {})) cleanOverrides[name] = dropUndefined(o);
    return { ...dropUndefined(options), callbackTimeoutMs: options.callbackTimeoutMs ?? raw.daemon.callbackTimeoutMs,
      maxMemoryMb: options.maxMemoryMb ?? raw.daemon.maxPluginMemoryMb, path: abs(path), overrides: cleanOverrides,
      ...dropUndefined({ reactivateAfterMs: options.reactivateAfterMs ?? raw.daemon.reactivateAfterMs }) };
  });

  const e = raw.emails;
  issues.push(...crossFieldIssues(raw));
  const emails: EmailConfig = {
    ...dropUndefined({ ...e, password: undefined }),
    ...(e.password === undefined ? {} : { password: new Secret(e.password) }),
  };

  const h = raw.http;
  const http: HttpConfig = { enabled: h.enabled, host: h.host, port: h.port, historySampleMs: h.historySampleMs, historyWindowMs: h.historyWindowMs, ...(h.token === undefined ? {} : { token: new Secret(h.token) }) };

  const t = raw.toolkit;
  const configsRoot = abs(t.configsRoot ?? ctx.env.SHOTGUN_BASE ?? '/mnt/sgtk/configs');
  const projects: Record<string, ToolkitProjectConfig> = {};
  for (const [key, p] of Object.entries(t.projects)) {
    projects[key] = p.mode === 'centralized'
      ? { mode: 'centralized', path: abs(p.path), ...(p.python === undefined ? {} : { python: command(p.python) }) }
      : { ...dropUndefined(p), ...(p.python === undefined ? {} : { python: command(p.python) }) };
  }
  const cores: Record<string, { python: string }> = {};
  for (const [root, c] of Object.entries(t.cores)) cores[abs(root)] = { python: command(c.python) };
  const toolkit: ToolkitConfig = {
    ...t,
    python: command(t.python),
    configsRoot,
    // Opt-in: Toolkit itself fails when a configuration has neither a localized
    // core nor core_<OS>.cfg; falling back to a studio core is a choice.
    ...(t.studioCore !== undefined ? { studioCore: abs(t.studioCore) } : {}),
    ...(t.bootstrapCore === undefined ? {} : { bootstrapCore: abs(t.bootstrapCore) }),
    ...(t.bundleCache === undefined ? {} : { bundleCache: abs(t.bundleCache) }),
    pythonPath: t.pythonPath.map(abs),
    projects,
    cores,
  };

  const w = raw.webhooks;
  const webhooks: WebhooksConfig | undefined = w === undefined ? undefined : {
    ...w,
    secrets: w.secrets.map((v) => new Secret(v)),
    expect: w.expect.map((entry): WebhookExpectation => {
      const [entityType = '', ops = ''] = entry.split(':');
      return { entityType, operations: [...new Set(ops.split('|'))] as WebhookExpectation['operations'][number][] };
    }),
  };
  const cluster = raw.cluster === undefined ? undefined : compileCluster(raw.cluster, abs);

  if (issues.length > 0) return { issues };
  const config: DaemonConfig = {
    source: ctx.source,
    format: ctx.format,
    site: {
      url: raw.site.url,
      script: { name: raw.site.script.name, key: new Secret(raw.site.script.key) },
      ...(raw.site.proxy === undefined || raw.site.proxy.trim() === '' ? {} : { proxy: raw.site.proxy.trim() }),
      timeoutMs: raw.site.timeoutMs,
      idleCloseMs: raw.site.idleCloseMs,
      maxConnRetries: raw.site.maxConnRetries,
      connRetrySleepMs: raw.site.connRetrySleepMs,
      useSessionUuid: raw.site.useSessionUuid,
    },
    daemon: { ...raw.daemon, state: abs(raw.daemon.state), pidFile: abs(raw.daemon.pidFile) },
    plugins,
    logging: { ...raw.logging, dir: abs(raw.logging.dir) },
    emails,
    toolkit,
    python: { ...raw.python },
    http,
    ...(webhooks === undefined ? {} : { webhooks }),
    ...(cluster === undefined ? {} : { cluster }),
    secretEnvVars: [...new Set(ctx.secretEnvVars)],
    ...(ctx.legacy === undefined ? {} : { legacy: ctx.legacy }),
    warnings: ctx.warnings,
  };
  return { config: deepFreeze(config), issues };
}

/**
 * Rules that span keys. Takes the raw tree loosely (it also runs when the
 * schema failed elsewhere, so every problem is reported at once); defaults
 * are those of the schema.
 */
export function crossFieldIssues(raw: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const obj = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
  const e = obj(obj(raw).emails);
  if (e.enabled === true || e.enabled === 'true') {
    if (e.host === undefined) issues.push({ key: 'emails.host', message: 'emails.host must be an SMTP host when emails.enabled is true, got nothing', expected: 'an SMTP host' });
    if (e.from === undefined) issues.push({ key: 'emails.from', message: 'emails.from must be an address when emails.enabled is true, got nothing', expected: 'an address' });
    if (e.to === undefined || (Array.isArray(e.to) && e.to.length === 0)) {
      issues.push({ key: 'emails.to', message: 'emails.to must list at least one address when emails.enabled is true, got nothing', expected: 'a list of addresses' });
    }
  }
  if (e.password !== undefined && e.username === undefined) {
    issues.push({ key: 'emails.username', message: 'emails.username must be set when emails.password is set, got nothing', expected: 'a user name' });
  }
  const h = obj(obj(raw).http);
  const host = typeof h.host === 'string' ? h.host : httpSectionSchema.parse({}).host;
  if (h.enabled !== false && h.enabled !== 'false' && h.token === undefined && !isLoopback(host)) {
    issues.push({
      key: 'http.token',
      message: `http.token must be set when http.host is not a loopback address, got nothing (http.host is ${JSON.stringify(host)})`,
      expected: 'a bearer token',
    });
  }
  const w = obj(raw).webhooks;
  if (w !== undefined) {
    const wh = obj(w);
    const whHost = typeof wh.host === 'string' ? wh.host : webhooksSectionSchema.parse({}).host;
    if ((wh.secrets === undefined || (Array.isArray(wh.secrets) && wh.secrets.length === 0)) && !isLoopback(whHost)) {
      issues.push({
        key: 'webhooks.secrets',
        message: `webhooks.secrets must list at least one secret when webhooks.host is not a loopback address, got nothing (webhooks.host is ${JSON.stringify(whHost)})`,
        expected: 'a list of secret tokens',
      });
    }
  }
  return issues;
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

function compileCluster(c: NonNullable<RawConfig['cluster']>, abs: (p: string) => string): ClusterConfig {
  const { tls, credentials, password, ...nats } = c.nats;
  return {
    ...c,
    nodeId: c.nodeId ?? `${hostname()}-${process.pid}`,
    nats: {
      ...dropUndefined(nats),
      ...(tls === undefined ? {} : { tls: Object.fromEntries(Object.entries(tls).filter(([, v]) => v !== undefined).map(([k, v]) => [k, abs(v)])) }),
      ...(credentials === undefined ? {} : { credentials: abs(credentials) }),
      ...(password === undefined ? {} : { password: new Secret(password) }),
    },
  };
}

function dropUndefined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !(value instanceof Secret) && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
