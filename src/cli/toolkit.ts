import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { loadConfig } from '../config/index.ts';
import type { ToolkitConfig } from '../config/index.ts';
import { SgeventdError } from '../shared/index.ts';
import { formatResolution, resolveProject, siteLookup } from '../toolkit/index.ts';
import type { Resolution, RuntimePoolOptions } from '../toolkit/index.ts';
import { siteClient } from './site-client.ts';
import { fetchStatus, requestRecycle, runningDaemon } from './daemon-api.ts';

// The compiled config section is the pool's options as is.
const _fits = (t: ToolkitConfig): RuntimePoolOptions => t;
void _fits;

/** How PROJECT (an id or a tank_name) resolves under the config at `configPath`. */
export async function runToolkitResolve(configPath: string, project: string): Promise<Resolution> {
  const config = await loadConfig(configPath);
  const sg = siteClient(config);
  try {
    const lookup = siteLookup(sg);
    let id = Number(project);
    let tankName: string | null = null;
    if (!Number.isInteger(id)) {
      const rec = await sg.findOne('Project', [['tank_name', 'is', project]], ['tank_name']);
      if (!rec) throw new SgeventdError('TK_NO_PROJECT', `no project with tank_name ${project} on ${config.site.url}`);
      id = rec.id;
      tankName = project;
    } else {
      tankName = (await lookup.findProject?.(id))?.tank_name ?? null;
    }
    const platform = process.platform === 'win32' ? 'win32' : process.platform === 'darwin' ? 'darwin' : 'linux';
    return await resolveProject({ id, tankName }, config.toolkit, {
      exists: existsSync, readFile: (p) => readFileSync(p, 'utf8'), env: process.env, platform, homedir: homedir(),
    }, lookup);
  } finally {
    await sg.close();
  }
}

export function registerToolkitCommand(program: Command): void {
  const tk = program.command('toolkit').description('Toolkit project runtimes: resolve, ps, recycle');
  tk.command('resolve')
    .description('print how a project finds its Toolkit configuration and core, step by step')
    .requiredOption('-c, --config <file>', 'sgeventd.yaml or shotgunEventDaemon.conf')
    .argument('<project>', 'project id or tank_name')
    .action(async (project: string, opts: { config: string }) => {
      try {
        process.stdout.write(`${formatResolution(await runToolkitResolve(opts.config, project))}\n`);
      } catch (err) {
        // The steps taken before the failure say where it looked; main() prints the coded error.
        const steps = err instanceof SgeventdError && Array.isArray(err.details.steps) ? (err.details.steps as string[]) : [];
        for (const [i, s] of steps.entries()) process.stderr.write(`${i + 1}. ${s}\n`);
        throw err;
      }
    });
  tk.command('ps')
    .description('list the running daemon\'s project runtimes (project, core version, pid, rss, calls, age, state)')
    .requiredOption('-c, --config <file>', 'sgeventd.yaml or shotgunEventDaemon.conf')
    .option('--json', 'print JSON')
    .action(async (opts: { config: string; json?: boolean }) => {
      const { config, url } = await runningDaemon(opts.config);
      const runtimes = (await fetchStatus(config, url)).runtimes;
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(runtimes, null, 2)}\n`);
        return;
      }
      const rows = [['PROJECTS', 'CORE', 'PID', 'RSS MB', 'CALLS', 'AGE s', 'STATE', 'MODE']];
      for (const r of runtimes) {
        rows.push([r.projects.join(','), r.coreVersion ?? '-', String(r.pid ?? '-'), r.rssMb === null ? '-' : r.rssMb.toFixed(0), String(r.calls), (r.ageMs / 1000).toFixed(0), r.state, r.mode]);
      }
      process.stdout.write(`${rows.map((r) => r.join('\t')).join('\n')}\n`);
    });
  tk.command('recycle')
    .description('drain and replace the running daemon\'s runtimes of one project (id or tank_name), or all')
    .requiredOption('-c, --config <file>', 'sgeventd.yaml or shotgunEventDaemon.conf')
    .argument('[project]', 'project id or tank_name (default: all)')
    .action(async (project: string | undefined, opts: { config: string }) => {
      const { config, url } = await runningDaemon(opts.config);
      const n = await requestRecycle(config, url, project);
      process.stdout.write(`recycled ${n} runtime(s)\n`);
    });
}
