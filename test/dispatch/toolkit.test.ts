import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeConfig, writeCore } from '../fixtures/toolkit/fake-cores.ts';
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { runCheck } from '../../src/cli/check.ts';
import { makeHarness, addPlugin, waitFor, runDaemon, type Harness } from './harness.ts';

async function twoProjectsOnTwoCores(h: Harness): Promise<[number, number]> {
      const studio = writeCore(join(h.dir, 'studio'), { version: 'v9.1.0-studio', api3Version: '3.9.1' });
      const projects = await h.sg.find('Project', [], ['id', 'tank_name'], { order: [{ field_name: 'id', direction: 'asc' }] });
      const aId = Number(projects[0]?.['id']);
      const bId = Number(projects[1]?.['id']);
      assert.ok(aId > 0 && bId > 0, 'the demo seed has two projects');
      const configs: Record<number, string> = {
        [aId]: writeConfig(join(h.dir, 'configs', 'a'), { core: { localized: { version: 'v1.2.3-alpha', api3Version: '3.1.2' } }, projectId: aId }),
        [bId]: writeConfig(join(h.dir, 'configs', 'b'), { core: { cfg: studio }, projectId: bId }),
      };
      // Point each project's Primary PipelineConfiguration at its folder, as a studio does.
      for (const [projectId, path] of Object.entries(configs)) {
        const pc = await h.sg.findOne('PipelineConfiguration', [['project', 'is', { type: 'Project', id: Number(projectId) }], ['code', 'is', 'Primary']], ['id']);
        assert.ok(pc, `project ${projectId} has a Primary configuration`);
        await h.sg.update('PipelineConfiguration', Number(pc['id']), { linux_path: path, mac_path: null, windows_path: null, plugin_ids: null, descriptor: null });
      }
      return [aId, bId];
}

describe('plugins get Toolkit', () => {
  it('runs each project\'s Toolkit work on that project\'s own core, events interleaved A,B,A,B', async () => {
    const h = await makeHarness();
    try {
      const [aId, bId] = await twoProjectsOnTwoCores(h);
      await addPlugin(h, 'tk_probe.mjs');
      const daemon = await runDaemon(h.config());
      try {
        const order = [aId, bId, aId, bId, aId, bId];
        for (const [i, id] of order.entries()) await h.sg.create('Shot', { code: `tk${i}`, project: { type: 'Project', id } });
        const recs = await waitFor('six Toolkit answers', async () => {
          const r = (await h.records()).filter((x) => x[0] === 'tk');
          return r.length >= 6 ? r : undefined;
        }, 60_000);
        for (const r of recs) {
          const project = Number(r[2]);
          const [core, api3]: [string, string] = project === aId ? ['v1.2.3-alpha', '3.1.2'] : ['v9.1.0-studio', '3.9.1'];
          assert.deepEqual([r[3], r[4], r[5]], [core, core, api3], `event ${r[1]} of project ${project} saw its own core and libraries`);
        }
        const runtimes = daemon.status().runtimes;
        assert.equal(runtimes.length, 2, 'one warm runtime per project configuration');
        assert.deepEqual(new Set(runtimes.map((r) => r.coreVersion)), new Set(['v1.2.3-alpha', 'v9.1.0-studio']));
        const pids = runtimes.map((r) => r.pid);
        await daemon.stop();
        for (const pid of pids) {
          assert.ok(pid !== null);
          assert.throws(() => process.kill(pid, 0), 'no runtime process is left after the daemon stops');
        }
      } finally {
        await daemon.stop();
      }
    } finally {
      await h.close();
    }
  });

  it('runs an SGEVENTD_TOOLKIT Python plugin in each event\'s project runtime, and project-less events in its own process', async () => {
    const h = await makeHarness();
    try {
      const [aId, bId] = await twoProjectsOnTwoCores(h);
      await addPlugin(h, 'classic_tk.py');
      const daemon = await runDaemon(h.config());
      try {
        for (const [i, id] of [aId, bId, aId, bId].entries()) await h.sg.create('Shot', { code: `py${i}`, project: { type: 'Project', id } });
        await h.sg.create('HumanUser', { login: 'dave', name: 'Dave', firstname: 'Dave', lastname: 'Doe', email: 'dave@example.com' });
        const recs = await waitFor('five answers', async () => {
          const r = (await h.records()).filter((x) => x[0] === 'pytk');
          return r.length >= 5 ? r : undefined;
        }, 60_000);
        const byProject = (id: number): string[][] => recs.filter((r) => Number(r[2]) === id);
        assert.deepEqual(byProject(aId).map((r) => [r[3], r[4]]), [['v1.2.3-alpha', '3.1.2'], ['v1.2.3-alpha', '3.1.2']]);
        assert.deepEqual(byProject(bId).map((r) => [r[3], r[4]]), [['v9.1.0-studio', '3.9.1'], ['v9.1.0-studio', '3.9.1']]);
        assert.deepEqual(byProject(0).map((r) => r[3]), ['none'], 'an event without a project runs without Toolkit');
        const pidsA = new Set(byProject(aId).map((r) => r[5]));
        const pidsB = new Set(byProject(bId).map((r) => r[5]));
        assert.equal(pidsA.size, 1);
        assert.equal(pidsB.size, 1);
        assert.notDeepEqual([...pidsA], [...pidsB], 'two projects, two runtimes');
        assert.deepEqual(byProject(aId).map((r) => r[6]), ['1', '2'], 'module-level state is per runtime');
      } finally {
        await daemon.stop();
      }
    } finally {
      await h.close();
    }
  });

  it('sends an SGEVENTD_TOOLKIT Python plugin its events in per-project batches: in order, once each, a hang cut off on its own event', async () => {
    const h = await makeHarness();
    try {
      const [aId, bId] = await twoProjectsOnTwoCores(h);
      await addPlugin(h, 'tk_batch.py');
      const daemon = await runDaemon(h.config({ plugins: { callbackTimeoutMs: 4000 } }));
      try {
        // One bulk edit: 300 description changes on two shots of two projects, in runs of 1 to 7 per project.
        const actor = h.site.auth.authenticate({ script_name: 'sgeventd', script_key: 'sgeventd-key' });
        const expected: Array<[number, number, string]> = [];
        h.site.store.db.transaction(() => {
          const shots = new Map([aId, bId].map((p) => [p, h.site.writer.create(actor, 'Shot', [{ field_name: 'code', value: `batch${p}` }, { field_name: 'project', value: { type: 'Project', id: p } }]).id]));
          for (let i = 0, run = 0; i < 300; run += 1) {
            const project = run % 2 === 0 ? aId : bId;
            for (let k = 0; k < 1 + (run % 7) && i < 300; k += 1, i += 1) {
              h.site.writer.update(actor, 'Shot', shots.get(project) ?? 0, [{ field_name: 'description', value: `d${i}` }]);
              expected.push([h.site.store.lastEventId(), project, `d${i}`]);
            }
          }
        })();
        const recs = await waitFor('300 records', async () => {
          const r = (await h.records()).filter((x) => x[0] === 'tkb');
          return r.length >= 300 ? r : undefined;
        }, 60_000);
        assert.deepEqual(recs.map((r) => [Number(r[1]), Number(r[2]), r[4]]), expected, 'every event once, in the order read, with its project');
        const pids = (project: number): Set<string> => new Set(recs.filter((r) => Number(r[2]) === project).map((r) => r[3] ?? ''));
        assert.equal(pids(aId).size, 1, 'one warm runtime for project A');
        assert.equal(pids(bId).size, 1, 'one warm runtime for project B');
        assert.notDeepEqual([...pids(aId)], [...pids(bId)]);

        // Three changes in one project, likely read in one batch: the one before the hang is kept, the hang deactivates the plugin on its own event.
        const shot = await h.sg.findOne('Shot', [['code', 'is', `batch${aId}`]], ['id']);
        assert.ok(shot);
        for (const value of ['x1', 'hang', 'x2']) await h.sg.update('Shot', Number(shot['id']), { description: value });
        const plugin = await waitFor('the plugin to deactivate', () => daemon.status().plugins.find((p) => p.name === 'tk_batch' && p.status === 'deactivated'), 30_000);
        const after = (await h.records()).filter((x) => x[0] === 'tkb').slice(300).map((r) => r[4]);
        assert.deepEqual(after, ['x1'], 'the event before the hang finished and counts; nothing after it ran');
        const x1 = Number((await h.records()).filter((x) => x[0] === 'tkb').at(-1)?.[1]);
        assert.equal(plugin.lastEventId, x1, 'the cursor stays on the event before the hang, which replays after a fix');
        assert.match(String(plugin.lastError), /callbackTimeoutMs|PLUGIN_CALLBACK_TIMEOUT/);
      } finally {
        await daemon.stop();
      }
    } finally {
      await h.close();
    }
  });

  it('recycles a project\'s runtime when its PipelineConfiguration record changes', async () => {
    const h = await makeHarness();
    try {
      const [aId] = await twoProjectsOnTwoCores(h);
      await addPlugin(h, 'tk_probe.mjs');
      const daemon = await runDaemon(h.config());
      try {
        await h.sg.create('Shot', { code: 'before', project: { type: 'Project', id: aId } });
        await waitFor('the first answer', async () => (await h.records()).some((x) => x[0] === 'tk') || undefined, 60_000);
        const moved = writeConfig(join(h.dir, 'configs', 'a2'), { core: { localized: { version: 'v2.0.0-moved', api3Version: '3.2.0' } }, projectId: aId });
        const pc = await h.sg.findOne('PipelineConfiguration', [['project', 'is', { type: 'Project', id: aId }], ['code', 'is', 'Primary']], ['id']);
        assert.ok(pc);
        await h.sg.update('PipelineConfiguration', Number(pc['id']), { linux_path: moved });
        // The watcher sees the change on the shared log before the next Shot's event.
        await waitFor('the recycle', () => daemon.status().runtimes.every((r) => !r.projects.includes(aId)) || undefined, 30_000);
        await h.sg.create('Shot', { code: 'after', project: { type: 'Project', id: aId } });
        const recs = await waitFor('the second answer', async () => {
          const r = (await h.records()).filter((x) => x[0] === 'tk');
          return r.length >= 2 ? r : undefined;
        }, 60_000);
        assert.deepEqual(recs.map((r) => r[3]), ['v1.2.3-alpha', 'v2.0.0-moved']);
      } finally {
        await daemon.stop();
      }
    } finally {
      await h.close();
    }
  });

  it('`sgeventd check` resolves Toolkit for every active project', async () => {
    const h = await makeHarness();
    try {
      await twoProjectsOnTwoCores(h);
      const third = await h.sg.create('Project', { name: 'No Toolkit', tank_name: 'no_tk' });
      const broken = await h.sg.create('Project', { name: 'Broken', tank_name: 'broken' });
      const badConfig = writeConfig(join(h.dir, 'configs', 'broken'), { core: { cfg: join(h.dir, 'nowhere') }, projectId: Number(broken['id']) });
      await h.sg.create('PipelineConfiguration', { code: 'Primary', project: { type: 'Project', id: broken['id'] }, linux_path: badConfig });
      await addPlugin(h, 'recorder.mjs');
      const file = join(h.dir, 'sgeventd.yaml');
      writeFileSync(file, stringify({
        site: { url: h.site.url, script: { name: 'sgeventd', key: 'sgeventd-key' } },
        daemon: { state: join(h.dir, 'state.db') },
        plugins: [{ path: h.plugins }],
        toolkit: { configsRoot: join(h.dir, 'configs') },
      }));
      const lines = await runCheck(file);
      const byWhat = new Map(lines.map((l) => [l.what, l]));
      assert.equal(byWhat.get('toolkit Demo Alpha')?.ok, true, JSON.stringify(lines));
      assert.match(byWhat.get('toolkit Demo Alpha')?.detail ?? '', /configs\/a on core/);
      assert.equal(byWhat.get('toolkit Demo Beta')?.ok, true);
      assert.equal(byWhat.get(`toolkit ${String(third['name'])}`)?.ok, true, 'a project without Toolkit is reported, not failed');
      assert.equal(byWhat.get('toolkit Broken')?.ok, false, 'a core_Linux.cfg naming a missing folder fails');
      assert.equal(byWhat.get('plugin recorder')?.ok, true);
    } finally {
      await h.close();
    }
  });
});
