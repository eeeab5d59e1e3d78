// `sgeventd plugin enable|disable` on a cluster: a control record per plugin
// in NATS, applied by whichever node owns the plugin (now or after a
// failover); no running node is needed on this machine.
import type { DaemonConfig } from '../config/index.ts';
import { ClusterControl, clusterNames, connectCluster } from '../cluster/index.ts';
import { scanPluginFolder } from '../plugins/index.ts';
import { SgeventdError } from '../shared/index.ts';
import { matchPluginIds, pluginId } from '../state/index.ts';

/** Stores enable (paused false) or disable (paused true) for every plugin `name` means; PLUGIN_UNKNOWN when none. */
export async function setPausedInCluster(config: DaemonConfig, name: string, paused: boolean): Promise<string[]> {
  const cluster = config.cluster;
  if (cluster === undefined) throw new SgeventdError('CLUSTER_NOT_CONFIGURED', `${config.source} has no cluster section`);
  const known: string[] = [];
  for (const folder of config.plugins) {
    const scan = await scanPluginFolder(folder.path).catch(() => null);
    for (const entry of scan?.plugins ?? []) if (entry.kind !== 'refused') known.push(pluginId({ folder: folder.path, name: entry.name }));
  }
  const ids = matchPluginIds(known, name);
  if (ids.length === 0) {
    const names = known.map((id) => id.split(/[\\/]/).at(-1)).join(', ') || 'none';
    throw new SgeventdError('PLUGIN_UNKNOWN', `no plugin named ${JSON.stringify(name)} in the plugin folders of ${config.source} (known: ${names})`, { details: { name } });
  }
  const conn = await connectCluster({ nats: cluster.nats });
  try {
    const control = await ClusterControl.open(conn, clusterNames(cluster.name, config.site.url), cluster.replicas);
    for (const id of ids) await control.set(id, paused);
  } finally {
    await conn.close();
  }
  return ids;
}
