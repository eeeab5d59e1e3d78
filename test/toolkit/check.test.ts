import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { runCheck } from '../../src/cli/check.ts';
import { writeConfig, writeCore } from '../fixtures/toolkit/fake-cores.ts';
import { addPlugin, makeHarness } from '../dispatch/harness.ts';
import { PYTHON } from './helpers.ts';

describe('sgeventd check: how Toolkit work shares runtimes', () => {
  for (const share of [true, false]) {
    it(`shows runtimes per project and, with shareCoreRuntimes ${share ? 'on' : 'off'}, which projects share them`, async (t) => {
      const h = await makeHarness();
      t.after(() => h.close());
      const seeded = await h.sg.find('Project', [], ['id', 'name'], { order: [{ field_name: 'id', direction: 'asc' }] });
      const third = await h.sg.create('Project', { name: 'Own Core', tank_name: 'own_core' });
      const [a, b] = seeded.map((p) => ({ id: Number(p['id']), name: String(p['name']) }));
      assert.ok(a && b);
      const studio = writeCore(join(h.dir, 'studio'), { version: 'v9.1.0-studio', api3Version: '3.9.1' });
      const projects = {
        [a.id]: { mode: 'centralized', path: writeConfig(join(h.dir, 'configs', 'a'), { core: { cfg: studio }, projectId: a.id }) },
        [b.id]: { mode: 'centralized', path: writeConfig(join(h.dir, 'configs', 'b'), { core: { cfg: studio }, projectId: b.id }) },
        [String(third['id'])]: { mode: 'centralized', path: writeConfig(join(h.dir, 'configs', 'c'), { core: { localized: { version: 'v1.0.0-own', api3Version: '3.0.0' } }, projectId: Number(third['id']) }) },
      };
      await addPlugin(h, '../toolkit/plugins/tk_hold.py', 'tk_hold.py');
      const file = join(h.dir, 'sgeventd.yaml');
      writeFileSync(file, stringify({
        site: { url: h.site.url, script: { name: 'sgeventd', key: 'sgeventd-key' } },
        daemon: { state: join(h.dir, 'state.db') },
        plugins: [{ path: h.plugins, concurrency: { by: 'project', max: 4 } }],
        toolkit: { python: PYTHON, projects, shareCoreRuntimes: share, maxRuntimesPerProject: 3 },
      }));
      const lines = await runCheck(file);
      const byWhat = new Map(lines.map((l) => [l.what, l]));
      const summary = byWhat.get('toolkit runtimes');
      assert.equal(summary?.ok, true, JSON.stringify(lines));
      assert.match(summary?.detail ?? '', /up to 3 runtime\(s\) per project/);
      assert.equal(/shareCoreRuntimes/.test(summary?.detail ?? ''), share);
      const shares = (name: string): boolean => /shares its runtimes with/.test(byWhat.get(`toolkit ${name}`)?.detail ?? '');
      assert.equal(shares(a.name), share, 'A shares the studio core\'s runtimes with B');
      assert.equal(shares(b.name), share);
      if (share) assert.match(byWhat.get(`toolkit ${a.name}`)?.detail ?? '', new RegExp(`with ${b.name}:`));
      assert.equal(shares('Own Core'), false, 'a localized core never shares');
      const plugin = byWhat.get('plugin tk_hold');
      assert.equal(plugin?.ok, true, JSON.stringify(lines));
      assert.match(plugin?.detail ?? '', /Toolkit/);
      assert.match(plugin?.detail ?? '', /concurrency: by project, max 4/, 'a Toolkit plugin runs projects at once');
    });
  }
});

describe('sgeventd check: distributed projects', () => {
  it('fails a distributed project without toolkit.bootstrapCore (TK_NO_BOOTSTRAP_CORE, naming the project and the key); with one, bootstraps plugin_ids basic.* as a concrete plugin id', async (t) => {
    const h = await makeHarness();
    t.after(() => h.close());
    const project = await h.sg.create('Project', { name: 'Dist Show', tank_name: 'dist_show' });
    const id = Number(project['id']);
    const source = writeConfig(join(h.dir, 'dist-source'), { core: { localized: { version: 'v5.0.0-dist', api3Version: '3.5.0' } }, projectId: id });
    await h.sg.create('PipelineConfiguration', {
      code: 'Primary', project: { type: 'Project', id }, plugin_ids: 'basic.*', descriptor: `sgtk:descriptor:path?path=${source}`,
    });
    const file = join(h.dir, 'sgeventd.yaml');
    const write = (toolkit: Record<string, unknown>): void => writeFileSync(file, stringify({
      site: { url: h.site.url, script: { name: 'sgeventd', key: 'sgeventd-key' } },
      daemon: { state: join(h.dir, 'state.db') },
      plugins: [{ path: h.plugins }],
      toolkit: { python: PYTHON, ...toolkit },
    }));

    write({});
    const without = (await runCheck(file)).find((l) => l.what === 'toolkit Dist Show');
    assert.equal(without?.ok, false, JSON.stringify(without));
    assert.equal(without?.code, 'TK_NO_BOOTSTRAP_CORE');
    assert.match(without?.detail ?? '', new RegExp(`project ${String(id)} \\(dist_show\\)`));
    assert.match(without?.detail ?? '', /toolkit\.bootstrapCore/);

    const bootstrap = writeCore(join(h.dir, 'bootstrap'), { version: 'v0.23.6-bootstrap', api3Version: '3.9.1' });
    write({ bootstrapCore: bootstrap });
    const withCore = (await runCheck(file)).find((l) => l.what === 'toolkit Dist Show');
    assert.equal(withCore?.ok, true, JSON.stringify(withCore));
    assert.match(withCore?.detail ?? '', /plugin id basic\.sgeventd,/, 'a concrete plugin id, not the pattern');
  });
});
