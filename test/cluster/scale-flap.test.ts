// Placement during a takeover, on 3 real nodes and 30 projects: when a node
// is killed, its partitions go to the survivors and the survivors rebalance,
// but no (plugin, partition) moves back and forth (each move costs its
// projects' warm runtimes). Counted from the callback lines: which node ran
// each partition's events, in order. Safety only: never times.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { partitionOf } from '../../src/cluster/index.ts';
import { waitFor } from '../support/index.ts';
import { natsSkip } from '../support/nats.ts';
import { clusterBed, safety, type ClusterBed, type Line } from './cluster-bed.ts';

const PARTITIONS = 32;
const PROJECTS = 30;

function partitionOfKey(key: string): number {
  const id = Number(key.slice(1));
  return partitionOf(id === 0 ? null : id, PARTITIONS);
}

/** Every event in (after, last] finished by keyed. */
function allEnded(bed: ClusterBed, after: number, last: number): boolean {
  const ended = new Set(bed.lines().filter((l) => l.plugin === 'keyed' && l.what === 'end').map((l) => l.id));
  for (let id = after + 1; id <= last; id++) if (!ended.has(id)) return false;
  return true;
}

/** Per partition, the nodes that ran its events in turn (a new entry each time it changed nodes), from `lines`. */
function ownersInTurn(lines: readonly Line[]): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const l of lines) {
    if (l.plugin !== 'keyed' || l.what !== 'start') continue;
    const p = partitionOfKey(l.key);
    const seq = out.get(p) ?? [];
    out.set(p, seq);
    if (seq.at(-1) !== l.node) seq.push(l.node);
  }
  return out;
}

describe('placement during a takeover', natsSkip(), () => {
  it('a node killed mid-stream: each partition changes nodes at most twice and never goes back to a node it left', async (t) => {
    const bed = await clusterBed(t, {
      plugins: ['keyed'], nodes: 3, workMs: 2,
      cluster: { partitions: PARTITIONS, placement: { holdMs: 2000, windowMs: 6000 } },
    });
    const have = (await bed.site.sg.find('Project', [], ['id'])).length;
    for (let i = have; i < PROJECTS; i++) await bed.site.sg.create('Project', { name: `flap ${i}` });
    await bed.allHeld();
    await waitFor(async () => {
      const v = await bed.anyView();
      return new Set((v?.scale?.owners ?? []).map((o) => o.holders['keyed']).filter((h) => h !== undefined)).size === 3;
    }, 'keyed spread over the 3 nodes', 120_000);
    const after = await bed.site.newestEventId();
    const round = async (): Promise<number> => {
      const last = await bed.createEvents(90);
      await waitFor(() => allEnded(bed, after, last), `keyed finished every event up to ${last}`, 180_000);
      return last;
    };
    // Work first, so placement weighs every project's recent work before the kill.
    for (let i = 0; i < 4; i++) await round();

    const before = bed.lines().length;
    const view = await waitFor(() => bed.anyView(), 'a view of the cluster');
    const counts = new Map<string, number>();
    for (const o of view.scale?.owners ?? []) { const h = o.holders['keyed']; if (h !== undefined) counts.set(h, (counts.get(h) ?? 0) + 1); }
    const victimId = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'n1';
    const victim = bed.nodeIds.indexOf(victimId);
    await bed.kill(victim, 'SIGKILL');
    const survivors = [0, 1, 2].filter((i) => i !== victim);
    // Events keep coming while the survivors take the dead node's partitions and rebalance; then until placement has settled
    // (every partition held where it is placed, by a survivor), and two rounds more.
    let last = 0;
    for (let i = 0; i < 6; i++) last = await round();
    await waitFor(async () => {
      const v = await bed.view(survivors[0] as number);
      return v !== null && (v.scale?.owners ?? []).every((o) => o.holders['keyed'] !== undefined && o.holders['keyed'] !== victimId && o.placedOn === o.holders['keyed']);
    }, 'placement settled on the survivors', 120_000);
    for (let i = 0; i < 2; i++) last = await round();
    assert.ok(last - after <= 5000, `under 5,000 events (${last - after})`);

    const lines = bed.lines();
    const r = safety(lines, 'keyed', after, last, new Set([victimId]));
    assert.deepEqual(r.skipped, [], 'no event skipped');
    assert.deepEqual(r.outOfOrder, [], 'each project\'s events started in order');
    // From the node running each partition just before the kill.
    const start = ownersInTurn(lines.slice(0, before));
    const afterKill = ownersInTurn(lines.slice(before));
    const moves: string[] = [];
    let handovers = 0;
    for (const [p, turns] of afterKill) {
      const seq = [...(start.get(p)?.slice(-1) ?? []), ...turns].filter((n, i, a) => i === 0 || a[i - 1] !== n);
      handovers += seq.length - 1;
      if (seq.length - 1 > 2) moves.push(`p${p}: ${seq.join(' → ')} (more than 2 moves)`);
      if (new Set(seq).size !== seq.length) moves.push(`p${p}: ${seq.join(' → ')} (back to a node it left)`);
    }
    assert.deepEqual(moves, [], 'no partition flapped');
    // The dead node's partitions moved once each; the survivors' rebalance moves at most a few more.
    assert.ok(handovers <= (counts.get(victimId) ?? 0) + PARTITIONS / 2, `${handovers} handovers after the kill`);
  });
});
