/**
 * Scale-out (issue 15), two parts. Capacity (bench/scale-capacity.ts): 30
 * projects on Toolkit work, 1 node vs 3 nodes with the same per-node limits,
 * and a control of 1 node with room for every runtime. Cost: what spreading plugins costs NATS on nats-server
 * 2.9.10 (3 servers, R3 event stream): P partitions × N spread plugins, each
 * (plugin, partition) with its own fenced lease stream (R3, one Raft group
 * each) and an ordered consumer filtered on its partition's subject.
 * Measured: time to create the lease streams and the consumers, and the
 * servers' CPU while everything is idle (from /proc, summed over the 3
 * servers), with the machine's load average beside each figure.
 * Run: `npm run bench -- scale-out`. SGEVENTD_BENCH_PARTITIONS and
 * SGEVENTD_BENCH_PLUGINS change the cost part's shape (default 32 × 3);
 * SGEVENTD_BENCH_SCALE_PARTS picks the parts (default `capacity,cost`),
 * SGEVENTD_BENCH_SCALE_EVENTS the measured events per project (default 20),
 * SGEVENTD_BENCH_SCALE_LATENCY_MS the site's latency (default 500).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeliverPolicy, type ConsumerMessages } from '@nats-io/jetstream';
import { z } from 'zod';
import { clusterNames, connectCluster, ensureEventStream, FencedLease } from '../src/cluster/index.ts';
import { clusterSectionSchema } from '../src/config/index.ts';
import { startNats, type TestNats } from '../test/support/nats.ts';
import type { BenchResult } from './run.ts';
import { capacityRun, type CapacityOptions, type CapacityResult, type CapacityRun } from './scale-capacity.ts';

const TICKS = 100; // USER_HZ on Linux

/** CPU seconds used so far by the nats-server processes of `nats` (found by their store directories). */
function serverCpuSeconds(nats: TestNats): number {
  const ps = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  let total = 0;
  for (const line of ps.split('\n')) {
    const m = /^\s*(\d+)\s+(.*)$/.exec(line);
    if (m === null || !nats.servers.some((s) => (m[2] ?? '').includes(s.storeDir))) continue;
    const stat = readFileSync(`/proc/${m[1] ?? ''}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    total += (Number(fields[11]) + Number(fields[12])) / TICKS;
  }
  return total;
}

/** Share of one core the servers used over `ms` (idle: nothing published). */
async function idleCpu(nats: TestNats, ms: number): Promise<number> {
  const before = serverCpuSeconds(nats);
  await sleep(ms);
  return (serverCpuSeconds(nats) - before) / (ms / 1000);
}

async function scaleCost(partitions: number, plugins: number, results: Record<string, number | string>): Promise<void> {
  const steps: Array<() => unknown> = [];
  const t = { after: (fn: () => unknown) => { steps.push(fn); } };
  try {
    const nats = await startNats(t, { servers: 3 });
    const cluster = { ...clusterSectionSchema.parse({ name: 'bench', nats: { servers: nats.urls } }), replicas: 3, nodeId: 'bench' };
    const conn = await connectCluster({ nats: { servers: nats.urls }, nodeId: 'bench' });
    steps.push(() => conn.close());
    const names = clusterNames('bench', 'http://127.0.0.1:8090');
    await ensureEventStream(conn.jsm, names, cluster);
    for (let p = 0; p < partitions; p++) await conn.js.publish(names.eventSubject(p), '{}');
    const label = `${partitions} partitions × ${plugins} plugins`;
    results['idle CPU % of a core, 3 servers, event stream only'] = Math.round((await idleCpu(nats, 10_000)) * 1000) / 10;

    const keys = Array.from({ length: plugins * partitions }, (_, i) => `plugin.b${Math.floor(i / partitions)}.p${i % partitions}`);
    let at = performance.now();
    for (let i = 0; i < keys.length; i += 8) {
      await Promise.all(keys.slice(i, i + 8).map((key) => FencedLease.open({
        conn, names, key, nodeId: 'bench', timing: cluster.lease, replicas: 3, state: z.null(), initial: null,
      })));
    }
    results[`lease streams (R3) created, s, ${label}, 8 at a time`] = Math.round(performance.now() - at) / 1000;
    results[`idle CPU % of a core, 3 servers, with the lease streams, ${label}`] = Math.round((await idleCpu(nats, 10_000)) * 1000) / 10;

    at = performance.now();
    const open: ConsumerMessages[] = [];
    for (let i = 0; i < keys.length; i++) {
      const consumer = await conn.js.consumers.get(names.eventStream, {
        filter_subjects: names.eventSubject(i % partitions), deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 1,
      });
      open.push(await consumer.consume({ max_messages: 512, expires: 5000 }));
    }
    results[`ordered consumers created, s, ${label}, one at a time`] = Math.round(performance.now() - at) / 1000;
    // Drain what each has, then sit idle (heartbeats and pull requests only).
    await sleep(2000);
    results[`idle CPU % of a core, 3 servers, with the consumers too, ${label}`] = Math.round((await idleCpu(nats, 10_000)) * 1000) / 10;
    for (const m of open) m.stop();
  } finally {
    for (const step of steps.reverse()) await step();
  }
}

const CAPACITY_RUNS: readonly CapacityRun[] = [
  { label: '1 node, maxRuntimes 10', nodes: 1, maxRuntimes: 10 },
  { label: '3 nodes, maxRuntimes 10 each', nodes: 3, maxRuntimes: 10 },
  { label: 'control: 1 node, maxRuntimes 30', nodes: 1, maxRuntimes: 30 },
];

/** A figure counts only where the machine stayed below this share busy. */
const BUSY_LIMIT = 70;

async function capacity(results: Record<string, number | string>, notes: string[]): Promise<void> {
  const o: CapacityOptions = {
    projects: 30, perProject: Number(process.env['SGEVENTD_BENCH_SCALE_EVENTS'] ?? 20),
    latencyMs: Number(process.env['SGEVENTD_BENCH_SCALE_LATENCY_MS'] ?? 500), startDelayMs: 300,
    max: 30, partitions: 32, holdMs: 5000, windowMs: 12_000,
  };
  const got: CapacityResult[] = [];
  for (const r of CAPACITY_RUNS) {
    const c = await capacityRun(r, o);
    got.push(c);
    const counts = c.cpuBusy < BUSY_LIMIT ? '' : ' (machine over 70 % busy: does not count)';
    results[`capacity, ${c.label}: events/s${counts}`] = c.eventsPerSecond;
    results[`capacity, ${c.label}: events, seconds`] = `${c.events}, ${c.seconds}`;
    results[`capacity, ${c.label}: runtime cold starts after warm-up (total, most for one project)`] = `${c.coldStarts}, ${c.maxColdStartsPerProject}`;
    results[`capacity, ${c.label}: CPU busy %, whole machine`] = c.cpuBusy;
    results[`capacity, ${c.label}: projects per node`] = c.projectsPerNode;
    results[`capacity, ${c.label}: warm-up rounds, load average before / after`] = `${c.warmupRounds}, ${c.loadAverage}`;
    results[`capacity, ${c.label}: per event, ms (median / p90 / longest): lane gap (an event's end to the next one's start in its project)`] = `${c.laneGap.median} / ${c.laneGap.p90} / ${c.laneGap.max}`;
    results[`capacity, ${c.label}: first callback start to a project's last end, s (fastest / slowest project)`] = `${c.laneSpan.min / 1000} / ${c.laneSpan.max / 1000}`;
    results[`capacity, ${c.label}: per event, ms (median / p90): the site request`] = `${c.siteRequest.median} / ${c.siteRequest.p90}`;
    results[`capacity, ${c.label}: per event, ms (median / p90): the callback beyond the site request`] = `${c.overhead.median} / ${c.overhead.p90}`;
  }
  const [one, three, control] = got;
  if (one !== undefined && three !== undefined && control !== undefined) {
    results['capacity, 3 nodes / 1 node (goal ≥ 2.5)'] = Math.round((three.eventsPerSecond / one.eventsPerSecond) * 100) / 100;
    results['capacity, 3 nodes / control (goal ≥ 0.85)'] = Math.round((three.eventsPerSecond / control.eventsPerSecond) * 100) / 100;
  }
  notes.push(`capacity: ${o.projects} projects, ${o.perProject} events each measured after a warm-up (rounds of one event per project until the node running each project stayed the same for 3 rounds and ${Math.max(o.holdMs, o.windowMs)} ms); each event is one call in its project's runtime (stand-in core taking ${o.startDelayMs} ms to start) that makes one request to the site (latency ${o.latencyMs} ms); concurrency by project, max ${o.max} per node; ${o.partitions} partitions, placement holdMs ${o.holdMs}, windowMs ${o.windowMs}`);
  notes.push('capacity: the measured shots are created with their events held back, then shown at once (the site runs in the bench process, and the measured callbacks wait on its answers)');
  notes.push('capacity: the work waits on Toolkit start-up and site latency, not CPU, because every node shares this machine\'s 2 cores; CPU busy is the whole machine over the measured part (/proc/stat), other users\' work included');
}

export async function run(): Promise<BenchResult> {
  const parts = (process.env['SGEVENTD_BENCH_SCALE_PARTS'] ?? 'capacity,cost').split(',');
  const partitions = Number(process.env['SGEVENTD_BENCH_PARTITIONS'] ?? 32);
  const plugins = Number(process.env['SGEVENTD_BENCH_PLUGINS'] ?? 3);
  const results: Record<string, number | string> = {};
  const notes: string[] = [];
  if (parts.includes('capacity')) await capacity(results, notes);
  if (parts.includes('cost')) {
    const load = loadavg()[0] ?? 0;
    await scaleCost(partitions, plugins, results);
    results['cost: load average (1 min) before / after'] = `${load.toFixed(1)} / ${(loadavg()[0] ?? 0).toFixed(1)}`;
    notes.push('cost: the 3 nats-server processes and this process share the machine\'s cores; idle CPU is over 10 s with nothing published');
    notes.push('cost: lease streams are opened 8 at a time, as a node spreading a plugin does; consumers one at a time, as terms start');
  }
  return { name: 'scale-out', results, notes };
}
