import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Secret } from '../../src/shared/secret.ts';
import { ShotgunClient } from '../../src/shotgrid/index.ts';
import { startSite } from '../../src/site/index.ts';
import type { RunningSite } from '../../src/site/index.ts';
import { RuntimePool, runtimePoolOptions, siteLookup } from '../../src/toolkit/index.ts';
import { writeStudio } from '../fixtures/toolkit/fake-cores.ts';
import type { FakeStudio } from '../fixtures/toolkit/fake-cores.ts';
import { PYTHON, alive, tempDir } from './helpers.ts';

describe('resolution through a real site', () => {
  const tmp = tempDir();
  let site: RunningSite;
  let sg: ShotgunClient;
  let studio: FakeStudio;
  const ids: Record<string, number> = {};

  before(async () => {
    studio = writeStudio(tmp.dir);
    site = await startSite({});
    sg = new ShotgunClient({ baseUrl: site.url, auth: { kind: 'script', scriptName: 'sgeventd', scriptKey: new Secret('sgeventd-key') } });
    for (const name of ['alpha', 'gamma', 'dist', 'bare']) {
      ids[name] = (await sg.create('Project', { name, tank_name: name })).id;
    }
    await sg.create('PipelineConfiguration', { code: 'Primary', project: { type: 'Project', id: ids.gamma! }, linux_path: studio.gamma, windows_path: 'G:\\gamma' });
    await sg.create('PipelineConfiguration', { code: 'Dev', project: { type: 'Project', id: ids.alpha! }, linux_path: '/nowhere' });
    await sg.create('PipelineConfiguration', { code: 'Primary', project: { type: 'Project', id: ids.dist! }, plugin_ids: 'basic.*' });
  });
  after(async () => {
    await sg.close();
    await site.close();
    tmp.cleanup();
  });

  it('reads the Primary PipelineConfiguration and the tank_name', async () => {
    const lookup = siteLookup(sg);
    const pc = await lookup.findPrimaryPipelineConfiguration(ids.gamma!);
    assert.equal(pc?.linux_path, studio.gamma);
    assert.equal(pc?.windows_path, 'G:\\gamma');
    assert.equal(await lookup.findPrimaryPipelineConfiguration(ids.alpha!), null, 'only the Primary one counts');
    assert.equal((await lookup.findPrimaryPipelineConfiguration(ids.dist!))?.plugin_ids, 'basic.*');
    assert.equal((await lookup.findProject?.(ids.alpha!))?.tank_name, 'alpha');
  });

  it('runs each project on the core its site record or tank_name leads to', async () => {
    const pool = new RuntimePool(runtimePoolOptions({ python: PYTHON, configsRoot: path.join(tmp.dir, 'configs') }), {
      site: { url: site.url, scriptName: 'sgeventd', scriptKey: new Secret('sgeventd-key') },
      stateDir: path.join(tmp.dir, 'state'),
      lookup: siteLookup(sg),
    });
    const pids: number[] = [];
    try {
      const g = await pool.forProject({ type: 'Project', id: ids.gamma! }).call('tk', 'probe') as { coreVersion: string; configPath: string; pid: number; hostUrl: string };
      assert.equal(g.configPath, studio.gamma);
      assert.equal(g.coreVersion, studio.versions.studio);
      assert.equal(g.hostUrl, site.url);
      const a = await pool.forProject(ids.alpha!).call('tk', 'probe') as { coreVersion: string; configPath: string; pid: number };
      assert.equal(a.configPath, studio.alpha, 'configsRoot/<tank_name>');
      assert.equal(a.coreVersion, studio.versions.alpha);
      pids.push(g.pid, a.pid);
      const dist = await pool.resolve(ids.dist!).then(() => undefined, (e: unknown) => e as { code: string });
      assert.equal(dist?.code, 'TK_NO_BOOTSTRAP_CORE');
      const bare = await pool.forProject(ids.bare!).call('tk', 'probe').then(() => undefined, (e: unknown) => e as { code: string });
      assert.equal(bare?.code, 'TK_NO_CONFIG');
    } finally {
      await pool.close();
    }
    for (const pid of pids) assert.equal(alive(pid), false);
  });
});
