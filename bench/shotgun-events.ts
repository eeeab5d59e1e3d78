/**
 * shotgunEvents itself, for the benches that compare against it: its sources
 * and the official `shotgun_api3` are fetched outside the repository and named
 * by SGEVENTD_BENCH_SHOTGUNEVENTS (the folder holding shotgunEventDaemon.py,
 * daemonizer.py and importlib_wrapper.py) and SGEVENTD_BENCH_PYTHONPATH (the
 * folder holding shotgun_api3).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface ShotgunEventsSources {
  sources: string;
  pythonPath: string;
}

/** The fetched shotgunEvents and shotgun_api3, or null when the environment does not name them. */
export function shotgunEventsSources(): ShotgunEventsSources | null {
  const sources = process.env['SGEVENTD_BENCH_SHOTGUNEVENTS'];
  const pythonPath = process.env['SGEVENTD_BENCH_PYTHONPATH'];
  return sources && pythonPath && existsSync(join(sources, 'shotgunEventDaemon.py')) ? { sources, pythonPath } : null;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

export interface ShotgunEventsRun {
  child: ChildProcess;
  output: () => string;
  alive: () => boolean;
  kill: () => void;
}

/**
 * Starts `shotgunEventDaemon.py foreground` in `dir` (a fresh folder) with its
 * plugin folder `plugins`, the site's script `sgeventd`, polling once a second
 * (its default), and a stored cursor at `fromId` for each plugin named in
 * `pluginNames` (a cursor of 0 counts as "no cursor" there: give it a real id).
 */
export async function startShotgunEvents(opts: {
  sge: ShotgunEventsSources; dir: string; plugins: string; pluginNames: readonly string[]; siteUrl: string; fromId: number; env?: NodeJS.ProcessEnv;
}): Promise<ShotgunEventsRun> {
  const { sge, dir, plugins } = opts;
  await mkdir(dir, { recursive: true });
  for (const f of ['shotgunEventDaemon.py', 'daemonizer.py', 'importlib_wrapper.py']) {
    if (existsSync(join(sge.sources, f))) await copyFile(join(sge.sources, f), join(dir, f));
  }
  await writeFile(join(dir, 'shotgunEventDaemon.conf'), `[daemon]
pidFile: ${dir}/sge.pid
eventIdFile: ${dir}/sge.id
logMode: 0
logPath: ${dir}
logFile: sge.log
logging: 30
timing_log: off
conn_retry_sleep = 1
max_conn_retries = 5
fetch_interval = 1
max_event_batch_size = 500

[shotgun]
server: ${opts.siteUrl}
name: sgeventd
key: sgeventd-key
proxy_server:
use_session_uuid: False

[plugins]
paths: ${plugins}

[emails]
enabled: False
`);
  execFileSync('python3', ['-c', `import pickle, sys, json
pickle.dump({sys.argv[1]: dict((n, (int(sys.argv[2]), {})) for n in json.loads(sys.argv[4]))}, open(sys.argv[3], "wb"), protocol=pickle.HIGHEST_PROTOCOL)`,
  plugins, String(opts.fromId), join(dir, 'sge.id'), JSON.stringify(opts.pluginNames)]);
  const child = spawn('python3', [join(dir, 'shotgunEventDaemon.py'), 'foreground'], {
    cwd: dir, stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env['PATH'], HOME: dir, PYTHONPATH: sge.pythonPath, ...opts.env },
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  return {
    child,
    output: () => out,
    alive: () => child.exitCode === null && child.signalCode === null,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
