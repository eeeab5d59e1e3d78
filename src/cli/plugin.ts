import type { Command } from 'commander';
import { loadConfig } from '../config/index.ts';
import { SgeventdError } from '../shared/index.ts';
import { matchPluginIds, openSqliteState } from '../state/index.ts';
import { requestReload, runningDaemon } from './daemon-api.ts';

async function setActive(configPath: string, name: string, active: boolean): Promise<string[]> {
  const config = await loadConfig(configPath);
  const store = await openSqliteState(config.daemon.state);
  try {
    const ids = matchPluginIds((await store.loadPlugins()).map((p) => p.id), name);
    if (ids.length === 0) throw new SgeventdError('PLUGIN_UNKNOWN', `no plugin named ${JSON.stringify(name)} in ${config.daemon.state}`, { details: { name } });
    for (const id of ids) await store.setPluginActive(id, active);
    return ids;
  } finally {
    await store.close();
  }
}

export function registerPluginCommand(program: Command): void {
  const plugin = program.command('plugin').description('manage plugins');
  plugin
    .command('enable <name>')
    .description('reactivate a plugin deactivated by an error; it replays from its cursor')
    .requiredOption('-c, --config <file>', 'sgeventd.yaml or shotgunEventDaemon.conf')
    .action(async (name: string, opts: { config: string }) => {
      for (const id of await setActive(opts.config, name, true)) process.stdout.write(`enabled ${id}\n`);
    });
  plugin
    .command('reload [name]')
    .description('re-import a plugin (default: all) in the running daemon: picks up changed helper modules; a deactivated plugin resumes at its cursor')
    .requiredOption('-c, --config <file>', 'sgeventd.yaml or shotgunEventDaemon.conf')
    .action(async (name: string | undefined, opts: { config: string }) => {
      const { config, url } = await runningDaemon(opts.config);
      const names = await requestReload(config, url, name);
      process.stdout.write(names.length === 0 ? 'nothing to reload\n' : `${names.map((n) => `reloaded ${n}`).join('\n')}\n`);
    });
}
