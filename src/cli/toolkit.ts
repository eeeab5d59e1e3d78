import { loadConfig } from '../config/index.ts';
import { connectSite, resolveOnSite } from '../daemon/index.ts';
import { SgeventdError } from '../shared/index.ts';
import { formatResolution, type Resolution, type RuntimeStatus } from '../toolkit/index.ts';
import { fetchStatus, requestRecycle, runningDaemon } from './daemon-api.ts';

/** How PROJECT (an id or a tank_name) resolves under the config at `configPath`. */
export async function runToolkitResolve(configPath: string, project: string): Promise<Resolution> {
  const config = await loadConfig(configPath);
  const site = connectSite(config, { interactive: true });
  try {
    return await resolveOnSite(site.client, config, project);
  } finally {
    await site.close();
  }
}

type RuntimeRow = Pick<RuntimeStatus, 'key' | 'projects' | 'coreVersion' | 'pid' | 'rssMb' | 'calls' | 'ageMs'> & { state: string; mode: string };

/**
 * `sgeventd toolkit ps` as text, one runtime a line. RUNTIME tells a
 * project's runtimes apart (toolkit.maxRuntimesPerProject): the `#n` of its key.
 */
export function formatRuntimeTable(runtimes: readonly RuntimeRow[]): string {
  const rows = [['PROJECTS', 'RUNTIME', 'CORE', 'PID', 'RSS MB', 'CALLS', 'AGE s', 'STATE', 'MODE']];
  for (const r of runtimes) {
    rows.push([
      r.projects.join(','), /#(\d+)$/.exec(r.key)?.[1] ?? '-', r.coreVersion ?? '-', String(r.pid ?? '-'), r.rssMb === null ? '-' : r.rssMb.toFixed(0),
      String(r.calls), (r.ageMs / 1000).toFixed(0), r.state, r.mode,
    ]);
  }
  return `${rows.map((r) => r.join('\t')).join('\n')}\n`;
}

type ClusterNodeRuntimes = { nodeId: string; runtimes: RuntimeRow[] };

/** `toolkit ps` on a cluster node: every node's runtimes (as last asked, every lease check), a NODE column first. */
export function clusterRuntimes(nodes: readonly ClusterNodeRuntimes[], only: string | undefined, json: boolean): string {
  if (only !== undefined && !nodes.some((n) => n.nodeId === only)) {
    throw new SgeventdError('CLUSTER_UNKNOWN_NODE', `no node ${JSON.stringify(only)} answered; nodes: ${nodes.map((n) => n.nodeId).join(', ') || 'none yet'}`, { details: { node: only } });
  }
  const shown = nodes.filter((n) => only === undefined || n.nodeId === only);
  if (json) return `${JSON.stringify(shown.map((n) => ({ node: n.nodeId, runtimes: n.runtimes })), null, 2)}\n`;
  const table = formatRuntimeTable(shown.flatMap((n) => n.runtimes)).split('\n');
  const nodeOf = shown.flatMap((n) => n.runtimes.map(() => n.nodeId));
  return `${table.filter(Boolean).map((line, i) => `${i === 0 ? 'NODE' : nodeOf[i - 1]}\t${line}`).join('\n')}\n`;
}

export interface ToolkitListOptions {
  config: string;
  json?: boolean;
  /** Cluster mode: only this node's runtimes. */
  node?: string;
}

/** `sgeventd toolkit resolve PROJECT`: the steps, or the steps taken before the failure. */
export async function toolkitResolveCommand(project: string, opts: { config: string }): Promise<void> {
  try {
    process.stdout.write(`${formatResolution(await runToolkitResolve(opts.config, project))}\n`);
  } catch (err) {
    // The steps taken before the failure say where it looked; main() prints the coded error.
    const steps = err instanceof SgeventdError && Array.isArray(err.details.steps) ? (err.details.steps as string[]) : [];
    for (const [i, s] of steps.entries()) process.stderr.write(`${i + 1}. ${s}\n`);
    throw err;
  }
}

/** `sgeventd toolkit ps`. */
export async function toolkitPsCommand(opts: ToolkitListOptions): Promise<void> {
  const { config, url } = await runningDaemon(opts.config);
  const doc = await fetchStatus(config, url);
  if (doc.cluster !== undefined) {
    process.stdout.write(clusterRuntimes(doc.cluster.nodes ?? [], opts.node, opts.json === true));
    return;
  }
  if (opts.node !== undefined) throw new SgeventdError('CLUSTER_NOT_CONFIGURED', `--node needs a cluster node; the daemon at ${url} runs alone`, { details: { url } });
  const runtimes = doc.runtimes;
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(runtimes, null, 2)}\n`);
    return;
  }
  process.stdout.write(formatRuntimeTable(runtimes));
}

/** `sgeventd toolkit recycle [PROJECT]`. */
export async function toolkitRecycleCommand(project: string | undefined, opts: { config: string }): Promise<void> {
  const { config, url } = await runningDaemon(opts.config);
  const n = await requestRecycle(config, url, project);
  process.stdout.write(`recycled ${n} runtime(s)\n`);
}
