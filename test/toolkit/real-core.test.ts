/**
 * The interleaving test on real tk-core checkouts. Set SGEVENTD_TK_CORE (and
 * optionally SGEVENTD_TK_CORE_B, a second tag) to a checkout whose info.yml
 * names its version; SGEVENTD_TK_PYTHON picks the interpreter. Without them
 * the test is reported as skipped, never as passed.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { Secret } from '../../src/shared/secret.ts';
import { RuntimePool } from '../../src/toolkit/pool.ts';
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
});
