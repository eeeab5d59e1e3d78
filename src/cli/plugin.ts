import type { Command } from 'commander';
import { loadConfig } from '../config/index.ts';
import { SgeventdError } from '../shared/index.ts';
import { matchPluginIds, openSqliteState, type SqliteStateStore } from '../state/index.ts';
import { connectSite } from '../daemon/index.ts';
import { Api3EventSource } from '../source/index.ts';
import { daemonUrl, requestReload, runningDaemon } from './daemon-api.ts';
import { configOption } from './options.ts';

/** Applies `change` to every stored plugin that `name` means; PLUGIN_UNKNOWN when none. Returns their ids. */
async function setFlags(configPath: string, name: string, change: (store: SqliteStateStore, id: string) => Promise<void>): Promise<string[]> {
  const config = await loadConfig(configPath);
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

const QUIET = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * `plugin ack-gap`: the operator accepts that the site culled the events
 * below a plugin's cursor (EVENT_LOG_CULLED). Its cursor moves to just
 * before the oldest event the site keeps, its culled backlog ids go, and it
 * is active again; a running daemon reloads it at once. Returns one line per plugin.
 */
async function acknowledgeGap(configPath: string, name: string): Promise<string[]> {
  const config = await loadConfig(configPath);
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
  if (url !== null) for (const plugin of acked) await requestReload(config, url, plugin);
  return lines;
}

export function registerPluginCommand(program: Command): void {
  const plugin = program.command('plugin').description('manage plugins');
  plugin
    .command('enable <name>')
    .description('bring back a plugin deactivated by an error or paused by `disable`; it resumes at its cursor (a running daemon follows within 2 s)')
    .addOption(configOption())
    .action(async (name: string, opts: { config: string }) => {
      const ids = await setFlags(opts.config, name, async (store, id) => {
        await store.setPluginPaused(id, false);
        await store.setPluginActive(id, true);
      });
      for (const id of ids) process.stdout.write(`enabled ${id}\n`);
    });
  plugin
    .command('disable <name>')
    .description('pause a plugin until `enable`, across restarts: its thread stops after the event in hand, its cursor stays (a running daemon follows within 2 s)')
    .addOption(configOption())
    .action(async (name: string, opts: { config: string }) => {
      for (const id of await setFlags(opts.config, name, (store, id) => store.setPluginPaused(id, true))) process.stdout.write(`disabled ${id}\n`);
    });
  plugin
    .command('ack-gap <name>')
    .description('accept that the site culled events below a plugin\'s cursor (EVENT_LOG_CULLED): it resumes at the oldest event the site keeps')
    .addOption(configOption())
    .action(async (name: string, opts: { config: string }) => {
      process.stdout.write(`${(await acknowledgeGap(opts.config, name)).join('\n')}\n`);
    });
  plugin
    .command('reload [name]')
    .description('re-import a plugin (default: all) in the running daemon: picks up changed helper modules; a deactivated plugin resumes at its cursor')
    .addOption(configOption())
    .action(async (name: string | undefined, opts: { config: string }) => {
      const { config, url } = await runningDaemon(opts.config);
      const names = await requestReload(config, url, name);
      process.stdout.write(names.length === 0 ? 'nothing to reload\n' : `${names.map((n) => `reloaded ${n}`).join('\n')}\n`);
    });
}
