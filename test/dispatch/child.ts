import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { Harness } from './harness.ts';

export const BIN = fileURLToPath(new URL('../../bin/sgeventd.mjs', import.meta.url));

/** Writes an sgeventd.yaml for the harness's site, state and plugin folder; returns its path. */
export async function writeYaml(h: Harness, daemon: Record<string, unknown> = {}, plugins: Record<string, unknown> = {}, rest: Record<string, unknown> = {}): Promise<string> {
  const file = join(h.dir, 'sgeventd.yaml');
  await writeFile(file, stringify({
    site: { url: h.site.url, script: { name: 'sgeventd', key: '${SGEVENTD_TEST_KEY}' }, connRetrySleepMs: 50, maxConnRetries: 3 },
    daemon: { state: join(h.dir, 'state.db'), pidFile: join(h.dir, 'sgeventd.pid'), fetchIntervalMs: 50, ...daemon },
    plugins: [{ path: h.plugins, ...plugins }],
    logging: { dir: join(h.dir, 'logs'), level: 'warn' },
    http: { enabled: false },
    ...rest,
  }));
  return file;
}

export function childEnv(h: Harness): NodeJS.ProcessEnv {
  return { PATH: process.env['PATH'], HOME: process.env['HOME'], SGEVENTD_TEST_KEY: 'sgeventd-key', SGEVENTD_TEST_RECORD: h.record };
}

export interface DaemonChild {
  child: ChildProcess;
  output(): string;
  /** SIGKILL, and wait for the exit. */
  kill9(): Promise<void>;
  /** SIGTERM (graceful stop), and wait for the exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
}

/** `sgeventd foreground --no-console -c <yaml> [args]` as a child process. */
/** `bin`: another checkout's bin/sgeventd.mjs (benches compare commits in turns). */
export function spawnDaemon(h: Harness, yaml: string, args: string[] = [], env: NodeJS.ProcessEnv = childEnv(h), pidFile = join(h.dir, 'sgeventd.pid'), bin = BIN): DaemonChild {
  const child = spawn(process.execPath, [bin, 'foreground', '--no-console', '-c', yaml, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(child, 'exit');
  return {
    child,
    output: () => out,
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop(timeoutMs = 60_000) {
      // SIGTERM before the daemon owns its signals would kill it by the default
      // action: wait until it wrote its pid file (written after the handlers).
      await ownsSignals(child, pidFile, timeoutMs);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const [code] = (await exited) as [number | null];
      clearTimeout(timer);
      return code;
    },
  };
}

/** Resolves once `child` wrote its pid into `pidFile` (or exited, or `timeoutMs` passed). */
async function ownsSignals(child: ChildProcess, pidFile: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (child.exitCode === null && child.signalCode === null && Date.now() < until) {
    try {
      if (Number(readFileSync(pidFile, 'utf8').trim()) === child.pid) return;
    } catch {
      // not written yet
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Peak resident set size of a live process, in MiB (Linux /proc VmHWM). */
export function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m?.[1] === undefined) throw new Error(`no VmHWM for ${pid}`);
  return Number(m[1]) / 1024;
}

/** Lines "<plugin> <id> ..." of the record file grouped by plugin (partial lines ignored). */
export function idsByPlugin(recs: string[][]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const r of recs) {
    if (r.length < 4 || r[0] === undefined || !/^\d+$/.test(r[1] ?? '')) continue;
    let list = out.get(r[0]);
    if (list === undefined) out.set(r[0], (list = []));
    list.push(Number(r[1]));
  }
  return out;
}
