/**
 * Idle memory: `sgeventd foreground` with 3 and with 13 no-op JS plugins,
 * caught up and idle (polling the head of the log at the default interval),
 * against the local site. Resident memory (VmRSS of the daemon process, its
 * plugin threads included) is sampled once every plugin has handled an event
 * and the daemon has been idle for a while; the increment per further
 * plugin is (RSS with 13 − RSS with 3) / 10. The median of
 * SGEVENTD_BENCH_RUNS runs (default 3) counts. With SGEVENTD_BENCH_BASE naming
 * a checkout of an earlier commit (its node_modules in place), its
 * `bin/sgeventd.mjs` runs in turns with this one (same site, same load).
 * Goals (issue 19): ≤ 150 MB with 3 plugins, ≤ 20 MB per further plugin.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { makeHarness, bulkEvents, type Harness } from '../test/dispatch/harness.ts';
import { BIN, childEnv } from '../test/dispatch/child.ts';
import { median } from './shotgun-events.ts';

const RUNS = Number(process.env['SGEVENTD_BENCH_RUNS'] ?? 3);
/** How long the daemon idles (polling the log's head) before RSS is read. */
const IDLE_MS = Number(process.env['SGEVENTD_BENCH_IDLE_MS'] ?? 15_000);
const BASE = process.env['SGEVENTD_BENCH_BASE'];
const BASE_BIN = BASE === undefined ? undefined : join(BASE, 'bin', 'sgeventd.mjs');

const NOOP_JS = `import { writeFileSync } from 'node:fs';
const name = new URL(import.meta.url).pathname.split('/').pop();
export function registerCallbacks(reg) {
  reg.registerCallback('sgeventd', 'sgeventd-key', () => {
    writeFileSync(process.env.BENCH_MARKS + '/seen-' + name, '1');
  });
}
`;

function rssMb(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

/** One idle daemon with `count` plugins: its RSS once idle. */
async function idleRss(h: Harness, count: number, run: string, bin = BIN): Promise<number> {
  const plugins = join(h.dir, `plugins-${count}`);
  const marks = join(h.dir, `marks-${count}-${run}`);
  await rm(marks, { recursive: true, force: true });
  await mkdir(marks, { recursive: true });
  await mkdir(plugins, { recursive: true, mode: 0o755 });
  await chmod(plugins, 0o755);
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = `noop${i}.mjs`;
    await writeFile(join(plugins, name), NOOP_JS);
    await chmod(join(plugins, name), 0o644);
    names.push(name);
  }
  const yaml = join(h.dir, `memory-${count}-${run}.yaml`);
  await writeFile(yaml, stringify({
    site: { url: h.site.url, script: { name: 'sgeventd', key: '${SGEVENTD_TEST_KEY}' } },
    daemon: { state: join(h.dir, `state-${count}-${run}.db`), pidFile: join(h.dir, `sgeventd-${count}-${run}.pid`) },
    plugins: [{ path: plugins }],
    logging: { dir: join(h.dir, `logs-${count}-${run}`) },
    http: { port: 0 },
  }));
  const newest = h.site.store.lastEventId();
  const child = spawn(process.execPath, [bin, 'foreground', '--no-console', '-c', yaml, '--from', String(newest - 1)], {
    env: { ...childEnv(h), BENCH_MARKS: marks }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const exited = once(child, 'exit');
  try {
    const deadline = Date.now() + 300_000;
    while (!names.every((n) => existsSync(join(marks, `seen-${n}`)))) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the plugins did not all see an event: ${err.slice(-2000)}`);
      await sleep(50);
    }
    await sleep(IDLE_MS);
    if (child.pid === undefined) throw new Error('no daemon pid');
    return rssMb(child.pid).rss;
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

export async function run(): Promise<{ name: string; results: Record<string, number | string>; notes?: string[] }> {
  const results: Record<string, number | string> = { runs: RUNS, 'idle ms before reading': IDLE_MS };
  const h = await makeHarness();
  try {
    bulkEvents(h.site, 5);
    const r1 = (x: number): number => Math.round(x * 10) / 10;
    const summarize = (label: string, three: number[], thirteen: number[]): void => {
      results[`idle RSS MB, 3 JS plugins${label} (median; goal ≤ 150)`] = r1(median(three));
      results[`idle RSS MB, 3 JS plugins${label} (runs)`] = three.map(r1).join(', ');
      results[`idle RSS MB, 13 JS plugins${label} (median)`] = r1(median(thirteen));
      results[`idle RSS MB, 13 JS plugins${label} (runs)`] = thirteen.map(r1).join(', ');
      results[`RSS MB per further idle JS plugin${label} (goal ≤ 20)`] = r1((median(thirteen) - median(three)) / 10);
    };
    const ours = { three: [] as number[], thirteen: [] as number[] };
    const base = { three: [] as number[], thirteen: [] as number[] };
    // With a base checkout: in turns, one run each, so both see the same load.
    for (let r = 0; r < RUNS; r++) {
      ours.three.push(await idleRss(h, 3, `o${r}`));
      if (BASE_BIN !== undefined) base.three.push(await idleRss(h, 3, `b${r}`, BASE_BIN));
      ours.thirteen.push(await idleRss(h, 13, `o${r}`));
      if (BASE_BIN !== undefined) base.thirteen.push(await idleRss(h, 13, `b${r}`, BASE_BIN));
    }
    summarize('', ours.three, ours.thirteen);
    if (BASE_BIN !== undefined) summarize(' [before]', base.three, base.thirteen);
  } finally {
    await h.close();
  }
  return {
    name: 'memory',
    results,
    notes: [
      'RSS of the `sgeventd foreground` process (main thread and plugin threads), caught up and idle, polling the log head once a second; the status server on.',
      'Run from a checkout (TypeScript sources through Node\'s type stripping, with its compile cache).',
      ...(BASE === undefined ? [] : [`[before]: ${BASE}, measured in turns with this checkout.`]),
    ],
  };
}
