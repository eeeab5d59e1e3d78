// `sgeventd dlq ls|retry|drop` on a cluster: the dead letters live in the
// cluster's KV bucket (cluster/dead-letters.ts); retries are run by whichever
// node owns the plugin. No running node is needed on this machine. A dead
// letter's id here is its event's id.
import type { DaemonConfig } from '../config/index.ts';
import { DeadLetterBook, clusterNames, connectCluster, type ClusterDeadLetter } from '../cluster/index.ts';
import { scanPluginFolder } from '../plugins/index.ts';
import { SgeventdError } from '../shared/index.ts';
import { matchPluginIds, pluginId, type DeadLetterStatus } from '../state/index.ts';

/** Runs `fn` with the cluster's dead letters and the plugin ids `--plugin` names (undefined: all). */
export async function withClusterDeadLetters<T>(
  config: DaemonConfig,
  plugin: string | undefined,
  fn: (book: DeadLetterBook, plugins: string[] | undefined) => Promise<T>,
): Promise<T> {
  const cluster = config.cluster;
  if (cluster === undefined) throw new SgeventdError('CLUSTER_NOT_CONFIGURED', `${config.source} has no cluster section`);
  const conn = await connectCluster({ nats: cluster.nats });
  try {
    const book = await DeadLetterBook.open(conn, clusterNames(cluster.name, config.site.url), cluster.replicas);
    let plugins: string[] | undefined;
    if (plugin !== undefined) {
      const known = new Set((await book.list()).map((d) => d.pluginId));
      for (const folder of config.plugins) {
        const scan = await scanPluginFolder(folder.path).catch(() => null);
        for (const entry of scan?.plugins ?? []) if (entry.kind !== 'refused') known.add(pluginId({ folder: folder.path, name: entry.name }));
      }
      plugins = matchPluginIds(known, plugin);
      if (plugins.length === 0) throw new SgeventdError('DLQ_UNKNOWN_PLUGIN', `no plugin named ${plugin} in the plugin folders or dead letters of ${config.source}`, { details: { plugin } });
    }
    return await fn(book, plugins);
  } finally {
    await conn.close();
  }
}

/** The cluster's dead letters (of `plugins`, with `status`), ordered by plugin and event id. */
export async function listClusterDeadLetters(book: DeadLetterBook, plugins: string[] | undefined, status: DeadLetterStatus | undefined): Promise<ClusterDeadLetter[]> {
  const filter = status === undefined ? {} : { status };
  if (plugins === undefined) return book.list(filter);
  const out: ClusterDeadLetter[] = [];
  for (const p of plugins) out.push(...(await book.list({ ...filter, pluginId: p })));
  return out;
}
