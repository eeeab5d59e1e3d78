import type { Command } from 'commander';
import { loadConfig } from '../config/index.ts';
import { SgeventdError } from '../shared/index.ts';
import { matchPluginIds, openSqliteState, type SqliteStateStore } from '../state/index.ts';
import { requestReload, runningDaemon } from './daemon-api.ts';
import { configOption } from './options.ts';
import { setPausedInCluster } from './plugin-cluster.ts';

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

export function registerPluginCommand(program: Command): void {
  const plugin = program.command('plugin').description('manage plugins');
  plugin
    .command('enable <name>')
    .description('bring back a plugin deactivated by an error or paused by `disable`; it resumes at its cursor (a running daemon follows within 2 s)')
    .addOption(configOption())
    .action(async (name: string, opts: { config: string }) => {
      const config = await loadConfig(opts.config);
      const ids = config.cluster !== undefined ? await setPausedInCluster(config, name, false) : await setFlags(opts.config, name, async (store, id) => {
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
      const config = await loadConfig(opts.config);
      const ids = config.cluster !== undefined ? await setPausedInCluster(config, name, true) : await setFlags(opts.config, name, (store, id) => store.setPluginPaused(id, true));
      for (const id of ids) process.stdout.write(`disabled ${id}\n`);
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
