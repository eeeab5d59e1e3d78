import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, copyFile, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeHarness, runDaemon, waitFor } from './harness.ts';

const V1 = new URL('./fixtures/reload-lanes.mjs', import.meta.url).pathname;
const V2 = new URL('./fixtures/reload-serial.mjs', import.meta.url).pathname;

describe('hot reload that changes concurrency', () => {
  it('drains first: callbacks in flight finish under the old code, then the new cursor kind starts from the stored state, nothing skipped or run twice', async (t) => {
    const h = await makeHarness();
    t.after(() => h.close());
    const file = join(h.plugins, 'reloaded.mjs');
    await copyFile(V1, file);
    await chmod(file, 0o644);
    const hold = `${h.record}.hold`;
    await writeFile(hold, '');
    const from = h.site.store.lastEventId();
    const daemon = await runDaemon(h.config(), from);
    t.after(() => daemon.stop());
    const plugin = () => daemon.status().plugins.find((p) => p.name === 'reloaded');
    await waitFor('the plugin running', () => plugin()?.status === 'running');

    const projects = (await h.sg.find('Project', [], ['id'], { order: [{ field_name: 'id', direction: 'asc' }], limit: 2 })).map((p) => ({ type: 'Project', id: p['id'] }));
    const shots = [];
    for (const [i, project] of projects.entries()) shots.push(await h.sg.create('Shot', { code: `reload${i}`, project }));
    for (let n = 0; n < 6; n++) await h.sg.update('Shot', shots[n % 2]!['id'], { description: `v${n}` });
    const newest = h.site.store.lastEventId();
    await waitFor('a _New in flight in each project lane', () => plugin()?.inFlight === 2);

    // New code without concurrency: the reload waits for the two callbacks in flight.
    await writeFile(file, await readFile(V2));
    await waitFor('the old cursor draining', () => plugin()?.status === 'draining');
    assert.equal(plugin()?.inFlight, 2, 'the callbacks in flight keep running while it drains');
    await rm(hold);
    await waitFor('every event handled', async () => new Set((await h.records()).map((r) => Number(r[1]))).size === newest - from, 60_000);
    await waitFor('the new cursor at the newest event, nothing pending', () => plugin()?.status === 'running' && plugin()?.lastEventId === newest && plugin()?.oldestUnfinished === null);

    const recs = await h.records();
    const ids = recs.map((r) => Number(r[1]));
    assert.equal(ids.length, new Set(ids).size, 'no event ran twice');
    assert.deepEqual([...ids].sort((a, b) => a - b), Array.from({ length: newest - from }, (_, i) => from + 1 + i), 'none skipped');
    const firstV2 = recs.findIndex((r) => r[0] === 'v2');
    assert.ok(firstV2 > 0, 'the new code ran');
    assert.ok(recs.slice(firstV2).every((r) => r[0] === 'v2'), 'the old code finished everything it had started before the new code began');
    assert.ok(recs.filter((r) => r[0] === 'v2').every((r) => r[2] === '1'), 'the new cursor runs one event at a time');
  });
});
