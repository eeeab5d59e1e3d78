// Node heartbeats on a real 3-server NATS cluster: who a node counts as alive.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { clusterNames, connectCluster, type ClusterConnection } from '../../src/cluster/index.ts';
import { Membership } from '../../src/cluster/membership.ts';
import type { ClusterLeaseOptions } from '../../src/config/index.ts';
import { onCleanup, waitFor, type Cleanup } from '../support/index.ts';
import { natsSkip, startNats } from '../support/nats.ts';

/** A TTL far longer than the test waits: only what is read, not an age, can make a node gone. */
const TIMING: ClusterLeaseOptions = { ttlMs: 600_000, renewMs: 100, checkMs: 100, marginMs: 500 };
const IDLE = { held: {}, work: {}, inFlight: 0 };

async function member(t: Cleanup, servers: string[], nodeId: string, timing = TIMING): Promise<Membership> {
  const conn: ClusterConnection = await connectCluster({ nats: { servers }, nodeId });
  onCleanup(t, () => conn.close());
  const m = await Membership.open({
    conn, names: clusterNames('m', 'http://127.0.0.1:8090'), nodeId, replicas: 3, timing, logger: pino({ level: 'silent' }),
  });
  onCleanup(t, () => m.close());
  m.start(() => IDLE);
  return m;
}

describe('cluster membership: node heartbeats', natsSkip(), () => {
  it('a node that removed its heartbeat is gone at the next read, though its last beat never said it was leaving and its age is far below the TTL', async (t) => {
    const nats = await startNats(t, { servers: 3 });
    const a = await member(t, nats.urls, 'a');
    const b = await member(t, nats.urls, 'b');
    await waitFor(() => (a.live().join() === 'a,b' && b.live().join() === 'a,b' ? true : null), 'both nodes seeing each other');
    // Stops beating and deletes its key without a `leaving` beat first (as a reader that missed that beat sees it).
    await b.close();
    await waitFor(() => (a.live().join() === 'a' ? true : null), 'a no longer counting b alive', 20_000);
    assert.equal(a.members().has('b'), false, 'b is forgotten, not only not alive');
  });

  it('keeps reading while the nodes beat far more often than a KV listing\'s idle heartbeat (a kv.keys() listing then never ended)', async (t) => {
    const nats = await startNats(t, { servers: 3 });
    // Each node writes 20 heartbeats a second: the bucket is never idle, so only the reads' own end can end them.
    const fast: ClusterLeaseOptions = { ...TIMING, renewMs: 50 };
    const nodes: Membership[] = [];
    for (const id of ['a', 'b', 'c']) nodes.push(await member(t, nats.urls, id, fast));
    await waitFor(() => (nodes.every((m) => m.live().join() === 'a,b,c') ? true : null), 'the three nodes seeing each other');
    const from = nodes.map((m) => m.reads);
    await waitFor(() => (nodes.every((m, i) => m.reads >= (from[i] as number) + 200) ? true : null), 'every node reading the others 200 more times', 120_000);
  });

});
