// Hot reload on a cluster of real nodes: a changed plugin file reloads the
// plugin on its owner and on the standby (`watch: poll`, as on network
// storage where fs.watch misses other machines' writes), and a folder that
// drops out (an empty mount point) keeps the loaded plugin running.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, renameSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../support/index.ts';
import { natsSkip } from '../support/nats.ts';
import { clusterBed, type ClusterBed } from './cluster-bed.ts';

function loads(bed: ClusterBed, version: string): Set<string> {
  return new Set(bed.lines().filter((l) => l.plugin === 'versioned' && l.key === version && l.what === ('load' as string)).map((l) => l.node));
}

async function done(bed: ClusterBed, last: number): Promise<void> {
  await waitFor(async () => {
    const v = await bed.anyView();
    return v !== null && v.plugins.every((p) => p.highId === last && p.pending === 0);
  }, `the plugin finished event ${last}`, 120_000);
}

describe('hot reload on a cluster', natsSkip(), () => {
  it('a changed file reloads on the owner and the standby (watch: poll); an emptied folder keeps the plugin running', async (t) => {
    const bed = await clusterBed(t, { plugins: ['versioned'], nodes: 2, folder: { watch: 'poll', watchPollMs: 200 } });
    await bed.allHeld();
    await waitFor(() => loads(bed, 'v1').size === 2, 'both nodes loaded version 1');
    const file = join(bed.plugins, 'versioned.mjs');
    writeFileSync(file, readFileSync(file, 'utf8').replace('const VERSION = 1;', 'const VERSION = 2;'));
    await waitFor(() => loads(bed, 'v2').size === 2, 'both nodes reloaded version 2');

    const after = await bed.site.newestEventId();
    const last = await bed.createEvents(10);
    await done(bed, last);
    const ran = bed.lines().filter((l) => l.plugin === 'versioned' && l.what === 'end' && l.id > after);
    assert.deepEqual([...new Set(ran.map((l) => l.key))], ['v2'], 'the new code handled every new event');
    const ended = new Set(ran.map((l) => l.id));
    for (let id = after + 1; id <= last; id++) assert.ok(ended.has(id), `event ${id} ran`);

    // The share drops out: its mount point shows an empty folder.
    renameSync(bed.plugins, `${bed.plugins}.away`);
    mkdirSync(bed.plugins, { mode: 0o755 });
    chmodSync(bed.plugins, 0o755);
    await waitFor(() => [0, 1].every((i) => bed.output(i).includes('PLUGIN_FOLDER_EMPTY')), 'both nodes noticing the empty folder');
    const more = await bed.createEvents(10);
    await done(bed, more);
    const view = await bed.anyView();
    assert.equal(view?.plugins.length, 1, 'the plugin is still known');
    const endedNow = new Set(bed.lines().filter((l) => l.plugin === 'versioned' && l.what === 'end').map((l) => l.id));
    for (let id = last + 1; id <= more; id++) assert.ok(endedNow.has(id), `event ${id} ran with the folder gone`);
  });
});
