// Acceptance of scale-out with real processes: `sgeventd foreground` nodes on
// a 3-server NATS cluster and the local site with 30 projects. Plugins with
// `concurrency: { by: project | entity }` are spread: each (plugin,
// partition) is owned by one node at a time. A node joins and another is
// killed mid-stream. Safety only (never times), under 5,000 events.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { partitionOf } from '../../src/cluster/index.ts';
import { onCleanup, waitFor } from '../support/index.ts';
import { natsSkip } from '../support/nats.ts';
import { clusterBed, leaseLosses, partitionRepeats, projectOf, safety, type ClusterBed, type ClusterView, type Line } from './cluster-bed.ts';

const PARTITIONS = 32;
const PROJECTS = 30;
const PLUGINS = ['serial', 'keyed', 'entity'];
const SPREAD = ['keyed', 'entity'];
/** In flight at once per node: keyed and entity run up to 4 callbacks, serial one. */
const MAX_IN_FLIGHT: Record<string, number> = { serial: 1, keyed: 4, entity: 4 };
/** daemon.stateFlushEvents: the most finished events a commit can be behind. */
const FLUSH_EVENTS = 500;

function ended(bed: ClusterBed, plugin: string, node?: string): number {
  return new Set(bed.lines().filter((l) => l.plugin === plugin && l.what === 'end' && (node === undefined || l.node === node)).map((l) => l.id)).size;
}

/**
 * (plugin, partition) ownership from the callback lines: a node starting an
 * event of a partition while another live node still runs one of the same
 * partition means two owners at once.
 */
function doubleOwners(lines: Line[], plugin: string, dead: ReadonlySet<string>): string[] {
  const open = new Map<number, Map<string, number>>(); // partition → node → callbacks open
  const found: string[] = [];
  for (const l of lines) {
    if (l.plugin !== plugin) continue;
    const p = partitionOf(projectOf(l.key), PARTITIONS);
    const byNode = open.get(p) ?? new Map<string, number>();
    open.set(p, byNode);
    if (l.what === 'end') {
      byNode.set(l.node, Math.max(0, (byNode.get(l.node) ?? 0) - 1));
      continue;
    }
    for (const [other, n] of byNode) if (other !== l.node && n > 0 && !dead.has(other)) found.push(`${plugin} p${p}: ${l.node} started ${l.id} while ${other} ran ${n}`);
    byNode.set(l.node, (byNode.get(l.node) ?? 0) + 1);
  }
  return found;
}

/** Every plugin's cursor (as a live node sees it) passed `last` with nothing pending. */
async function allDone(bed: ClusterBed, last: number): Promise<ClusterView> {
  return waitFor(async () => {
    const v = await bed.anyView();
    return v !== null && v.plugins.length === PLUGINS.length && v.plugins.every((p) => p.highId === last && p.pending === 0) ? v : null;
  }, `every plugin finished event ${last}`, 240_000);
}

/** The node (index) holding most of `plugin`'s partitions, among `among`. */
function busiest(view: ClusterView, plugin: string, bed: ClusterBed, among: number[]): number {
  const counts = new Map<number, number>(among.map((i) => [i, 0]));
  for (const o of view.scale?.owners ?? []) {
    const i = bed.nodeIds.indexOf(o.holders[plugin] ?? '');
    if (counts.has(i)) counts.set(i, (counts.get(i) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? among[0] as number;
}

/** Epochs of every (plugin, partition) lease in the records its stream kept: each epoch has one holder, and epochs only rise. */
async function leaseEpochs(bed: ClusterBed, t: Parameters<typeof onCleanup>[0]): Promise<{ leases: number; faults: string[] }> {
  const nc = await connect({ servers: bed.nats.urls });
  onCleanup(t, () => nc.close());
  const jsm = await jetstreamManager(nc);
  const prefix = bed.names.leaseStream('');
  const faults: string[] = [];
  let leases = 0;
  for await (const s of jsm.streams.list()) {
    const name = s.config.name;
    if (!name.startsWith(prefix) || !/_2ep\d+$/.test(name)) continue;
    leases++;
    const holders = new Map<number, string>();
    let lastEpoch = 0;
    for (let seq = s.state.first_seq; seq <= s.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(name, { seq }).catch(() => null);
      if (m === null) continue;
      const r = m.json<{ holder: string | null; epoch: number }>();
      if (r.epoch < lastEpoch) faults.push(`${name}: epoch ${r.epoch} after ${lastEpoch}`);
      lastEpoch = Math.max(lastEpoch, r.epoch);
      if (r.holder === null) continue;
      const before = holders.get(r.epoch);
      if (before !== undefined && before !== r.holder) faults.push(`${name}: epoch ${r.epoch} held by ${before} and ${r.holder}`);
      holders.set(r.epoch, r.holder);
    }
  }
  return { leases, faults };
}

describe('cluster scale-out', natsSkip(), () => {
  it('3 nodes, 30 projects: a node joins and another is killed mid-stream; nothing skipped, order kept, one owner per (plugin, partition)', async (t) => {
    const bed = await clusterBed(t, {
      plugins: PLUGINS, nodes: 3, initialNodes: 2, workMs: 2,
      cluster: { partitions: PARTITIONS, placement: { holdMs: 2000, windowMs: 6000 } },
    });
    const have = (await bed.site.sg.find('Project', [], ['id'])).length;
    for (let i = have; i < PROJECTS; i++) await bed.site.sg.create('Project', { name: `scale ${i}` });
    assert.equal((await bed.site.sg.find('Project', [], ['id'])).length, PROJECTS);
    await bed.allHeld();
    const after = await bed.site.newestEventId();
    const dead = new Set<string>();

    await bed.createEvents(250);
    await waitFor(() => ended(bed, 'keyed') >= 300, 'keyed ran part of the stream on 2 nodes', 120_000);
    // n3 joins: placement moves a share of the partitions to it, each drained and committed before it is released.
    bed.start(2);
    await waitFor(async () => {
      const v = await bed.view(2);
      return v !== null && SPREAD.every((plugin) => v.scale?.owners.some((o) => o.holders[plugin] === 'n3') === true);
    }, 'n3 holding partitions of every spread plugin after it joined', 120_000);
    await bed.createEvents(250);
    await waitFor(() => ended(bed, 'keyed', 'n3') > 0, 'n3 ran events of the partitions it took', 120_000);
    // `sgeventd cluster status` on the new node: each node's load and each partition's holders.
    const text = await bed.cli(2, ['cluster', 'status']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^n3\tyes\t[1-9]\d*\t/m, 'n3 listed as alive with partitions');
    assert.match(text.stdout, /^\d+\tn\d\t.*keyed=n\d/m, 'partitions listed with their keyed holder');
    // Kill -9 the older node holding most of keyed's partitions, mid-stream.
    const view = await waitFor(() => bed.anyView(), 'a view of the cluster');
    const victim = busiest(view, 'keyed', bed, [0, 1]);
    await bed.kill(victim, 'SIGKILL');
    dead.add(bed.nodeIds[victim] as string);
    const last = await bed.createEvents(250);
    assert.ok(last - after <= 5000, `under 5,000 events (${last - after})`);
    const done = await allDone(bed, last);

    const lines = bed.lines();
    for (const plugin of PLUGINS) {
      const all = safety(lines, plugin, after, last, dead);
      assert.deepEqual(all.skipped, [], `${plugin}: no event skipped`);
      assert.deepEqual(all.outOfOrder, [], `${plugin}: each key's events started in order`);
      assert.deepEqual(all.overlapping, [], `${plugin}: no event ran on two live nodes at once`);
    }
    for (const plugin of SPREAD) {
      assert.deepEqual(doubleOwners(lines, plugin, dead), [], `${plugin}: no partition run by two live nodes at once`);
      // Per partition: an event runs again only after its partition changed nodes, within in flight + uncommitted per change.
      assert.deepEqual(partitionRepeats(lines, plugin, PARTITIONS, dead, (MAX_IN_FLIGHT[plugin] ?? 1) + FLUSH_EVENTS, [], leaseLosses(bed, plugin)), []);
      // The spread plugins ran on every node alive at the end (the killed one may have died before its first event).
      for (const node of bed.nodeIds.filter((n) => !dead.has(n))) assert.ok(ended(bed, plugin, node) > 0, `${plugin} ran on ${node}`);
    }
    // The spread plugins' partitions are held by the live nodes (n3 among them); the serial plugin (by: none) is not spread.
    const holders = (plugin: string): Set<string> => new Set((done.scale?.owners ?? []).map((o) => o.holders[plugin]).filter((h): h is string => h !== undefined));
    for (const plugin of SPREAD) assert.ok(holders(plugin).size >= 2 && holders(plugin).has('n3') && !holders(plugin).has(bed.nodeIds[victim] as string), `${plugin}: ${[...holders(plugin)].join(',')}`);
    assert.equal(holders('serial').size, 0);
    const epochs = await leaseEpochs(bed, t);
    assert.equal(epochs.leases, SPREAD.length * PARTITIONS, 'one lease per (plugin, partition)');
    assert.deepEqual(epochs.faults, [], 'each lease epoch had one holder');
  });
});
