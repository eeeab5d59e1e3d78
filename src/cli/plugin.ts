import { existsSync } from 'node:fs';
import { SecretMask, SgeventdError } from '../shared/index.ts';
// Single files, not the folders' index: ls, enable and disable need neither the schema (zod) nor the daemon.
import { matchPluginIds } from '../state/plugin-id.ts';
import { openSqliteState, type SqliteStateStore } from '../state/sqlite.ts';
import { addressFor, daemonUrl, fullConfig } from './daemon-contact.ts';

export interface PluginCliOptions {
  config: string;
  json?: boolean;
}

/** Applies `change` to every stored plugin that `name` means; PLUGIN_UNKNOWN when none. Returns their ids. */
async function setFlags(configPath: string, name: string, change: (store: SqliteStateStore, id: string) => Promise<void>): Promise<string[]> {
  const { address: config } = await addressFor(configPath);
  const store = await openSqliteState(config.daemon.state);
  try {
    const known = (await store.loadPlugins()).map((p) => p.id);
    const ids = matchPluginIds(known, name);
    if (ids.length === 0) {
      const names = known.map((id) => id.split(/[\\/]/).at(-1)).join(', ') || 'none';
      throw new SgeventdError('PLUGIN_UNKNOWN', `no plugin named ${JSON.stringify(name)} in ${config.daemon.state} (known: ${names})`, { details: { name } });
    }
    for (const id of ids) await change(store, id);
    return ids;
  } finally {
    await store.close();
  }
}

/** One plugin as the state file holds it. */
export interface PluginRow {
  plugin: string;
  state: 'active' | 'paused' | 'inactive';
  cursor: number | null;
  backlog: number;
  lastError: string | null;
}

/** The plugins of the state file (none when there is no state file yet); error texts masked. */
export async function listPlugins(configPath: string): Promise<PluginRow[]> {
  const { address: config, secrets } = await addressFor(configPath);
  if (!existsSync(config.daemon.state)) return [];
  const store = await openSqliteState(config.daemon.state);
  try {
    const rows = (await store.loadPlugins()).map((p): PluginRow => ({
      plugin: p.id, state: p.paused ? 'paused' : p.active ? 'active' : 'inactive', cursor: p.lastEventId, backlog: p.backlog.length, lastError: p.lastError,
    }));
    return new SecretMask(secrets).maskJson(rows);
  } finally {
    await store.close();
  }
}

/** `sgeventd plugin ls`. */
export async function pluginListCommand(opts: PluginCliOptions): Promise<void> {
  const rows = await listPlugins(opts.config);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  const out = [['PLUGIN', 'STATE', 'CURSOR', 'BACKLOG', 'LAST ERROR'].join('\t')];
  for (const r of rows) out.push([r.plugin, r.state, r.cursor ?? '-', r.backlog, r.lastError ?? ''].join('\t'));
  process.stdout.write(`${out.join('\n')}\n`);
}

/** `sgeventd plugin enable NAME`. */
export async function pluginEnableCommand(name: string, opts: PluginCliOptions): Promise<void> {
  const { address } = await addressFor(opts.config);
  // A cluster's flags live in NATS: that path uses the whole config.
  const ids = address.cluster !== undefined ? await (await import('./plugin-cluster.ts')).setPausedInCluster(await fullConfig(opts.config), name, false) : await setFlags(opts.config, name, async (store, id) => {
    await store.setPluginPaused(id, false);
    await store.setPluginActive(id, true);
  });
  for (const id of ids) process.stdout.write(`enabled ${id}\n`);
}

/** `sgeventd plugin disable NAME`. */
export async function pluginDisableCommand(name: string, opts: PluginCliOptions): Promise<void> {
  const { address } = await addressFor(opts.config);
  const ids = address.cluster !== undefined ? await (await import('./plugin-cluster.ts')).setPausedInCluster(await fullConfig(opts.config), name, true) : await setFlags(opts.config, name, (store, id) => store.setPluginPaused(id, true));
  for (const id of ids) process.stdout.write(`disabled ${id}\n`);
}

/** `sgeventd plugin reload [NAME]`: in the running daemon. */
export async function pluginReloadCommand(name: string | undefined, opts: PluginCliOptions): Promise<void> {
  const { runningDaemon, requestReload } = await import('./daemon-api.ts');
  const { config, url } = await runningDaemon(opts.config);
  const names = await requestReload(config, url, name);
  process.stdout.write(names.length === 0 ? 'nothing to reload\n' : `${names.map((n) => `reloaded ${n}`).join('\n')}\n`);
}

const QUIET = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * `plugin ack-gap`: the operator accepts that the site culled the events
 * below a plugin's cursor (EVENT_LOG_CULLED). Its cursor moves to just
 * before the oldest event the site keeps, its culled backlog ids go, and it
 * is active again; a running daemon reloads it at once. Returns one line per plugin.
 */
async function acknowledgeGap(configPath: string, name: string): Promise<string[]> {
  const config = await fullConfig(configPath);
  // Loaded here only: the other plugin commands answer without the site client.
  const [{ connectSite }, { Api3EventSource }] = await Promise.all([import('../daemon/site-connection.ts'), import('../source/index.ts')]);
  const site = connectSite(config, { interactive: true });
  let oldest: number;
  try {
    oldest = (await new Api3EventSource(site.client, QUIET).readAfter(0, 1))[0]?.id ?? 0;
  } finally {
    await site.close();
  }
  const lines: string[] = [];
  const acked: string[] = [];
  await setFlags(configPath, name, async (store, id) => {
    const state = await store.getPlugin(id);
    if (state === undefined) return;
    const cursor = state.lastEventId;
    if (cursor === null || oldest <= cursor + 1) {
      lines.push(`${id}: nothing culled below its cursor (${cursor ?? 'none'}; the site's oldest event is ${oldest})`);
      return;
    }
    await store.commit({
      plugins: [{ id, folder: state.folder, name: state.name, lastEventId: oldest - 1, active: true, lastError: null }],
      backlogRemove: state.backlog.filter((b) => b.eventId < oldest).map((b) => ({ pluginId: id, eventId: b.eventId })),
    });
    acked.push(state.name);
    lines.push(`${id}: events ${cursor + 1}–${oldest - 1} acknowledged as culled; it resumes at event ${oldest}`);
  });
  const url = daemonUrl(config);
  // A running daemon takes the new cursor in at once (a reload reads it from the state file).
  if (url !== null) {
    const { requestReload } = await import('./daemon-api.ts');
    for (const plugin of acked) await requestReload(config, url, plugin);
  }
  return lines;
}

/** `sgeventd plugin ack-gap NAME`. */
export async function pluginAckGapCommand(name: string, opts: PluginCliOptions): Promise<void> {
  process.stdout.write(`${(await acknowledgeGap(opts.config, name)).join('\n')}\n`);
}
