/**
 * The real-work scenario (realwork.bench.ts: a TS plugin reading the new shot
 * and writing its description, two site round trips per event, a site that
 * answers in 50 ms, `concurrency: { by: project, max: 16 }`) through the
 * cluster (3 `sgeventd foreground` nodes, 3 nats-server 2.9.10 processes, R3,
 * the default lease, partitions and placement) against one machine
 * (`sgeventd foreground` with its SQLite state), in turns: one machine,
 * cluster, one machine, cluster... so both see the same load.
 *
 * Each turn has its own local site (the demo seed and eight more projects)
 * and its own daemon or cluster. Start-up is reported apart: from the
 * spawn of the daemon (for the cluster: of its NATS servers, site and
 * nodes) until a warm-up round (one shot per project) has every
 * description written. Then the backlog (SHOTS shots
 * over the ten projects) is written to the site in one transaction, and the
 * time runs from that moment (its events are in the log: the first event
 * published) to the last description seen on the site (polled every 20 ms).
 * Both poll the log every SGEVENTD_BENCH_FETCH_MS (default 200 ms).
 *
 * SGEVENTD_BENCH_RUNS sets the pairs of turns (default 2),
 * SGEVENTD_BENCH_REALWORK_SHOTS the backlog (default 2,000);
 * SGEVENTD_BENCH_NODE_OPTIONS is handed to the daemons' Node as NODE_OPTIONS
 * (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile a turn).
 * The CPU time of each process over the backlog (from /proc) is reported by
 * kind: where the cluster's extra time goes when the cores are the limit.
 * Run: `npm run bench -- cluster-realwork`.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { DEFAULT_SCRIPT, type RunningSite } from '../src/site/index.ts';
import { onCleanup, tempDir, withSite, type Cleanup } from '../test/support/index.ts';
import { clusterBed } from '../test/cluster/cluster-bed.ts';
import { benchProjects, describedCount, TS_PLUGIN, writeShots, type Backlog } from './realwork.bench.ts';
import { median } from './shotgun-events.ts';
import type { BenchResult } from './run.ts';

const SHOTS = Number(process.env['SGEVENTD_BENCH_REALWORK_SHOTS'] ?? 2000);
const LATENCY_MS = Number(process.env['SGEVENTD_BENCH_LATENCY_MS'] ?? 50);
const RUNS = Number(process.env['SGEVENTD_BENCH_RUNS'] ?? 2);
const FETCH_MS = Number(process.env['SGEVENTD_BENCH_FETCH_MS'] ?? 200);
const CONCURRENCY = { by: 'project', max: 16 } as const;
const RUN_TIMEOUT_MS = 600_000;
const BIN = fileURLToPath(new URL('../bin/sgeventd.mjs', import.meta.url));

interface Turn {
  mode: 'one machine' | 'cluster';
  /** Spawn → the warm-up round described. */
  startupMs: number;
  /** Backlog written → last description. */
  totalMs: number;
  /** First description of the backlog → last. */
  workMs: number;
  /** Lease claims logged by the nodes during the backlog (partitions moved by placement); 0 on one machine. */
  claims: number;
  load: string;
  /** CPU seconds used during the backlog, by process kind (the bench process holds the site). */
  cpu: Record<string, number>;
  /** Writes to the lease streams during the backlog (cursor commits and renewals, R3); mean bytes of a stored record 3 s into it. */
  leaseWrites: { messages: number; bytes: number };
  /** CPU seconds by kind over IDLE_MS with nothing to do, after the warm-up (the cost of running at all). */
  idle: Record<string, number>;
}

const TICKS_PER_S = 100;
const IDLE_MS = 5000;

/** CPU by kind over IDLE_MS of waiting with no event written. */
async function idleCpu(): Promise<Record<string, number>> {
  const meter = cpuMeter();
  await sleep(IDLE_MS);
  return meter();
}

/** CPU ticks (user + system) of this process's children, by pid, with their kind ('node' or 'nats-server'), from /proc. */
function childTicks(): Map<number, { kind: string; ticks: number }> {
  const out = new Map<number, { kind: string; ticks: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    // pid (comm) state ppid ... utime(14) stime(15): fields after the closing parenthesis.
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const f = stat.slice(close + 2).split(' ');
    if (Number(f[1]) !== process.pid) continue;
    out.set(Number(name), { kind: comm.startsWith('nats') ? 'nats-server' : 'node', ticks: Number(f[11]) + Number(f[12]) });
  }
  return out;
}

/** Messages and bytes stored so far in the cluster's lease streams (every fenced write: commits, renewals, claims). */
async function leaseTotals(urls: readonly string[], prefix: string): Promise<{ messages: number; bytes: number; stored: number }> {
  const nc = await connect({ servers: [...urls] });
  try {
    const jsm = await jetstreamManager(nc);
    let messages = 0;
    let bytes = 0;
    let stored = 0;
    for await (const si of jsm.streams.list()) {
      if (!si.config.name.startsWith(prefix)) continue;
      // Limits keep only the last record of a lease: the last sequence counts every write.
      messages += si.state.last_seq;
      bytes += si.state.bytes;
      stored += si.state.messages;
    }
    return { messages, bytes, stored };
  } finally {
    await nc.close();
  }
}

/** Starts a CPU count over this process and its children; the returned function ends it (CPU seconds by kind). */
function cpuMeter(): () => Record<string, number> {
  const before = childTicks();
  const self = process.cpuUsage();
  return () => {
    const used: Record<string, number> = {};
    for (const [pid, now] of childTicks()) {
      const d = (now.ticks - (before.get(pid)?.ticks ?? 0)) / TICKS_PER_S;
      used[now.kind] = (used[now.kind] ?? 0) + d;
    }
    const s = process.cpuUsage(self);
    used['bench + site'] = (s.user + s.system) / 1e6;
    return used;
  };
}

/** Waits until every shot of `b` has its description; returns when the first and the last appeared. */
async function described(site: RunningSite, b: Backlog, what: () => string): Promise<{ first: number; last: number }> {
  const deadline = performance.now() + RUN_TIMEOUT_MS;
  let first: number | null = null;
  for (;;) {
    const n = describedCount(site, b);
    const now = performance.now();
    if (n > 0 && first === null) first = now;
    if (n >= b.shotIds.length) return { first: first ?? now, last: now };
    if (now > deadline) throw new Error(`not every shot described in ${RUN_TIMEOUT_MS} ms (${n}/${b.shotIds.length}): ${what().slice(-2000)}`);
    await sleep(20);
  }
}

/** Warm-up rounds of one shot per project until one round is described in full (a round written before the plugin placed its cursor is not). */
async function warmUp(site: RunningSite, projects: readonly number[], what: () => string): Promise<void> {
  for (let round = 0; ; round++) {
    const b = writeShots(site, projects, projects.length, `warm${round}-`);
    const deadline = performance.now() + 30_000;
    while (describedCount(site, b) < b.shotIds.length) {
      if (performance.now() > deadline) break;
      await sleep(20);
    }
    if (describedCount(site, b) >= b.shotIds.length) return;
    if (round >= 5) throw new Error(`warm-up not described after ${round + 1} rounds: ${what().slice(-2000)}`);
  }
}

function pluginFile(dir: string): string {
  const folder = join(dir, 'plugin-src');
  mkdirSync(folder, { recursive: true, mode: 0o755 });
  const file = join(folder, 'describe_shot.ts');
  writeFileSync(file, TS_PLUGIN);
  chmodSync(file, 0o644);
  return file;
}

const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ');

async function oneMachine(t: Cleanup): Promise<Turn> {
  const site = await withSite(t, { seed: 'demo', latencyMs: LATENCY_MS });
  const dir = tempDir(t, 'sgeventd-rw1-');
  const plugins = join(dir, 'plugins');
  mkdirSync(plugins, { mode: 0o755 });
  chmodSync(plugins, 0o755);
  writeFileSync(join(plugins, 'describe_shot.ts'), TS_PLUGIN);
  chmodSync(join(plugins, 'describe_shot.ts'), 0o644);
  const projects = benchProjects(site.site);
  const yaml = join(dir, 'sgeventd.yaml');
  writeFileSync(yaml, stringify({
    site: { url: site.url, script: { name: DEFAULT_SCRIPT.name, key: '${SGEVENTD_TEST_KEY}' }, connRetrySleepMs: 50 },
    daemon: { state: join(dir, 'state.db'), pidFile: join(dir, 'sgeventd.pid'), fetchIntervalMs: FETCH_MS },
    plugins: [{ path: plugins, concurrency: CONCURRENCY }],
    logging: { dir: join(dir, 'logs'), level: 'info' },
    http: { enabled: false },
  }));
  const from = site.site.store.lastEventId();
  const t0 = performance.now();
  // With its console lines, as the cluster bed's nodes run (the same logging work on both sides).
  const child = spawn(process.execPath, [BIN, 'foreground', '-c', yaml, '--from', String(from)], {
    env: {
      PATH: process.env['PATH'], HOME: process.env['HOME'], SGEVENTD_TEST_KEY: DEFAULT_SCRIPT.key,
      ...(process.env['SGEVENTD_BENCH_NODE_OPTIONS'] ? { NODE_OPTIONS: process.env['SGEVENTD_BENCH_NODE_OPTIONS'] } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(child, 'exit');
  onCleanup(t, async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  await warmUp(site.site, projects, () => out);
  const startupMs = performance.now() - t0;
  const idle = await idleCpu();
  const before = load();
  const b = writeShots(site.site, projects, SHOTS);
  const t1 = performance.now();
  const meter = cpuMeter();
  const d = await described(site.site, b, () => out);
  const cpu = meter();
  return { mode: 'one machine', startupMs, totalMs: d.last - t1, workMs: d.last - d.first, claims: 0, load: `${before} → ${load()}`, cpu, idle, leaseWrites: { messages: 0, bytes: 0 } };
}

async function cluster(t: Cleanup): Promise<Turn> {
  const dir = tempDir(t, 'sgeventd-rw3-');
  const t0 = performance.now();
  const bed = await clusterBed(t, {
    plugins: [], pluginFiles: [pluginFile(dir)], nodes: 3, folder: { concurrency: CONCURRENCY },
    site: { seed: 'demo', latencyMs: LATENCY_MS },
    // The product's defaults, not the tests' short ones.
    daemon: { fetchIntervalMs: FETCH_MS, stateFlushMs: 200 },
    lease: { ttlMs: 15000, renewMs: 2000, checkMs: 3000, marginMs: 2000 },
    cluster: { partitions: 32 },
  });
  const output = (): string => bed.nodeIds.map((_, i) => bed.output(i)).join('\n');
  const claims = (): number => output().split('\n').filter((l) => l.includes('cluster: lease acquired')).length;
  const projects = benchProjects(bed.site.site);
  await bed.allHeld();
  await warmUp(bed.site.site, projects, output);
  const startupMs = performance.now() - t0;
  const idle = await idleCpu();
  const before = load();
  const claimed = claims();
  const leasePrefix = bed.names.leaseStream('x').slice(0, -1);
  const writesBefore = await leaseTotals(bed.nats.urls, leasePrefix);
  const b = writeShots(bed.site.site, projects, SHOTS);
  const t1 = performance.now();
  const meter = cpuMeter();
  // A failed count (the turn failed and its servers stopped) is not the turn's error.
  const early = sleep(3000).then(() => leaseTotals(bed.nats.urls, leasePrefix)).catch(() => ({ messages: 0, bytes: 0, stored: 0 }));
  const d = await described(bed.site.site, b, output);
  const cpu = meter();
  const mid = await early;
  const writesAfter = await leaseTotals(bed.nats.urls, leasePrefix);
  const leaseWrites = { messages: writesAfter.messages - writesBefore.messages, bytes: mid.bytes / Math.max(1, mid.stored) };
  // Profiled nodes write their profiles on a clean exit only.
  if (process.env['SGEVENTD_BENCH_NODE_OPTIONS']) for (let i = 0; i < bed.nodeIds.length; i++) await bed.kill(i, 'SIGTERM');
  return { mode: 'cluster', startupMs, totalMs: d.last - t1, workMs: d.last - d.first, claims: claims() - claimed, load: `${before} → ${load()}`, cpu, idle, leaseWrites };
}

/** One turn with its own cleanup (site, daemon or nodes and NATS servers stopped before the next turn). */
async function turn(run: (t: Cleanup) => Promise<Turn>): Promise<Turn> {
  const steps: Array<() => unknown> = [];
  const t: Cleanup = { after: (fn) => { steps.push(fn); } };
  try {
    return await run(t);
  } finally {
    for (const step of steps.reverse()) await step();
  }
}

const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, v) => a + v, 0);
const seconds = (ms: number): number => Math.round(ms / 10) / 100;
const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;

export async function run(): Promise<BenchResult> {
  const results: Record<string, number | string> = { shots: SHOTS, projects: 10, 'site latency ms': LATENCY_MS, 'poll interval ms': FETCH_MS, pairs: RUNS, 'load average at start': load() };
  const turns: Turn[] = [];
  for (let r = 0; r < RUNS; r++) {
    turns.push(await turn(oneMachine));
    turns.push(await turn(cluster));
  }
  const of = (mode: Turn['mode']): Turn[] => turns.filter((x) => x.mode === mode);
  for (const mode of ['one machine', 'cluster'] as const) {
    const ts = of(mode);
    results[`${mode}: s, backlog written to last callback (median)`] = seconds(median(ts.map((x) => x.totalMs)));
    results[`${mode}: s, backlog written to last callback (turns)`] = ts.map((x) => seconds(x.totalMs).toFixed(2)).join(', ');
    results[`${mode}: s, first to last callback (turns)`] = ts.map((x) => seconds(x.workMs).toFixed(2)).join(', ');
    results[`${mode}: s, start-up to warm (turns)`] = ts.map((x) => seconds(x.startupMs).toFixed(2)).join(', ');
    results[`${mode}: load average (1/5/15 min) before → after each backlog`] = ts.map((x) => x.load).join('; ');
    // CPU seconds over the backlog by process kind, and as a share of the 2 cores' time over it.
    results[`${mode}: CPU s during the backlog (turns)`] = ts.map((x) => Object.entries(x.cpu).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(' + ')).join('; ');
    results[`${mode}: idle CPU, % of a core (turns)`] = ts.map((x) => Object.entries(x.idle).map(([k, v]) => `${k} ${(v * 100000 / IDLE_MS).toFixed(1)}`).join(' + ')).join('; ');
    results[`${mode}: CPU ms per event (turns)`] = ts.map((x) => (sum(x.cpu) * 1000 / SHOTS).toFixed(1)).join(', ');
    // Less what running at all costs over the same time (the idle rate times the backlog's time).
    results[`${mode}: CPU ms per event beyond idle (turns)`] = ts.map((x) => ((sum(x.cpu) - sum(x.idle) * x.totalMs / IDLE_MS) * 1000 / SHOTS).toFixed(1)).join(', ');
  }
  results['cluster: fenced lease writes during each backlog, per event (turns)'] = of('cluster').map((x) => (x.leaseWrites.messages / SHOTS).toFixed(2)).join(', ');
  results['cluster: mean bytes of a lease record 3 s into each backlog (turns)'] = of('cluster').map((x) => String(Math.round(x.leaseWrites.bytes))).join(', ');
  results['cluster: lease claims during each backlog'] = of('cluster').map((x) => x.claims).join(', ');
  const one = of('one machine');
  const three = of('cluster');
  results['cluster overhead (medians)'] = pct(median(three.map((x) => x.totalMs)) / median(one.map((x) => x.totalMs)) - 1);
  results['cluster overhead (each pair)'] = three.map((c, i) => pct(c.totalMs / (one[i]?.totalMs ?? NaN) - 1)).join(', ');
  results['load average at end'] = load();
  return {
    name: 'cluster-realwork',
    results,
    notes: [
      'Turns alternate (one machine, cluster, ...), each with its own site, daemon or 3 nodes and 3 NATS servers; the time runs from the backlog\'s commit on the site to the last description seen there.',
      'Start-up (spawn until a warm-up round of one shot per project is described; for the cluster this includes starting its 3 NATS servers and its site) is reported apart.',
      `goal: the cluster within 15 % of one machine on ${SHOTS} shots over 10 projects.`,
    ],
  };
}
