// `sgeventd migrate --to-cluster -c sgeventd.yaml`: moves each plugin's
// cursor, unfinished ids and gap backlog from the config's state file into
// the cluster named by its `cluster` section (cluster/migrate.ts). Run it
// with the nodes stopped; running it again is safe.
import { existsSync } from 'node:fs';
import { loadConfig } from '../config/index.ts';
import { clusterNames, connectCluster, migrateToCluster, type PluginToMigrate } from '../cluster/index.ts';
import { scanPluginFolder } from '../plugins/index.ts';
import { SgeventdError } from '../shared/index.ts';
import { openSqliteState, pluginId } from '../state/index.ts';

export interface MigrateToClusterCliOptions {
  config: string;
  force?: boolean;
}

/** Reads the state file, writes the cluster; prints one line per plugin. */
export async function migrateToClusterCommand(o: MigrateToClusterCliOptions, print: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<void> {
  const config = await loadConfig(o.config);
  const cluster = config.cluster;
  if (cluster === undefined) throw new SgeventdError('CLUSTER_NOT_CONFIGURED', `${config.source} has no cluster section: --to-cluster moves state into the cluster it names`);
  if (!existsSync(config.daemon.state)) throw new SgeventdError('MIGRATE_NO_STATE', `no state file at ${config.daemon.state} (daemon.state of ${config.source})`, { details: { state: config.daemon.state } });
  const state = await openSqliteState(config.daemon.state);
  const plugins: PluginToMigrate[] = [];
  try {
    for (const p of await state.loadPlugins()) {
      if (p.lastEventId === null) continue;
      plugins.push({ id: p.id, afterId: p.lastEventId, ids: p.backlog.map((b) => b.eventId), active: p.active, lastError: p.lastError });
    }
  } finally {
    await state.close();
  }
  // A plugin of the folders the state file never saw starts where the newest cursor is, as it would have on the machine.
  const newest = Math.max(-1, ...plugins.map((p) => p.afterId));
  if (newest >= 0) {
    for (const folder of config.plugins) {
      const scan = await scanPluginFolder(folder.path).catch(() => null);
      for (const entry of scan?.plugins ?? []) {
        const id = pluginId({ folder: folder.path, name: entry.name });
        if (entry.kind !== 'refused' && !plugins.some((p) => p.id === id)) plugins.push({ id, afterId: newest, ids: [], active: true, lastError: null });
      }
    }
  }
  const conn = await connectCluster({ nats: cluster.nats });
  try {
    const out = await migrateToCluster({ conn, names: clusterNames(cluster.name, config.site.url), cluster, plugins, force: o.force === true });
    for (const p of plugins) {
      const how = out.written.includes(p.id) ? 'migrated' : 'already migrated';
      print(`${how} ${p.id}: after event ${p.afterId}${p.ids.length > 0 ? `, unfinished or missing ${p.ids.join(' ')}` : ''}`);
    }
    print(plugins.length === 0 ? 'nothing to migrate: no plugin cursor in the state file' : `the cluster's poller publishes events after ${out.pollerAfter}`);
  } finally {
    await conn.close();
  }
}
