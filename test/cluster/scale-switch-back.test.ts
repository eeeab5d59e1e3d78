// The reverse switch, on 3 real nodes: a plugin spread over partitions
// (`by: project`) goes back to `by: none` (one node). The node taking the
// plugin's own lease merges the partitions' cursors into its one cursor,
// taking each partition lease through its fence, so it waits for a node
// still running partitions. Two nodes are restarted with the plugin on one
// node (test/fixtures/cluster/switching.mjs reads a marker per node at load);
// the third keeps running it spread, and is killed mid-callback while the
// merge waits for its partitions. Safety only: what ran, never when.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { waitFor } from '../support/index.ts';
import { natsSkip } from '../support/nats.ts';
import { clusterBed, safety, type ClusterBed, type Line } from './cluster-bed.ts';

/** daemon.stateFlushEvents (default): the most finished events a partition's last commit can be behind. */
const FLUSH_EVENTS = 500;
/** The spread plugin's callbacks in flight per node (max 4). */
const MAX_IN_FLIGHT = 4;
const PARTITIONS = 8;

function endedUpTo(bed: ClusterBed, after: number, last: number): boolean {
  const ended = new Set(bed.lines().filter((l) => l.plugin === 'switching' && l.what === 'end').map((l) => l.id));
  for (let id = after + 1; id <= last; id++) if (!ended.has(id)) return false;
  return true;
}

/** `who` (node/pid) → the ids it finished. */
function finishedBy(lines: readonly Line[]): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  for (const l of lines) {
    if (l.plugin !== 'switching' || l.what !== 'end') continue;
    const who = `${l.node}/${l.pid}`;
    const ids = out.get(who) ?? new Set<number>();
    out.set(who, ids);
    ids.add(l.id);
  }
  return out;
}

describe('a spread plugin switched back to by: none', natsSkip(), () => {
  it('merges the partitions\' cursors: nothing skipped, each project in order, nothing finished on a partition runs again beyond the killed owner\'s bound', async (t) => {
    const bed = await clusterBed(t, {
      plugins: ['switching'], nodes: 3, initialNodes: 0, workMs: 20,
      cluster: { partitions: PARTITIONS, placement: { holdMs: 1000, windowMs: 6000 } },
    });
    // Every node loads it spread.
    for (const id of bed.nodeIds) writeFileSync(`${bed.record}.spread.${id}`, '');
    for (let i = 0; i < 3; i++) bed.start(i);
    await waitFor(async () => {
      const v = await bed.anyView();
      const owners = v?.scale?.owners ?? [];
      return owners.length === PARTITIONS && owners.every((o) => o.holders['switching'] !== undefined)
        && new Set(owners.map((o) => o.holders['switching'])).size >= 2;
    }, 'the switching plugin spread over the nodes', 120_000);
    const after = await bed.site.newestEventId();
    const mid = await bed.createEvents(150);
    await waitFor(() => endedUpTo(bed, after, mid), `every event up to ${mid} finished spread`, 180_000);

    // n1 and n2 stop (each drains, commits and releases its partitions) and come back with the plugin on one node;
    // n3 keeps it spread and takes every partition meanwhile.
    const victim = 2;
    const victimId = bed.nodeIds[victim] as string;
    for (const i of [0, 1]) {
      await bed.kill(i, 'SIGTERM');
      rmSync(`${bed.record}.spread.${bed.nodeIds[i] as string}`);
    }
    const more = await bed.createEvents(150);
    await waitFor(() => bed.lines().some((l) => l.plugin === 'switching' && l.node === victimId && l.id > mid && l.what === 'end'),
      'n3 running the partitions on its own', 120_000);
    for (const i of [0, 1]) bed.start(i);
    await waitFor(async () => (await bed.health(0))?.status === 200 && (await bed.health(1))?.status === 200, 'n1 and n2 back, the plugin on one node', 120_000);
    const last = await bed.createEvents(150);
    assert.ok(last - after <= 5000, `under 5,000 events (${last - after})`);
    // The node taking the plugin's lease waits for n3's partitions: n3 runs them until it is killed mid-callback.
    const open = (): number | null => {
      const running = new Map<number, number>();
      for (const l of bed.lines()) {
        if (l.plugin !== 'switching' || l.node !== victimId) continue;
        running.set(l.id, (running.get(l.id) ?? 0) + (l.what === 'start' ? 1 : -1));
      }
      return [...running].find(([, n]) => n > 0)?.[0] ?? null;
    };
    await waitFor(() => (open() ?? 0) > more, `n3 in a callback of an event after ${more}`, 120_000);
    await bed.kill(victim, 'SIGKILL');
    // Nothing runs on n1 or n2 before the merge, which waits for n3's leases to run out: these are the runs before the switch.
    const beforeKill = bed.lines();

    await waitFor(() => endedUpTo(bed, after, last), `every event up to ${last} finished`, 240_000);
    const lines = bed.lines();
    const r = safety(lines, 'switching', after, last, new Set([victimId]));
    assert.deepEqual(r.skipped, [], 'no event skipped');
    assert.deepEqual(r.outOfOrder, [], 'each project\'s events started in order');
    assert.deepEqual(r.overlapping, [], 'no event on two live nodes at once');
    // After the switch the plugin runs on one node: the restarted n1 and n2 processes, one of them at a time.
    const restarted = lines.slice(beforeKill.length).filter((l) => l.plugin === 'switching' && l.what === 'start');
    assert.ok(restarted.length > 0 && restarted.every((l) => l.node !== victimId), 'the events left ran on a restarted node');

    // What ran before the switch: on n1 and n2 (each drained, committed and released on its stop), and on n3 up to its kill.
    const firstRuns = finishedBy(beforeKill);
    const againAfter = new Set(restarted.map((l) => l.id));
    const rerunFromGraceful: number[] = [];
    let rerunFromVictim = 0;
    for (const [who, ids] of firstRuns) {
      for (const id of ids) {
        if (!againAfter.has(id)) continue;
        if (who.startsWith(`${victimId}/`)) rerunFromVictim++;
        else rerunFromGraceful.push(id);
      }
    }
    assert.deepEqual(rerunFromGraceful, [], 'nothing finished by a node that stopped gracefully ran again after the switch');
    const bound = PARTITIONS * (MAX_IN_FLIGHT + FLUSH_EVENTS);
    assert.ok(rerunFromVictim <= bound, `${rerunFromVictim} events finished by the killed node ran again (bound ${bound})`);
  });
});
