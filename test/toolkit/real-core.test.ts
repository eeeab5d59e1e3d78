/**
 * The interleaving test on real tk-core checkouts. Set SGEVENTD_TK_CORE (and
 * optionally SGEVENTD_TK_CORE_B, a second tag) to a checkout whose info.yml
 * names its version; SGEVENTD_TK_PYTHON picks the interpreter. Without them
 * the test is reported as skipped, never as passed.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Secret } from '../../src/shared/secret.ts';
import { RuntimePool } from '../../src/toolkit/pool.ts';
import { siteLookup } from '../../src/toolkit/site-lookup.ts';
import { ShotgunClient } from '../../src/shotgrid/index.ts';
import { startSite } from '../../src/site/index.ts';
import { runtimePoolOptions } from '../../src/toolkit/options.ts';
import { FIXTURES, PYTHON, alive, tempDir } from './helpers.ts';
import { coreVersion as version, writeRealConfig } from '../fixtures/toolkit/real-config.ts';

const coreA = process.env.SGEVENTD_TK_CORE;
const coreB = process.env.SGEVENTD_TK_CORE_B ?? coreA;

describe('project runtimes on real tk-core', () => {
  const tmp = tempDir();
  after(() => tmp.cleanup());

  for (const isolation of ['process', 'swap'] as const) {
    it(`interleaves two projects on real cores, each call on its own core (${isolation})`, async (t) => {
      if (coreA === undefined || coreB === undefined) {
        t.skip('SGEVENTD_TK_CORE not set');
        return;
      }
      const root = path.join(tmp.dir, isolation);
      const a = writeRealConfig(root, 'a', coreA, 101);
      const b = writeRealConfig(root, 'b', coreB, 102);
      const pool = new RuntimePool(runtimePoolOptions({
        python: process.env.SGEVENTD_TK_PYTHON ?? PYTHON,
        isolation,
        pythonPath: [path.join(FIXTURES, 'studio_py')],
        callTimeoutMs: 120_000,
        projects: { 101: { mode: 'centralized', path: a.config }, 102: { mode: 'centralized', path: b.config } },
      }), {
        site: { url: 'http://127.0.0.1:9', scriptName: 'sgeventd-test', scriptKey: new Secret('not-a-real-key') },
        stateDir: path.join(root, 'state'),
        initTimeoutMs: 120_000,
      });
      const pids = new Set<number>();
      try {
        for (let i = 0; i < 3; i += 1) {
          const pairs: [number, { config: string; studio: string }, string][] = [[101, a, coreA], [102, b, coreB]];
          for (const [id, cfg, checkout] of pairs) {
            const r = await pool.forProject(id).run('studio_hooks:core_probe') as Record<string, string | number | null>;
            pids.add(r.pid as number);
            assert.equal(r.config, cfg.config);
            assert.equal(r.version, version(checkout));
            assert.ok(String(r.sgtkFile).startsWith(path.join(cfg.studio, 'install', 'core', 'python') + path.sep), String(r.sgtkFile));
            const real = realpathSync(checkout) + path.sep;
            for (const f of [r.api3File, r.topApi3File]) {
              if (f === null) continue;
              const s = String(f);
              assert.ok(s.startsWith(real) || s.startsWith(cfg.studio + path.sep), `shotgun_api3 from ${s}, not from ${checkout}`);
            }
          }
        }
        assert.equal(pids.size, isolation === 'swap' ? 1 : 2);
      } finally {
        await pool.close();
      }
      for (const pid of pids) assert.equal(alive(pid), false);
    });
  }

  it('prepares a distributed configuration with the bootstrap core and runs on the core it pins', async (t) => {
    if (coreA === undefined || coreB === undefined) {
      t.skip('SGEVENTD_TK_CORE not set');
      return;
    }
    const root = path.join(tmp.dir, 'distributed');
    const src = path.join(root, 'src-config');
    mkdirSync(path.join(src, 'core', 'schema'), { recursive: true });
    mkdirSync(path.join(src, 'env'), { recursive: true });
    writeFileSync(path.join(src, 'core', 'roots.yml'), `primary:\n  default: true\n  linux_path: ${root}/data\n  mac_path: null\n  windows_path: null\n`);
    writeFileSync(path.join(src, 'core', 'templates.yml'), "keys:\n  Shot:\n    type: str\npaths:\n  shot_root: 'shots/{Shot}'\nstrings: {}\n");
    writeFileSync(path.join(src, 'core', 'core_api.yml'), `location:\n  type: path\n  path: ${coreB}\n`);
    const site = await startSite({});
    const sg = new ShotgunClient({ baseUrl: site.url, auth: { kind: 'script', scriptName: 'sgeventd', scriptKey: new Secret('sgeventd-key') } });
    const project = await sg.create('Project', { name: 'dist', tank_name: 'dist' });
    await sg.create('LocalStorage', { code: 'primary', linux_path: path.join(root, 'data') });
    const pool = new RuntimePool(runtimePoolOptions({
      python: process.env.SGEVENTD_TK_PYTHON ?? PYTHON, bootstrapCore: coreA, callTimeoutMs: 300_000,
      projects: { [project.id]: { mode: 'distributed', pluginId: 'basic.daemon', baseConfiguration: `sgtk:descriptor:path?path=${src}` } },
    }), {
      site: { url: site.url, scriptName: 'sgeventd', scriptKey: new Secret('sgeventd-key') },
      stateDir: path.join(root, 'state'), lookup: siteLookup(sg), initTimeoutMs: 300_000,
    });
    let pid: number | undefined;
    try {
      const info = await pool.forProject(project.id).info();
      pid = info.pid;
      assert.equal(info.mode, 'distributed');
      assert.equal(info.coreVersion, version(coreB));
      assert.ok(info.configPath?.endsWith(path.join('p' + String(project.id) + '.basic.daemon', 'cfg')), String(info.configPath));
      assert.deepEqual(await pool.forProject(project.id).call('tk', 'templates.shot_root'), { type: 'Template', name: 'shot_root', definition: 'shots/{Shot}' });
    } finally {
      await pool.close();
      await sg.close();
      await site.close();
    }
    assert.equal(alive(pid), false);
  });
});
