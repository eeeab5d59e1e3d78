/**
 * Scale-out (issue 15). What spreading plugins costs NATS on nats-server
 * 2.9.10 (3 servers, R3 event stream): P partitions × N spread plugins, each
 * (plugin, partition) with its own fenced lease stream (R3, one Raft group
 * each) and an ordered consumer filtered on its partition's subject.
 * Measured: time to create the lease streams and the consumers, and the
 * servers' CPU while everything is idle (from /proc, summed over the 3
 * servers), with the machine's load average beside each figure.
 * Run: `npm run bench -- scale-out`. SGEVENTD_BENCH_PARTITIONS and
 * SGEVENTD_BENCH_PLUGINS change the shape (default 32 × 3).
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

export async function run(): Promise<BenchResult> {
  const partitions = Number(process.env['SGEVENTD_BENCH_PARTITIONS'] ?? 32);
  const plugins = Number(process.env['SGEVENTD_BENCH_PLUGINS'] ?? 3);
  const results: Record<string, number | string> = {};
  const load = loadavg()[0] ?? 0;
  await scaleCost(partitions, plugins, results);
  results['load average (1 min) before / after'] = `${load.toFixed(1)} / ${(loadavg()[0] ?? 0).toFixed(1)}`;
  return {
    name: 'scale-out',
    results,
    notes: [
      'the 3 nats-server processes and this process share the machine\'s cores; idle CPU is over 10 s with nothing published',
      'lease streams are opened 8 at a time, as a node spreading a plugin does; consumers one at a time, as terms start',
      'capacity scale-out (30 projects on Toolkit stand-ins, 1 node vs 3 nodes vs a control) is not measured here yet',
    ],
  };
}
