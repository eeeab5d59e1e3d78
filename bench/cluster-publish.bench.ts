/**
 * Cluster foundations on private nats-server processes (1 server R1, 3 servers R3):
 * - a fenced lease write (expect.lastSequence on the lease's own stream): p50 and p95;
 * - the poller's publish rate: events from an in-memory log to the event stream,
 *   chained by expected last message id, `cluster.poller.maxInFlight` in flight.
 * Run: `npm run bench -- cluster-publish`.
 */
import { pino } from 'pino';
import { z } from 'zod';
import { clusterNames, ClusterPoller, connectCluster, FencedLease } from '../src/cluster/index.ts';
import { clusterSectionSchema } from '../src/config/index.ts';
import { startNats } from '../test/support/nats.ts';
import { MemorySource } from '../test/support/memory-source.ts';
import { waitFor } from '../test/support/wait.ts';
import type { BenchResult } from './run.ts';

const EVENTS = 20_000;
const WRITES = 300;

async function onCluster(servers: 1 | 3, results: Record<string, number | string>): Promise<void> {
  const steps: Array<() => unknown> = [];
  const t = { after: (fn: () => unknown) => { steps.push(fn); } };
  try {
    const nats = await startNats(t, { servers });
    const replicas = servers;
    const cluster = { ...clusterSectionSchema.parse({ name: 'bench', nats: { servers: nats.urls } }), replicas, nodeId: 'bench' };
    const conn = await connectCluster({ nats: { servers: nats.urls }, nodeId: 'bench' });
    steps.push(() => conn.close());
    const names = clusterNames('bench', 'http://127.0.0.1:8090');

    const lease = await FencedLease.open({
      conn, names, key: 'bench', nodeId: 'bench', timing: cluster.lease, replicas, state: z.object({ n: z.number() }), initial: { n: 0 },
    });
    const tenure = await lease.acquire();
    const ms: number[] = [];
    for (let i = 0; i < WRITES; i++) {
      const at = performance.now();
      await tenure.write({ n: i });
      ms.push(performance.now() - at);
    }
    await tenure.release();
    ms.sort((a, b) => a - b);
    const label = servers === 1 ? '1 server R1' : '3 servers R3';
    results[`lease write p50 ms, ${label}`] = ms[Math.floor(ms.length / 2)] ?? NaN;
    results[`lease write p95 ms, ${label}`] = ms[Math.floor(ms.length * 0.95)] ?? NaN;

    const source = new MemorySource();
    source.append(EVENTS);
    const poller = await ClusterPoller.open({
      conn, names, cluster, source, startAfter: 0, logger: pino({ level: 'silent' }),
      daemon: { maxEventBatchSize: 500, fetchIntervalMs: 50, backlogTimeoutMs: 300_000 },
    });
    const stop = new AbortController();
    const start = performance.now();
    const running = poller.run(stop.signal);
    await waitFor(() => poller.lastId >= EVENTS, 'all events published', 600_000);
    const seconds = (performance.now() - start) / 1000;
    stop.abort();
    await running;
    await poller.close();
    results[`poller publish events/s, ${label}, ${cluster.poller.maxInFlight} in flight`] = Math.round(EVENTS / seconds);
  } finally {
    for (const step of steps.reverse()) await step();
  }
}

export async function run(): Promise<BenchResult> {
  const results: Record<string, number | string> = {};
  await onCluster(1, results);
  await onCluster(3, results);
  return {
    name: 'cluster-publish',
    results,
    notes: [
      `${WRITES} fenced writes in a row; ${EVENTS} events of 0.4 KB, batches of 500, file storage, loopback, sharing the machine's cores with the servers`,
      'the publish figure includes the poller reading the in-memory log and writing its fenced state after every batch',
    ],
  };
}
