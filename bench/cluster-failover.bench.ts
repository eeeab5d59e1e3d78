/**
 * Cluster failover on real processes (3 `sgeventd foreground` nodes, a
 * 3-server NATS cluster, the local site), events created all along:
 * - kill -9 of the node running the `serial` plugin → the first event that
 *   plugin starts on another node (p50 of TRIALS), with a short lease and
 *   with the default one (15 s);
 * - graceful handover: SIGTERM of that node → the first event started
 *   elsewhere (goal ≤ 1 s);
 * - a NATS server dying: kill -9 of the server leading the event stream or
 *   the `serial` plugin's lease stream (in turns), default lease → how many
 *   leases changed hands (goal: none) and the longest pause between two
 *   callbacks of `serial`.
 * The killed node or server is started again after each trial. Times come
 * from polling the callback lines every 20 ms.
 * SGEVENTD_BENCH_FAILOVER_SCENARIOS picks scenarios (comma-separated:
 * kill9, handover, kill9-default, nats; default all).
 * Run: `npm run bench -- cluster-failover` (several minutes).
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { clusterBed, type ClusterBed } from '../test/cluster/cluster-bed.ts';
import { waitFor } from '../test/support/wait.ts';
import type { BenchResult } from './run.ts';

const TRIALS = Number(process.env['SGEVENTD_BENCH_FAILOVER_TRIALS'] ?? 5);
const NATS_TRIALS = Number(process.env['SGEVENTD_BENCH_FAILOVER_NATS_TRIALS'] ?? 4);
const SCENARIOS = new Set((process.env['SGEVENTD_BENCH_FAILOVER_SCENARIOS'] ?? 'kill9,handover,kill9-default,nats').split(',').map((x) => x.trim()));
/** After a NATS server is killed: how long the callbacks are watched (an election takes 4-9 s). */
const NATS_WATCH_MS = 30_000;

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
  await standingBy(bed);
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
  since.set(victim, bed.output(victim).length);
  bed.start(victim);
  return t1 - t0;
}

/** Per node, where its output stood when it was last started again (its file is appended to across starts). */
const since = new Map<number, number>();

/**
 * Waits until every node started again is a warm standby of `serial` (plugin
 * loaded, campaigning): a handover to a node still starting would time its
 * start-up, not the handover.
 */
async function standingBy(bed: ClusterBed): Promise<void> {
  await waitFor(() => [...since].every(([i, from]) => !bed.alive(i) || bed.output(i).slice(from).includes('[serial] plugin loaded: standing by')),
    'every restarted node standing by for serial', 120_000);
}

async function scenario<T>(lease: Lease, trials: number, one: (bed: ClusterBed, i: number) => Promise<T>): Promise<T[]> {
  const steps: Array<() => unknown> = [];
  const t = { after: (fn: () => unknown) => { steps.push(fn); } };
  try {
    since.clear();
    const bed = await clusterBed(t, { plugins: ['serial'], nodes: 3, lease });
    await bed.allHeld();
    const f = feed(bed);
    const out: T[] = [];
    try {
      for (let i = 0; i < trials; i++) out.push(await one(bed, i));
    } finally {
      await f.stop();
    }
    return out;
  } finally {
    for (const step of steps.reverse()) await step();
  }
}

/** Every lease's epoch (raised by one at each claim), from the last record of each lease stream. */
async function leaseEpochs(bed: ClusterBed): Promise<Map<string, number>> {
  const nc = await connect({ servers: bed.nats.urls, maxReconnectAttempts: -1 });
  try {
    const jsm = await jetstreamManager(nc);
    const prefix = bed.names.leaseStream('');
    const out = new Map<string, number>();
    for await (const s of jsm.streams.list()) {
      if (!s.config.name.startsWith(prefix) || s.state.last_seq === 0) continue;
      const m = await jsm.streams.getMessage(s.config.name, { seq: s.state.last_seq });
      if (m !== null) out.set(s.config.name.slice(prefix.length), m.json<{ epoch: number }>().epoch);
    }
    return out;
  } finally {
    await nc.close();
  }
}

interface NatsTrial {
  /** Which stream's leader was killed. */
  killed: string;
  /** Claims of any lease while the server was down and after (epoch increases). */
  leaseChanges: number;
  /** Longest time with no new callback start of `serial` from the kill on (callbacks come every 100 ms otherwise). */
  pauseMs: number;
}

/**
 * One trial: kill -9 of the NATS server leading the event stream (even
 * trials) or the `serial` plugin's lease stream (odd trials), callbacks
 * watched for NATS_WATCH_MS, then the server started again; lease epochs
 * compared before the kill and after the restart.
 */
async function natsTrial(bed: ClusterBed, i: number): Promise<NatsTrial> {
  await bed.allHeld();
  const serialLease = bed.names.leaseStream(`plugin.${join(bed.plugins, 'serial')}`);
  const target = i % 2 === 0 ? bed.names.eventStream : serialLease;
  const killed = i % 2 === 0 ? 'event stream leader' : 'serial lease leader';
  // Wrapped: server 0 is a falsy index.
  const { leader } = await waitFor(async () => {
    const l = await bed.nats.streamLeader(target);
    return l === undefined ? null : { leader: l };
  }, `the leader of ${target}`, 60_000);
  const before = await leaseEpochs(bed);
  const starts = (): number => bed.lines().filter((l) => l.plugin === 'serial' && l.what === 'start').length;
  let seen = starts();
  const t0 = performance.now();
  await bed.nats.kill(leader, 'SIGKILL');
  let last = t0;
  let pauseMs = 0;
  while (performance.now() - t0 < NATS_WATCH_MS) {
    await sleep(20);
    const now = performance.now();
    const n = starts();
    if (n > seen) {
      pauseMs = Math.max(pauseMs, now - last);
      last = now;
      seen = n;
    }
  }
  pauseMs = Math.max(pauseMs, performance.now() - last);
  await bed.nats.restart(leader);
  const after = await waitFor(async () => {
    const e = await leaseEpochs(bed).catch(() => null);
    return e !== null && [...before.keys()].every((k) => e.has(k)) ? e : null;
  }, 'every lease readable again', 60_000);
  let leaseChanges = 0;
  for (const [k, epoch] of after) leaseChanges += epoch - (before.get(k) ?? 0);
  return { killed, leaseChanges, pauseMs };
}

export async function run(): Promise<BenchResult> {
  const results: Record<string, number | string> = { 'load average (1 min) at start': loadavg()[0]?.toFixed(2) ?? '' };
  if (SCENARIOS.has('kill9')) {
    const short = await scenario(SHORT_LEASE, TRIALS, (bed) => trial(bed, 'SIGKILL'));
    results['failover_kill9_lease5s_p50_ms'] = p50(short);
    results['failover_kill9_lease5s_all_ms'] = short.map((v) => Math.round(v)).join(' ');
  }
  if (SCENARIOS.has('handover')) {
    const graceful = await scenario(SHORT_LEASE, TRIALS, (bed) => trial(bed, 'SIGTERM'));
    results['handover_sigterm_p50_ms'] = p50(graceful);
    results['handover_sigterm_all_ms'] = graceful.map((v) => Math.round(v)).join(' ');
  }
  if (SCENARIOS.has('kill9-default')) {
    const dflt = await scenario(DEFAULT_LEASE, TRIALS, (bed) => trial(bed, 'SIGKILL'));
    results['failover_kill9_lease15s_p50_ms'] = p50(dflt);
    results['failover_kill9_lease15s_all_ms'] = dflt.map((v) => Math.round(v)).join(' ');
  }
  if (SCENARIOS.has('nats')) {
    const nats = await scenario(DEFAULT_LEASE, NATS_TRIALS, natsTrial);
    results['nats_server_kill9_lease_changes_total'] = nats.reduce((n, x) => n + x.leaseChanges, 0);
    results['nats_server_kill9_lease_changes_each'] = nats.map((x) => `${x.killed}: ${x.leaseChanges}`).join('; ');
    results['nats_server_kill9_pause_p50_ms'] = p50(nats.map((x) => x.pauseMs));
    results['nats_server_kill9_pause_all_ms'] = nats.map((x) => `${x.killed}: ${Math.round(x.pauseMs)}`).join('; ');
  }
  results['load average (1 min) at end'] = loadavg()[0]?.toFixed(2) ?? '';
  return {
    name: 'cluster-failover',
    results,
    notes: [
      `${TRIALS} trials each (${NATS_TRIALS} for a NATS server dying); 3 nodes, 3 NATS servers (R3), one Shot created every 100 ms; time from the signal to the first callback start on another node`,
      'goals: kill -9 failover ≤ 20 s with the default lease (15 s); graceful handover ≤ 1 s; a NATS server dying: no lease changes hands',
      `a NATS server dying: the pause is the longest time without a new callback start of the plugin in the ${NATS_WATCH_MS / 1000} s after the kill (polled every 20 ms)`,
    ],
  };
}
