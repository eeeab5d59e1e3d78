// `sgeventd plugin disable/enable` of a plugin spread over partitions, on 3
// real nodes: a disable stops every partition on every node (each drained,
// committed and released); an enable resumes each partition at its cursor.
// Safety only: what ran, never when.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../support/index.ts';
import { natsSkip } from '../support/nats.ts';
import { clusterBed, safety, type ClusterBed, type ClusterView } from './cluster-bed.ts';

function finished(bed: ClusterBed, plugin: string, last: number): Promise<ClusterView> {
  return waitFor(async () => {
    const v = await bed.anyView();
    const p = v?.plugins.find((x) => x.name === plugin);
    return v !== null && p !== undefined && p.highId === last && p.pending === 0 ? v : null;
  }, `${plugin} finished event ${last}`, 180_000);
}

function starts(bed: ClusterBed, plugin: string): number[] {
  return bed.lines().filter((l) => l.plugin === plugin && l.what === 'start').map((l) => l.id);
}

describe('plugin enable and disable of a spread plugin', natsSkip(), () => {
  it('disable stops every partition on every node; enable resumes each at its cursor: nothing skipped, nothing finished runs again', async (t) => {
    const bed = await clusterBed(t, { plugins: ['keyed', 'entity'], nodes: 3, workMs: 2, cluster: { placement: { holdMs: 1000, windowMs: 6000 } } });
    await bed.allHeld();
    // Every node holds some of keyed's partitions before it is disabled.
    await waitFor(async () => {
      const v = await bed.anyView();
      const holders = new Set((v?.scale?.owners ?? []).map((o) => o.holders['keyed']).filter((h) => h !== undefined));
      return holders.size === 3;
    }, 'keyed spread over the 3 nodes', 120_000);
    const after = await bed.site.newestEventId();
    const mid = await bed.createEvents(60);
    await finished(bed, 'keyed', mid);

    const off = await bed.cli(1, ['plugin', 'disable', 'keyed']);
    assert.equal(off.code, 0, off.stderr);
    // No node holds any partition of keyed any more (each term drained, committed and released).
    for (let i = 0; i < 3; i++) {
      await waitFor(async () => {
        const v = await bed.view(i);
        return v !== null && (v.scale?.owners ?? []).every((o) => o.holders['keyed'] === undefined);
      }, `node ${i + 1} seeing no partition of keyed held`, 120_000);
    }
    const before = starts(bed, 'keyed').length;
    const last = await bed.createEvents(60);
    // entity, spread too and not disabled, runs them all: the events reached every partition's owner.
    await finished(bed, 'entity', last);
    assert.equal(starts(bed, 'keyed').length, before, 'keyed ran nothing while disabled');
    assert.ok(starts(bed, 'keyed').every((id) => id <= mid), 'keyed started no event created after the disable');

    const on = await bed.cli(0, ['plugin', 'enable', 'keyed']);
    assert.equal(on.code, 0, on.stderr);
    await finished(bed, 'keyed', last);
    const lines = bed.lines();
    const keyed = safety(lines, 'keyed', after, last, new Set());
    assert.deepEqual(keyed.skipped, [], 'keyed: no event skipped');
    assert.deepEqual(keyed.outOfOrder, [], 'keyed: each project\'s events in order');
    assert.deepEqual(keyed.overlapping, [], 'keyed: no event on two nodes at once');
    const resumed = lines.filter((l) => l.plugin === 'keyed' && l.what === 'start').slice(before).map((l) => l.id);
    assert.ok(resumed.length > 0 && resumed.every((id) => id > mid), `after the enable only the events created while disabled ran (finished ones were committed): ${resumed.filter((id) => id <= mid).join(',')}`);
    assert.deepEqual(safety(lines, 'entity', after, last, new Set()).skipped, [], 'entity: no event skipped');
  });
});
