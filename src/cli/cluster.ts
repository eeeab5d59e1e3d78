import { daemonSecrets, loadConfig } from '../config/index.ts';
import type { StatusDocument } from '../http/index.ts';
import { SecretMask, SgeventdError } from '../shared/index.ts';
import { daemonUrl, fetchStatus } from './daemon-api.ts';

type ClusterDocument = NonNullable<StatusDocument['cluster']>;

/** This node's view of the cluster, from its status server (`/api/status`). */
export async function clusterStatus(configPath: string): Promise<ClusterDocument> {
  const config = await loadConfig(configPath);
  if (config.cluster === undefined) {
    throw new SgeventdError('CLUSTER_NOT_CONFIGURED', `${configPath} has no cluster section: this daemon is not a cluster node`, { details: { config: configPath } });
  }
  const url = daemonUrl(config);
  if (url === null) {
    throw new SgeventdError('DAEMON_NOT_RUNNING', `no cluster node runs with ${configPath} on this machine (or its status server is off: http.enabled)`, { details: { config: configPath } });
  }
  const doc = await fetchStatus(config, url);
  if (doc.cluster === undefined) {
    throw new SgeventdError('CLUSTER_NOT_CONFIGURED', `the daemon at ${url} is not a cluster node`, { details: { url } });
  }
  return new SecretMask(daemonSecrets(config)).maskJson(doc.cluster);
}

export interface ClusterStatusCliOptions {
  config: string;
  json?: boolean;
}

/** `sgeventd cluster status`. */
export async function clusterStatusCommand(opts: ClusterStatusCliOptions): Promise<void> {
  const s = await clusterStatus(opts.config);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    return;
  }
  const out: string[] = [];
  out.push(`node: ${s.nodeId} (cluster ${s.cluster}, NATS ${s.connected ? 'connected' : 'DISCONNECTED'})`);
  out.push(`stream: ${s.stream}, last message ${s.streamLastSeq ?? 'unknown'}; poller held by ${s.pollerHolder ?? 'nobody'}`);
  out.push('');
  out.push(['NODE', 'HOST', 'PID', 'STARTED', 'PLUGINS HELD', 'RUNTIMES'].join('\t'));
  for (const n of s.nodes ?? []) out.push([n.nodeId, n.host, n.pid, n.startedAt, n.active.join(',') || '-', n.runtimes.length].join('\t'));
  out.push('');
  out.push(['PLUGIN', 'HOLDER', 'THIS NODE', 'SEQ', 'EVENT', 'PENDING', 'LAG', 'IN FLIGHT'].join('\t'));
  for (const p of s.plugins) {
    out.push([p.name, p.holder ?? '-', p.role, p.highSeq ?? '-', p.highId ?? '-', p.pending, p.lag ?? '-', p.inFlight].join('\t'));
  }
  if (s.scale !== undefined) out.push('', ...scaleLines(s.scale));
  process.stdout.write(`${out.join('\n')}\n`);
}

/** Scale-out: each node's load, and the owners of each partition of the spread plugins. */
function scaleLines(scale: NonNullable<ClusterDocument['scale']>): string[] {
  const out = [`partitions: ${scale.partitions} (plugins with concurrency by project or entity are spread over the nodes; by: none runs on one node)`];
  out.push(['NODE', 'ALIVE', 'PARTITIONS', 'ACTIVE PROJECTS', 'RECENT EVENTS', 'LOAD', 'IN FLIGHT', 'RUNTIMES'].join('\t'));
  for (const n of scale.nodes) {
    out.push([n.nodeId, n.alive ? 'yes' : n.leaving ? 'leaving' : `no (${Math.round(n.heartbeatAgeMs / 1000)} s)`, n.partitions.length, n.activeProjects, n.recentEvents, n.load, n.inFlight,
      n.runtimes === null ? '-' : n.runtimes.map((r) => `${r.project}:${r.state}`).join(',') || '-'].join('\t'));
  }
  out.push('', ['PARTITION', 'PLACED ON', 'HOLDERS'].join('\t'));
  for (const o of scale.owners) {
    const holders = Object.entries(o.holders).map(([plugin, node]) => `${plugin}=${node}`).join(' ');
    out.push([o.partition, o.placedOn ?? '-', holders || '-'].join('\t'));
  }
  return out;
}
