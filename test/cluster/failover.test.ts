// Acceptance of cluster mode with real processes: 3 `sgeventd foreground`
// nodes, a 3-server NATS cluster, the local site. Safety only (never times):
// nothing skipped, duplicates bounded and only after a death, per-key order,
// no event run by two live nodes at once.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../support/index.ts';
import { natsSkip } from '../support/nats.ts';
import { clusterBed, safety, type ClusterBed, type ClusterView } from './cluster-bed.ts';

const PLUGINS = ['serial', 'keyed'];
/** In flight at once: keyed runs up to 4 keys, serial one event. */
const MAX_IN_FLIGHT = { serial: 1, keyed: 4 } as const;
/** daemon.stateFlushEvents: the most finished events a commit can be behind. */
const FLUSH_EVENTS = 500;

/** Waits until every plugin's cursor (as a live node sees it) passed `last` with nothing pending. */
async function allDone(bed: ClusterBed, last: number, timeoutMs = 120_000): Promise<ClusterView> {
  return waitFor(async () => {
    const v = await bed.anyView();
    return v !== null && v.plugins.every((p) => p.highId === last && p.pending === 0) ? v : null;
  }, `every plugin finished event ${last}`, timeoutMs);
}

function ended(bed: ClusterBed, plugin: string): number {
  return new Set(bed.lines().filter((l) => l.plugin === plugin && l.what === 'end').map((l) => l.id)).size;
}

function checkSafety(bed: ClusterBed, last: number, dead: Set<string>): void {
  for (const plugin of PLUGINS) {
    const r = safety(bed.lines(), plugin, last, dead);
    assert.deepEqual(r.skipped, [], `${plugin}: no event skipped`);
    assert.deepEqual(r.outOfOrder, [], `${plugin}: each key's events started in order`);
    assert.deepEqual(r.overlapping, [], `${plugin}: no event ran on two live nodes at once`);
    assert.deepEqual(r.repeatsWithinTenure, [], `${plugin}: events ran again only after the plugin changed nodes`);
    const bound = r.handovers * (MAX_IN_FLIGHT[plugin as keyof typeof MAX_IN_FLIGHT] + FLUSH_EVENTS);
    assert.ok(r.duplicates <= bound, `${plugin}: ${r.duplicates} duplicates, at most ${bound} (in flight + uncommitted per change of node)`);
  }
}

describe('cluster failover', natsSkip(), () => {
  it('kill -9 of a worker\'s node, then of another plugin\'s node, mid-stream: nothing skipped, order kept', async (t) => {
    const bed = await clusterBed(t, { plugins: PLUGINS, workMs: 2 });
    const first = await bed.allHeld();
    const dead = new Set<string>();
    await bed.publish(1, 1000, 10);
    await waitFor(() => ended(bed, 'keyed') >= 300, 'keyed ran part of the stream');
    const victim = bed.holderOf(first, 'keyed');
    await bed.kill(victim, 'SIGKILL');
    dead.add(bed.nodeIds[victim] as string);
    await bed.publish(1001, 2000, 10);
    const second = await waitFor(async () => {
      const v = await bed.anyView();
      const holder = v?.plugins.find((p) => p.name === 'serial')?.holder;
      return v !== null && holder !== null && holder !== undefined && !dead.has(holder) && v.plugins.every((p) => p.holder !== null && !dead.has(p.holder)) ? v : null;
    }, 'every plugin held by a live node', 60_000);
    await waitFor(() => ended(bed, 'serial') >= 1300, 'serial ran part of the rest');
    const victim2 = bed.holderOf(second, 'serial');
    await bed.kill(victim2, 'SIGKILL');
    dead.add(bed.nodeIds[victim2] as string);
    await bed.publish(2001, 3000, 10);
    await allDone(bed, 3000);
    checkSafety(bed, 3000, dead);
  });

  it('SIGTERM hands over: the successor starts at once (the lease ttl is longer than the test waits), no event runs twice', async (t) => {
    const bed = await clusterBed(t, { plugins: PLUGINS, workMs: 2, lease: { ttlMs: 120_000, renewMs: 500, checkMs: 500, marginMs: 1000 } });
    const first = await bed.allHeld();
    await bed.publish(1, 800, 10);
    await waitFor(() => ended(bed, 'serial') >= 200, 'serial ran part of the stream');
    const holder = bed.holderOf(first, 'serial');
    await bed.kill(holder, 'SIGTERM');
    await bed.publish(801, 1500, 10);
    // A successor that waited for the ttl would not finish within the wait.
    await allDone(bed, 1500, 60_000);
    checkSafety(bed, 1500, new Set());
    assert.equal(safety(bed.lines(), 'serial', 1500, new Set()).duplicates, 0);
    assert.equal(safety(bed.lines(), 'keyed', 1500, new Set()).duplicates, 0);
  });
});
