// Acceptance of cluster mode with real processes: 3 `sgeventd foreground`
// nodes, a 3-server NATS cluster, the local site (a Shot created there writes
// about 4 events; each test stays under 5,000). Safety only (never times):
// nothing skipped, duplicates bounded and only after a death, per-key order,
// no event run by two live nodes at once.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../support/index.ts';
import { natsSkip } from '../support/nats.ts';
import { clusterBed, leaseLosses, partitionRepeats, safety, type ClusterBed, type ClusterView } from './cluster-bed.ts';

const PLUGINS = ['serial', 'keyed'];
/** In flight at once: keyed runs up to 4 keys, serial one event. */
const MAX_IN_FLIGHT = { serial: 1, keyed: 4 } as const;
/** daemon.stateFlushEvents: the most finished events a commit can be behind (a spread plugin's: per partition). */
const FLUSH_EVENTS = 500;
/** keyed (by: project) is spread over the bed's partitions; serial (by: none) is not. */
const PARTITIONS = 8;

/** Waits until every plugin's cursor (as a live node sees it) passed `last` with nothing pending. */
async function allDone(bed: ClusterBed, last: number, timeoutMs = 180_000): Promise<ClusterView> {
  return waitFor(async () => {
    const v = await bed.anyView();
    return v !== null && v.plugins.every((p) => p.highId === last && p.pending === 0) ? v : null;
  }, `every plugin finished event ${last}`, timeoutMs);
}

function ended(bed: ClusterBed, plugin: string): number {
  return new Set(bed.lines().filter((l) => l.plugin === plugin && l.what === 'end').map((l) => l.id)).size;
}

function checkSafety(bed: ClusterBed, after: number, last: number, dead: Set<string>, breaks: readonly number[] = []): void {
  for (const plugin of PLUGINS) {
    const r = safety(bed.lines(), plugin, after, last, dead, breaks);
    assert.deepEqual(r.skipped, [], `${plugin}: no event skipped`);
    assert.deepEqual(r.outOfOrder, [], `${plugin}: each key's events started in order`);
    assert.deepEqual(r.overlapping, [], `${plugin}: no event ran on two live nodes at once`);
  }
  // serial runs on one node at a time: a change of node is the plugin's. keyed's partitions change nodes one by one.
  const serial = safety(bed.lines(), 'serial', after, last, dead, breaks);
  assert.deepEqual(serial.repeatsWithinTenure, [], 'serial: events ran again only after the plugin changed nodes');
  const bound = serial.handovers * (MAX_IN_FLIGHT.serial + FLUSH_EVENTS);
  assert.ok(serial.duplicates <= bound, `serial: ${serial.duplicates} duplicates, at most ${bound} (in flight + uncommitted per change of node)`);
  assert.deepEqual(partitionRepeats(bed.lines(), 'keyed', PARTITIONS, dead, MAX_IN_FLIGHT.keyed + FLUSH_EVENTS, breaks, leaseLosses(bed, 'keyed')), []);
}

/** Waits until the poller and every plugin are held by nodes not in `dead`. */
function heldByLive(bed: ClusterBed, dead: ReadonlySet<string>): Promise<ClusterView> {
  const live = (h: string | null): boolean => h !== null && !dead.has(h);
  return waitFor(async () => {
    const v = await bed.anyView();
    return v !== null && live(v.pollerHolder) && v.plugins.every((p) => live(p.holder)) ? v : null;
  }, 'the poller and every plugin held by live nodes', 60_000);
}

describe('cluster failover', natsSkip(), () => {
  it('kill -9 of the poller\'s node, then of a worker\'s node, mid-stream: nothing skipped, order kept', async (t) => {
    const bed = await clusterBed(t, { plugins: PLUGINS, workMs: 2 });
    const first = await bed.allHeld();
    const after = await bed.site.newestEventId();
    const dead = new Set<string>();
    await bed.createEvents(400);
    await waitFor(() => ended(bed, 'keyed') >= 600, 'keyed ran part of the stream', 120_000);
    const poller = bed.holderOf(first, 'poller');
    await bed.kill(poller, 'SIGKILL');
    dead.add(bed.nodeIds[poller] as string);
    await bed.createEvents(400);
    const second = await heldByLive(bed, dead);
    await waitFor(() => ended(bed, 'serial') >= 2400, 'serial ran part of the rest', 120_000);
    const worker = bed.holderOf(second, 'keyed');
    await bed.kill(worker, 'SIGKILL');
    dead.add(bed.nodeIds[worker] as string);
    const last = await bed.createEvents(400);
    await allDone(bed, last);
    checkSafety(bed, after, last, dead);
  });

  it('SIGTERM hands over: the successor starts at once (the lease ttl is longer than the test waits), no event runs twice', async (t) => {
    const bed = await clusterBed(t, { plugins: PLUGINS, workMs: 2, lease: { ttlMs: 120_000, renewMs: 1000, checkMs: 1000, marginMs: 2000 } });
    const first = await bed.allHeld();
    // `sgeventd cluster status` on a node: this node, the poller's holder, each plugin's holder.
    // Node 1's own board may read the holders a moment after another node's did.
    const shown = await waitFor(async () => {
      const cli = await bed.cli(0, ['cluster', 'status', '--json']);
      assert.equal(cli.code, 0, cli.stderr);
      const v = JSON.parse(cli.stdout) as ClusterView;
      return v.pollerHolder !== null && v.plugins.every((p) => p.holder !== null) ? v : null;
    }, 'node 1 showing every holder in `sgeventd cluster status`');
    assert.equal(shown.nodeId, 'n1');
    assert.ok(shown.pollerHolder !== null && bed.nodeIds.includes(shown.pollerHolder));
    assert.deepEqual(shown.plugins.map((p) => p.name).sort(), [...PLUGINS].sort());
    for (const p of shown.plugins) assert.ok(p.holder !== null && bed.nodeIds.includes(p.holder), `${p.name} has a holder`);
    const after = await bed.site.newestEventId();
    await bed.createEvents(300);
    await waitFor(() => ended(bed, 'serial') >= 400, 'serial ran part of the stream', 120_000);
    await bed.kill(bed.holderOf(first, 'serial'), 'SIGTERM');
    const last = await bed.createEvents(300);
    // A successor that waited for the ttl would not finish within the wait.
    await allDone(bed, last, 60_000);
    checkSafety(bed, after, last, new Set());
    assert.equal(safety(bed.lines(), 'serial', after, last, new Set()).duplicates, 0);
    assert.equal(safety(bed.lines(), 'keyed', after, last, new Set()).duplicates, 0);
  });

  it('kill -9 of one of the 3 NATS servers (the event stream\'s leader) mid-stream: the cluster goes on, nothing lost', async (t) => {
    // The default lease, which outlasts a NATS election (4-9 s): no lease runs out while the servers elect a leader,
    // so every plugin stays on its node and nothing runs twice there. (The bed's 5 s lease may run out during an election.)
    const bed = await clusterBed(t, { plugins: PLUGINS, workMs: 2, lease: { ttlMs: 15_000, renewMs: 2000, checkMs: 3000, marginMs: 2000 } });
    await bed.allHeld();
    const after = await bed.site.newestEventId();
    await bed.createEvents(300);
    await waitFor(() => ended(bed, 'serial') >= 400, 'serial ran part of the stream', 120_000);
    const leader = (await bed.nats.streamLeader(bed.names.eventStream)) ?? 0;
    await bed.nats.kill(leader, 'SIGKILL');
    const last = await bed.createEvents(300);
    await allDone(bed, last);
    checkSafety(bed, after, last, new Set());
  });

  it('every NATS server killed, then restarted: nodes report it on /healthz, stop handing out work, then resume without loss', async (t) => {
    const bed = await clusterBed(t, { plugins: PLUGINS, workMs: 2 });
    await bed.allHeld();
    const after = await bed.site.newestEventId();
    await bed.createEvents(300);
    await waitFor(() => ended(bed, 'serial') >= 400, 'serial ran part of the stream', 120_000);
    await Promise.all([0, 1, 2].map((i) => bed.nats.kill(i, 'SIGKILL')));
    const report = await waitFor(async () => {
      const r = await bed.health(0);
      return r !== null && r.status === 503 && r.reason === 'nats-disconnected' ? r : null;
    }, 'node 1 reporting NATS down on /healthz');
    assert.equal(report.status, 503);
    // Cut off from NATS, no plugin stays active on any node (their leases run out on the holders' clocks).
    await waitFor(async () => {
      const views = await Promise.all([0, 1, 2].map((i) => bed.view(i)));
      return views.every((v) => v !== null && v.plugins.every((p) => p.role !== 'active'));
    }, 'no node handing out work');
    // Every lease is lost here: whichever node takes a plugin back starts again
    // from its last committed cursor, so what ran after that commit may run again.
    const cut = bed.lines().length;
    // Events written to the site meanwhile wait for NATS.
    await bed.createEvents(100);
    await Promise.all([0, 1, 2].map((i) => bed.nats.restart(i)));
    const last = await bed.createEvents(200);
    await allDone(bed, last);
    checkSafety(bed, after, last, new Set(), [cut]);
  });

  it('a node cut off from NATS (its only server killed) stops handing out work; the others take over: nothing skipped, no event on two live nodes at once', async (t) => {
    // Node 1 knows only NATS server 1; nodes 2 and 3 know all three.
    const bed = await clusterBed(t, { plugins: PLUGINS, workMs: 2, servers: (i, urls) => (i === 0 ? [urls[0] as string] : [...urls]) });
    await bed.allHeld();
    // Node 1 takes every lease: the others hand theirs over and come back as standbys.
    await Promise.all([bed.kill(1, 'SIGTERM'), bed.kill(2, 'SIGTERM')]);
    await waitFor(async () => {
      const v = await bed.view(0);
      return v !== null && v.pollerHolder === 'n1' && v.plugins.length === PLUGINS.length && v.plugins.every((p) => p.holder === 'n1' && (p.role === 'active' || p.role === 'spread'))
        && (v.scale?.owners ?? []).every((o) => Object.values(o.holders).every((h) => h === 'n1'));
    }, 'node 1 holding the poller, every plugin and every partition', 120_000);
    bed.start(1);
    bed.start(2);
    const after = await bed.site.newestEventId();
    await bed.createEvents(300);
    await waitFor(() => ended(bed, 'serial') >= 400, 'serial ran part of the stream on node 1', 120_000);
    await bed.nats.kill(0, 'SIGKILL');
    await waitFor(async () => (await bed.health(0))?.reason === 'nats-disconnected', 'the cut-off node reporting it on /healthz');
    // Its plugin lease runs out on its own clock (a spread plugin's partitions too: the safety checks below).
    await waitFor(async () => {
      const v = await bed.view(0);
      return v !== null && v.plugins.every((p) => p.role !== 'active');
    }, 'the cut-off node handing out nothing', 60_000);
    const last = await bed.createEvents(200);
    // Node 1's own view is stale (it cannot read NATS): ask node 2.
    await waitFor(async () => {
      const v = await bed.view(1);
      return v !== null && v.plugins.length === PLUGINS.length && v.plugins.every((p) => p.highId === last && p.pending === 0 && p.holder !== 'n1');
    }, `every plugin finished event ${last} on the connected nodes`, 180_000);
    checkSafety(bed, after, last, new Set());
  });
});
