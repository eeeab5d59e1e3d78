// Toolkit plugins against the local site and real runtimes: a Toolkit plugin
// runs events of different projects at once (each in a runtime of its
// project), and a hung Toolkit call of one plugin costs another plugin on the
// same project nothing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeConfig } from '../fixtures/toolkit/fake-cores.ts';
import { addPlugin, makeHarness, runDaemon, waitFor, type Harness } from '../dispatch/harness.ts';
import { PYTHON } from './helpers.ts';

/** Three projects, each on its own localized fake core, mapped explicitly. */
async function threeProjects(h: Harness): Promise<{ ids: number[]; toolkit: Record<string, unknown> }> {
  const seeded = await h.sg.find('Project', [], ['id'], { order: [{ field_name: 'id', direction: 'asc' }] });
  const third = await h.sg.create('Project', { name: 'Third', tank_name: 'third' });
  const ids = [Number(seeded[0]?.['id']), Number(seeded[1]?.['id']), Number(third['id'])];
  assert.ok(ids.every((id) => id > 0), 'three projects');
  const projects: Record<string, unknown> = {};
  for (const [i, id] of ids.entries()) {
    projects[String(id)] = {
      mode: 'centralized',
      path: writeConfig(join(h.dir, 'configs', `p${i}`), { core: { localized: { version: `v1.0.${i}-p${i}`, api3Version: '3.0.0' } }, projectId: id }),
    };
  }
  return { ids, toolkit: { python: PYTHON, projects } };
}

describe('Toolkit plugins: runtimes per project, independence', () => {
  it('runs a Toolkit plugin with concurrency by project over 3 projects in parallel, each project in order on its own core', async (t) => {
    const h = await makeHarness();
    const cleanup: Array<() => unknown> = [() => h.close()];
    // Last registered, first run: the daemon stops before the site and its folder go.
    t.after(async () => { for (const step of cleanup.reverse()) await step(); });
    const { ids, toolkit } = await threeProjects(h);
    await addPlugin(h, '../toolkit/plugins/tk_overlap.py', 'tk_overlap.py');
    process.env['SGEVENTD_TEST_OVERLAP'] = '3';
    const daemon = await runDaemon(h.config({ plugins: { concurrency: { by: 'project', max: 4 }, callbackTimeoutMs: 120_000 }, toolkit }));
    cleanup.push(() => daemon.stop());
    const created: number[] = [];
    for (let round = 0; round < 2; round += 1) {
      for (const id of ids) created.push(Number((await h.sg.create('Shot', { code: `ovl${round}-${id}`, project: { type: 'Project', id } }))['id']));
    }
    const ends = await waitFor('six events to finish', async () => {
      const r = (await h.records()).filter((x) => x[0] === 'ovl' && x[1] === 'end');
      return r.length >= 6 ? r : undefined;
    }, 150_000);
    assert.equal(ends.length, 6, 'each event once');
    // Each event waited until events of all three projects had started: run one at a time, the first could never see three.
    for (const e of ends) assert.equal(e[5], '3', `event ${e[2] ?? ''} ran while the other projects' events ran`);
    for (const [i, id] of ids.entries()) {
      const mine = ends.filter((e) => Number(e[3]) === id);
      assert.equal(mine.length, 2);
      assert.ok(Number(mine[0]?.[2]) < Number(mine[1]?.[2]), `project ${id}: its events in id order`);
      assert.deepEqual(mine.map((e) => e[6]), [`v1.0.${i}-p${i}`, `v1.0.${i}-p${i}`], 'each event ran on its project\'s core');
    }
    assert.equal(new Set(ends.map((e) => `${e[3] ?? ''}:${e[4] ?? ''}`)).size >= 3, true);
    assert.equal(new Set(ends.filter((e) => e[2] !== undefined).map((e) => e[4])).size >= 3, true, 'three projects, three runtimes');
    const plugin = daemon.status().plugins.find((p) => p.name === 'tk_overlap');
    assert.equal(plugin?.status, 'running');
    assert.equal(plugin?.failed, 0);
  });

  it('two plugins on one project while one hangs: the other plugins finish every event while the hung call still hangs', async (t) => {
    const h = await makeHarness();
    const cleanup: Array<() => unknown> = [() => h.close()];
    // Last registered, first run: the daemon stops before the site and its folder go.
    t.after(async () => { for (const step of cleanup.reverse()) await step(); });
    const { ids, toolkit } = await threeProjects(h);
    const project = ids[0] ?? 0;
    const releaseFile = join(h.dir, 'release');
    process.env['SGEVENTD_TEST_RELEASE'] = releaseFile;
    await addPlugin(h, '../toolkit/plugins/tk_hold.py', 'tk_hold.py');
    await addPlugin(h, 'classic_tk.py');
    await addPlugin(h, 'tk_probe.mjs');
    // Timeouts far beyond the test: the hang is ended by the test, never by a timer.
    const daemon = await runDaemon(h.config({ plugins: { callbackTimeoutMs: 300_000 }, toolkit: { ...toolkit, callTimeoutMs: 300_000 } }));
    cleanup.push(() => daemon.stop(), () => writeFileSync(releaseFile, ''));
    await h.sg.create('Shot', { code: 'hang1', project: { type: 'Project', id: project } });
    await waitFor('the hung event to start', async () => (await h.records()).some((x) => x[0] === 'hold' && x[1] === 'start' && x[5] === 'hang1') || undefined, 60_000);
    for (let i = 0; i < 5; i += 1) await h.sg.create('Shot', { code: `after${i}`, project: { type: 'Project', id: project } });
    const recs = await waitFor('the other plugins to finish all six events', async () => {
      const r = await h.records();
      return r.filter((x) => x[0] === 'pytk').length >= 6 && r.filter((x) => x[0] === 'tk').length >= 6 ? r : undefined;
    }, 120_000);
    assert.equal(recs.some((x) => x[0] === 'hold' && x[1] === 'end'), false, 'the hung call still hangs');
    assert.equal(recs.filter((x) => x[0] === 'pytk').length, 6, 'the Python Toolkit plugin ran each event once');
    assert.equal(recs.filter((x) => x[0] === 'tk').length, 6, 'the JS plugin\'s Toolkit calls all answered');
    const hung = recs.find((x) => x[0] === 'hold' && x[1] === 'start' && x[5] === 'hang1');
    const hungPid = hung?.[4];
    // The hung shot's own event may reach that runtime before the hang begins; every later one must not.
    const later = recs.filter((x) => x[0] === 'pytk' && Number(x[1]) > Number(hung?.[2]));
    assert.equal(later.length, 5);
    assert.ok(later.every((x) => x[5] !== hungPid), 'no event went to the runtime busy with the hung call');
    const status = daemon.status();
    for (const name of ['classic_tk', 'tk_probe']) {
      const p = status.plugins.find((x) => x.name === name);
      assert.equal(p?.status, 'running', `${name} is active`);
      assert.equal(p?.failed, 0, `${name} failed nothing`);
    }
    assert.deepEqual(await daemon.recentDeadLetters(10), [], 'no dead letters');
    assert.ok(status.runtimes.filter((r) => r.projects.includes(project)).length <= 2, 'within maxRuntimesPerProject');
    writeFileSync(releaseFile, '');
    await waitFor('the hung plugin to go on', async () => {
      const r = (await h.records()).filter((x) => x[0] === 'hold' && x[1] === 'end');
      return r.length >= 6 || undefined;
    }, 60_000);
  });
});
