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

export interface ToolkitListOptions {
  config: string;
  json?: boolean;
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
  const runtimes = (await fetchStatus(config, url)).runtimes;
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
