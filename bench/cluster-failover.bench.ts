/**
 * Cluster failover on real processes (3 `sgeventd foreground` nodes, a
 * 3-server NATS cluster, the local site), events created all along:
 * - kill -9 of the node running the `serial` plugin → the first event that
 *   plugin starts on another node (p50 of TRIALS), with a short lease and
 *   with the default one (15 s);
 * - graceful handover: SIGTERM of that node → the first event started
 *   elsewhere (goal ≤ 1 s).
 * The killed node is started again after each trial. Times come from polling
 * the callback lines every 20 ms.
 * Run: `npm run bench -- cluster-failover` (several minutes).
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { clusterBed, type ClusterBed } from '../test/cluster/cluster-bed.ts';
import { waitFor } from '../test/support/wait.ts';
import type { BenchResult } from './run.ts';

const TRIALS = Number(process.env['SGEVENTD_BENCH_FAILOVER_TRIALS'] ?? 5);

type Lease = { ttlMs: number; renewMs: number; checkMs: number; marginMs: number };
const DEFAULT_LEASE: Lease = { ttlMs: 15000, renewMs: 2000, checkMs: 3000, marginMs: 2000 };
const SHORT_LEASE: Lease = { ttlMs: 5000, renewMs: 1000, checkMs: 1000, marginMs: 1500 };

function p50(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] ?? NaN;
}

/** Creates a Shot every 100 ms until stopped (events for the plugin to run). */
function feed(bed: ClusterBed): { stop(): Promise<void> } {
  let on = true;
  const loop = (async () => {
    while (on) {
      await bed.createEvents(1);
      await sleep(100);
    }
  })();
  return { async stop() { on = false; await loop; } };
}

/** One trial: `signal` to the node running `serial`; ms until `serial` starts an event on another node. */
async function trial(bed: ClusterBed, signal: NodeJS.Signals): Promise<number> {
  await bed.allHeld();
  const seen = bed.lines().length;
  // The victim is the node that runs the plugin now (from its callback lines, not a status that may be a check old).
  const running = await waitFor(() => bed.lines().slice(seen).find((l) => l.plugin === 'serial' && bed.alive(bed.nodeIds.indexOf(l.node))), 'serial running on a live node', 120_000);
  const victimId = running.node;
  const victim = bed.nodeIds.indexOf(victimId);
  const mark = bed.lines().length;
  const t0 = performance.now();
  const killed = bed.kill(victim, signal);
  let t1 = NaN;
  await waitFor(() => {
    if (bed.lines().slice(mark).some((l) => l.plugin === 'serial' && l.what === 'start' && l.node !== victimId)) {
      t1 = performance.now();
      return true;
    }
    return false;
  }, `serial started on another node after ${signal}`, 120_000);
  await killed;
  bed.start(victim);
  return t1 - t0;
}

async function scenario(lease: Lease, signal: NodeJS.Signals, trials: number): Promise<number[]> {
  const steps: Array<() => unknown> = [];
  const t = { after: (fn: () => unknown) => { steps.push(fn); } };
  try {
    const bed = await clusterBed(t, { plugins: ['serial'], nodes: 3, lease });
    await bed.allHeld();
    const f = feed(bed);
    const out: number[] = [];
    try {
      for (let i = 0; i < trials; i++) out.push(await trial(bed, signal));
    } finally {
      await f.stop();
    }
    return out;
  } finally {
    for (const step of steps.reverse()) await step();
  }
}

export async function run(): Promise<BenchResult> {
  const results: Record<string, number | string> = {};
  const short = await scenario(SHORT_LEASE, 'SIGKILL', TRIALS);
  results['failover_kill9_lease5s_p50_ms'] = p50(short);
  results['failover_kill9_lease5s_all_ms'] = short.map((v) => Math.round(v)).join(' ');
  const graceful = await scenario(SHORT_LEASE, 'SIGTERM', TRIALS);
  results['handover_sigterm_p50_ms'] = p50(graceful);
  results['handover_sigterm_all_ms'] = graceful.map((v) => Math.round(v)).join(' ');
  const dflt = await scenario(DEFAULT_LEASE, 'SIGKILL', TRIALS);
  results['failover_kill9_lease15s_p50_ms'] = p50(dflt);
  results['failover_kill9_lease15s_all_ms'] = dflt.map((v) => Math.round(v)).join(' ');
  return {
    name: 'cluster-failover',
    results,
    notes: [
      `${TRIALS} trials each; 3 nodes, 3 NATS servers (R3), one Shot created every 100 ms; time from the signal to the first callback start on another node`,
      'goals: kill -9 failover ≤ 20 s with the default lease (15 s); graceful handover ≤ 1 s',
    ],
  };
}
