// `sgeventd plugin enable|disable|reload` against a cluster of real nodes:
// enable/disable are control records in NATS honoured by whichever node owns
// the plugin (also after a failover); reload reaches the owner.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { waitFor } from '../support/index.ts';
import { natsSkip } from '../support/nats.ts';
import { clusterBed, type ClusterBed, type ClusterView } from './cluster-bed.ts';

/** Waits until the plugin's cursor (as a live node sees it) reached `last` with nothing pending. */
function done(bed: ClusterBed, last: number): Promise<ClusterView> {
  return waitFor(async () => {
    const v = await bed.anyView();
    return v !== null && v.plugins.every((p) => p.highId === last && p.pending === 0) ? v : null;
  }, `the plugin finished event ${last}`, 120_000);
}

function loadsOn(bed: ClusterBed, node: string): number {
  return bed.lines().filter((l) => l.plugin === 'versioned' && l.node === node && l.what === ('load' as string)).length;
}

describe('plugin enable, disable and reload on a cluster', natsSkip(), () => {
  it('disable holds the plugin on every node, through a kill -9 of its owner; enable resumes at its cursor; reload reaches the owner', async (t) => {
    const bed = await clusterBed(t, { plugins: ['versioned'], nodes: 2 });
    const first = await bed.allHeld();
    const owner = bed.holderOf(first, 'versioned');
    const other = 1 - owner;
    const after = await bed.site.newestEventId();
    const mid = await bed.createEvents(10);
    await done(bed, mid);

    const off = await bed.cli(other, ['plugin', 'disable', 'versioned']);
    assert.equal(off.code, 0, off.stderr);
    assert.match(off.stdout, /^disabled /);
    await waitFor(async () => (await bed.view(owner))?.plugins.find((p) => p.name === 'versioned')?.role === 'paused', 'the owner pausing the plugin');
    const last = await bed.createEvents(10);

    // The owner dies; the other node takes the plugin over and finds it disabled.
    await bed.kill(owner, 'SIGKILL');
    const nextId = bed.nodeIds[other] as string;
    await waitFor(async () => {
      const p = (await bed.view(other))?.plugins.find((x) => x.name === 'versioned');
      return p?.holder === nextId && p.role === 'paused';
    }, 'the new owner holding the plugin paused', 120_000);
    const ranWhilePaused = bed.lines().filter((l) => l.plugin === 'versioned' && l.what === 'start' && l.id > mid);
    assert.deepEqual(ranWhilePaused, [], 'no event ran while the plugin was disabled');

    const on = await bed.cli(other, ['plugin', 'enable', 'versioned']);
    assert.equal(on.code, 0, on.stderr);
    await done(bed, last);
    const ended = new Set(bed.lines().filter((l) => l.plugin === 'versioned' && l.what === 'end').map((l) => l.id));
    for (let id = after + 1; id <= last; id++) assert.ok(ended.has(id), `event ${id} ran`);

    const loads = loadsOn(bed, nextId);
    const reload = await bed.cli(other, ['plugin', 'reload', 'versioned']);
    assert.equal(reload.code, 0, reload.stderr);
    assert.equal(reload.stdout.trim(), 'reloaded versioned');
    assert.equal(loadsOn(bed, nextId), loads + 1, 'the owner imported the plugin again before the command answered');
    const unknown = await bed.cli(other, ['plugin', 'reload', 'nosuch']);
    assert.notEqual(unknown.code, 0);
    assert.equal(unknown.errorCode, 'PLUGIN_UNKNOWN');
  });

  it('a stopOnError deactivation holds on the next owner after a kill -9; enable runs the failed event again, nothing skipped', async (t) => {
    const bed = await clusterBed(t, { plugins: ['stopper'], nodes: 2 });
    const first = await bed.allHeld();
    const owner = bed.holderOf(first, 'stopper');
    const other = 1 - owner;
    const after = await bed.site.newestEventId();
    writeFileSync(`${bed.record}.fail`, '');
    await bed.createEvents(5);
    await waitFor(async () => (await bed.view(owner))?.plugins.find((p) => p.name === 'stopper')?.role === 'deactivated', 'the owner deactivating the plugin');
    rmSync(`${bed.record}.fail`);
    const failed = bed.lines().filter((l) => l.plugin === 'stopper' && l.what === 'start').map((l) => l.id);
    assert.equal(failed.length, 1, 'the plugin stopped at its first failure');
    const last = await bed.createEvents(5);

    await bed.kill(owner, 'SIGKILL');
    const nextId = bed.nodeIds[other] as string;
    await waitFor(async () => {
      const p = (await bed.view(other))?.plugins.find((x) => x.name === 'stopper');
      return p?.holder === nextId && p.role === 'deactivated';
    }, 'the new owner holding the plugin deactivated', 60_000);
    assert.deepEqual(bed.lines().filter((l) => l.plugin === 'stopper' && l.what === 'start').map((l) => l.id), failed, 'nothing ran while deactivated');

    const on = await bed.cli(other, ['plugin', 'enable', 'stopper']);
    assert.equal(on.code, 0, on.stderr);
    await done(bed, last);
    const ended = bed.lines().filter((l) => l.plugin === 'stopper' && l.what === 'end').map((l) => l.id);
    assert.equal(ended[0], failed[0], 'the failed event ran first after enable');
    for (let id = after + 1; id <= last; id++) assert.ok(ended.includes(id), `event ${id} ran`);
  });
});
