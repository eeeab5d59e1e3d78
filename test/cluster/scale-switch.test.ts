// A plugin switching from `by: none` (one node) to spread over partitions, on
// 3 real nodes: the events its single cursor had handed out and not finished
// carry over into the partitions' cursors. The switch is taken node by node
// (test/fixtures/cluster/switching.mjs reads a marker per node at load), and
// the node running it on its own is killed mid-callback, so its cursor is
// left with unfinished events. Safety only: what ran, never when.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { waitFor } from '../support/index.ts';
import { natsSkip } from '../support/nats.ts';
import { clusterBed, safety } from './cluster-bed.ts';

describe('a plugin switched from by: none to spread', natsSkip(), () => {
  it('keeps the unfinished events of its single cursor: nothing skipped, each project in order', async (t) => {
    const bed = await clusterBed(t, { plugins: ['switching'], nodes: 3, workMs: 300, cluster: { placement: { holdMs: 1000, windowMs: 6000 } } });
    const first = await bed.allHeld();
    const owner = bed.holderOf(first, 'switching');
    const ownerId = bed.nodeIds[owner] as string;
    const others = [0, 1, 2].filter((i) => i !== owner);
    // The two other nodes load it spread; the owner keeps running it on its own (its marker is absent).
    for (const i of others) writeFileSync(`${bed.record}.spread.${bed.nodeIds[i] as string}`, '');
    // Each node loads its copy on its own: asked again until every node knows the plugin (PLUGIN_UNKNOWN until then).
    await waitFor(async () => {
      const reload = await bed.cli(others[0] as number, ['plugin', 'reload', 'switching']);
      if (reload.code !== 0 && reload.errorCode !== 'PLUGIN_UNKNOWN') assert.fail(reload.stderr);
      return reload.code === 0;
    }, 'the switching plugin reloaded on every node', 60_000);
    const after = await bed.site.newestEventId();
    const last = await bed.createEvents(40);

    // Kill -9 the owner while a callback runs and its stored cursor holds it as handed out, not finished.
    const open = (): number | null => {
      const running = new Map<number, number>();
      for (const l of bed.lines()) {
        if (l.plugin !== 'switching' || l.node !== ownerId || l.id <= after) continue;
        running.set(l.id, (running.get(l.id) ?? 0) + (l.what === 'start' ? 1 : -1));
      }
      return [...running].find(([, n]) => n > 0)?.[0] ?? null;
    };
    await waitFor(async () => {
      const id = open();
      if (id === null || id <= after + 1) return false;
      const p = (await bed.view(owner))?.plugins.find((x) => x.name === 'switching');
      return p !== undefined && p.pending > 0 && p.highId === id && open() === id;
    }, 'the owner in a callback whose event its stored cursor holds as unfinished', 120_000);
    const cut = open();
    await bed.kill(owner, 'SIGKILL');
    assert.ok(cut !== null);

    const dead = new Set([ownerId]);
    await waitFor(() => {
      const ended = new Set(bed.lines().filter((l) => l.plugin === 'switching' && l.what === 'end').map((l) => l.id));
      for (let id = after + 1; id <= last; id++) if (!ended.has(id)) return false;
      return true;
    }, `every event up to ${last} finished (the one cut off, ${cut}, among them)`, 240_000);
    const lines = bed.lines();
    const r = safety(lines, 'switching', after, last, dead);
    assert.deepEqual(r.skipped, [], 'no event skipped');
    assert.deepEqual(r.outOfOrder, [], 'each project\'s events started in order');
    assert.deepEqual(r.overlapping, [], 'no event on two live nodes at once');
    const survivors = new Set(lines.filter((l) => l.plugin === 'switching' && l.id === cut && l.what === 'end').map((l) => l.node));
    assert.ok([...survivors].some((n) => n !== ownerId), `the cut-off event ${String(cut)} ran again on a surviving node, spread`);
    // The survivors run it spread: they hold its partitions.
    await waitFor(async () => {
      const v = await bed.view(others[0] as number);
      const holders = new Set((v?.scale?.owners ?? []).map((o) => o.holders['switching']).filter((h) => h !== undefined));
      return holders.size >= 1 && !holders.has(ownerId);
    }, 'the switching plugin\'s partitions held by the surviving nodes', 120_000);
  });
});
