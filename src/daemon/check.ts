import { pluginOptionsFor, type DaemonConfig } from '../config/index.ts';
import { effectiveConcurrency } from '../dispatch/index.ts';
import { scanPluginFolder } from '../plugins/index.ts';
import { describeError } from '../shared/index.ts';
import { noBootstrapCore, runtimeKey, type Resolution } from '../toolkit/index.ts';
import { Assembly } from './assembly.ts';
import { pythonShim } from './python-shim.ts';

export interface CheckLine {
  ok: boolean;
  what: string;
  detail: string;
  /** The error code of a failed check, when it has one. */
  code?: string;
}

/**
 * Checks what the daemon would build, without running it: the site
 * connection, Toolkit resolution of every active project (unless `toolkit`
 * is false) and every plugin's import, through the same parts as the daemon.
 */
export async function check(config: DaemonConfig, opts: { toolkit: boolean } = { toolkit: true }): Promise<CheckLine[]> {
  const parts = await Assembly.open(config, { command: 'check' });
  try {
    const lines = [
      ...(await checkSite(parts)),
      ...checkPython(config),
      ...checkWebhooks(config),
      ...(opts.toolkit ? await checkToolkit(parts) : []),
      ...(await checkPlugins(parts)),
    ];
    // A password in site.url, or a key a plugin's import error carries, is not printed.
    return lines.map((l) => ({ ...l, detail: parts.mask.mask(l.detail) }));
  } finally {
    await parts.close();
    await parts.closeLogs();
  }
}

async function checkSite(parts: Assembly): Promise<CheckLine[]> {
  const { config, site: { client } } = parts;
  try {
    const info = await client.info();
    await client.find('EventLogEntry', [], ['id'], { limit: 1, order: [{ field_name: 'id', direction: 'desc' }] });
    return [{ ok: true, what: 'site', detail: `${config.site.url} answers (version ${JSON.stringify(info['version'])}); script ${config.site.script.name} authenticated` }];
  } catch (err) {
    return [{ ok: false, what: 'site', detail: `${config.site.url}: ${describeError(err)}` }];
  }
}

/** A `toolkit.python` that is a version manager's shim is said (it works, but every Python start pays for the shim). */
function checkPython(config: DaemonConfig): CheckLine[] {
  const shim = pythonShim(config.toolkit.python);
  if (shim === null) return [];
  return [{
    ok: true, what: 'python',
    detail: `toolkit.python ${config.toolkit.python} is a ${shim.manager} shim (${shim.path}): every Python process (each Python plugin, each Toolkit runtime) starts through it, about 0.4 s more per start on a small machine; name the interpreter itself (\`${shim.manager} which python3\`) to skip it`,
  }];
}

/** The webhook receiver as the daemon would start it (the config schema has validated it; secrets are counted, never shown). */
function checkWebhooks(config: DaemonConfig): CheckLine[] {
  const w = config.webhooks;
  if (w === undefined) return [{ ok: true, what: 'webhooks', detail: `off; polling every ${config.daemon.fetchIntervalMs} ms` }];
  const expect = w.expect.length === 0 ? 'nothing (no silent-webhook warning)' : w.expect.map((e) => `${e.entityType}:${e.operations.join('|')}`).join(', ');
  const signed = w.secrets.length === 0 ? 'unsigned deliveries accepted (loopback only)' : `${w.secrets.length} secret(s)`;
  return [{
    ok: true, what: 'webhooks',
    detail: `receiver on http://${w.host}:${w.port}${w.path}, ${signed}; fallback polling every ${w.fallbackPollMs} ms; expect ${expect}; silent after ${w.silentAfterMs} ms`,
  }];
}

/** Toolkit resolution for every active (not archived) project on the site. */
async function checkToolkit(parts: Assembly): Promise<CheckLine[]> {
  let projects: Array<Record<string, unknown>>;
  try {
    projects = await parts.site.client.find('Project', [['archived', 'is_not', true]], ['id', 'name', 'tank_name']);
  } catch (err) {
    return [{ ok: false, what: 'toolkit', detail: `listing projects failed: ${describeError(err)}` }];
  }
  const tk = parts.config.toolkit;
  const lines: CheckLine[] = [{ ok: true, what: 'toolkit runtimes', detail: describeRuntimes(tk) }];
  const resolved: Array<{ line: CheckLine; name: string; res: Resolution }> = [];
  for (const p of projects) {
    const what = `toolkit ${String(p['name'] ?? p['id'])}`;
    try {
      const r = await parts.toolkit.resolve(String(p['id']));
      // Without a bootstrap core the project's first Toolkit event would fail: so does check.
      if (r.mode === 'distributed' && tk.bootstrapCore === undefined) {
        const err = noBootstrapCore(r);
        lines.push({ ok: false, what, detail: `${err.code}: ${err.message}`, code: err.code });
        continue;
      }
      const where = r.mode === 'centralized' ? `${r.configPath} on core ${r.coreRoot}` : `distributed: plugin id ${String(r.pluginId)}, prepared by toolkit.bootstrapCore ${String(tk.bootstrapCore)} at its first event`;
      const line = { ok: true, what, detail: `${where}${r.warnings.length > 0 ? `; ${r.warnings.join('; ')}` : ''}` };
      lines.push(line);
      resolved.push({ line, name: String(p['name'] ?? p['id']), res: r });
    } catch (err) {
      // A project without any Toolkit configuration is common (not every project uses Toolkit): reported, not failed.
      const code = (err as { code?: unknown }).code;
      lines.push({
        ok: code === 'TK_NO_CONFIG', what, detail: code === 'TK_NO_CONFIG' ? `no Toolkit configuration (${describeError(err)})` : describeError(err),
        ...(typeof code === 'string' && code !== 'TK_NO_CONFIG' ? { code } : {}),
      });
    }
  }
  noteSharedRuntimes(resolved, tk);
  return lines;
}

function describeRuntimes(tk: DaemonConfig['toolkit']): string {
  const per = `up to ${tk.maxRuntimesPerProject} runtime(s) per project configuration while its calls queue, ${tk.maxRuntimes} in all`;
  if (tk.isolation === 'swap') return `isolation: swap: one runtime for every project, so all Toolkit work is serial; ${per}`;
  if (!tk.shareCoreRuntimes) return per;
  return `${per}; shareCoreRuntimes: projects on one shared core share its runtimes, so their Toolkit work runs at most ${tk.maxRuntimesPerProject} at once between them (serial per runtime)`;
}

/** Projects whose Toolkit work shares runtimes (shareCoreRuntimes, swap) say with whom. */
function noteSharedRuntimes(resolved: ReadonlyArray<{ line: CheckLine; name: string; res: Resolution }>, tk: DaemonConfig['toolkit']): void {
  const byKey = new Map<string, string[]>();
  const keyOf = new Map<CheckLine, { key: string; mode: string }>();
  for (const { line, name, res } of resolved) {
    if (res.mode !== 'centralized') continue;
    const k = runtimeKey(res, tk, false);
    keyOf.set(line, k);
    byKey.set(k.key, [...(byKey.get(k.key) ?? []), name]);
  }
  for (const { line, name } of resolved) {
    const k = keyOf.get(line);
    if (k === undefined || (k.mode !== 'shared-core' && k.mode !== 'swap')) continue;
    const others = (byKey.get(k.key) ?? []).filter((n) => n !== name);
    line.detail += others.length === 0
      ? `; runtimes shared per ${k.mode === 'swap' ? 'interpreter' : 'core'} (no other project uses them yet)`
      : `; shares its runtimes with ${others.join(', ')}: serial per runtime, at most ${tk.maxRuntimesPerProject} at once between them`;
  }
}

function describeConcurrency(c: ReturnType<typeof effectiveConcurrency>, cluster: DaemonConfig['cluster']): string {
  const own = c.by === 'none' ? 'concurrency: none' : `concurrency: by ${c.by}, max ${c.max}`;
  if (cluster === undefined) return own;
  // Scale-out: only a plugin with lanes can be spread; one order over all events needs one node.
  return c.by === 'none'
    ? `${own}; cluster: runs on one node at a time (high availability only: one order over all events)`
    : `${own}; cluster: spread over the nodes (${cluster.partitions} partitions by project, each on one node at a time)`;
}

/** A Python Toolkit plugin's events run in runtimes of their projects, not in a process of its own. */
function describeKind(kind: string, loaded: object): string {
  if (kind !== 'python') return '';
  return 'usesToolkit' in loaded && loaded.usesToolkit === true ? 'Python, Toolkit (each event in a runtime of its project), ' : 'Python, ';
}

/** Every plugin file loads (thread or process started, registerCallbacks run) and is closed again. */
async function checkPlugins(parts: Assembly): Promise<CheckLine[]> {
  const lines: CheckLine[] = [];
  for (const folder of parts.config.plugins) {
    let scan;
    try {
      scan = await scanPluginFolder(folder.path);
    } catch (err) {
      lines.push({ ok: false, what: `plugins ${folder.path}`, detail: describeError(err) });
      continue;
    }
    for (const entry of scan.plugins) {
      const what = `plugin ${entry.name}`;
      if (entry.kind === 'refused') {
        lines.push({ ok: false, what, detail: entry.error.message });
        continue;
      }
      const host = parts.host(entry, folder, parts.logger);
      try {
        const r = await host.load();
        lines.push(
          r.ok
            ? { ok: true, what, detail: `${describeKind(entry.kind, r)}${r.callbacks.length} callback(s): ${r.callbacks.map((c) => c.name).join(', ')}; ${describeConcurrency(effectiveConcurrency(r, pluginOptionsFor(folder, entry.name).concurrency), parts.config.cluster)}` }
            : { ok: false, what, detail: `${r.error.code}: ${r.error.message}` },
        );
      } finally {
        await host.close();
      }
    }
  }
  return lines;
}
