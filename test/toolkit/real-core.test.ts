/**
 * The interleaving test on real tk-core checkouts. Set SGEVENTD_TK_CORE (and
 * optionally SGEVENTD_TK_CORE_B, a second tag) to a checkout whose info.yml
 * names its version; SGEVENTD_TK_PYTHON picks the interpreter. Without them
 * the test is reported as skipped, never as passed.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Secret } from '../../src/shared/secret.ts';
import { RuntimePool } from '../../src/toolkit/pool.ts';
import { runtimePoolOptions } from '../../src/toolkit/options.ts';
import { FIXTURES, PYTHON, alive, tempDir } from './helpers.ts';

const coreA = process.env.SGEVENTD_TK_CORE;
const coreB = process.env.SGEVENTD_TK_CORE_B ?? coreA;

/** A minimal centralized configuration on a shared core (toolkit.md §4). */
export function writeRealConfig(root: string, name: string, checkout: string, projectId: number): { config: string; studio: string } {
  const studio = path.join(root, `studio-${name}`);
  mkdirSync(path.join(studio, 'install'), { recursive: true });
  mkdirSync(path.join(studio, 'config', 'core'), { recursive: true });
  symlinkSync(checkout, path.join(studio, 'install', 'core'));
  writeFileSync(path.join(studio, 'config', 'core', 'shotgun.yml'), 'host: http://127.0.0.1:9\n');
  const pc = path.join(root, `pc-${name}`);
  for (const d of ['config/core/schema', 'install/core', 'data']) mkdirSync(path.join(pc, d), { recursive: true });
  writeFileSync(path.join(pc, 'install', 'core', 'core_Linux.cfg'), studio);
  writeFileSync(path.join(pc, 'config', 'core', 'roots.yml'), `primary:\n  default: true\n  linux_path: ${pc}/data\n  mac_path: null\n  windows_path: null\n`);
  writeFileSync(path.join(pc, 'config', 'core', 'pipeline_configuration.yml'),
    `project_name: proj_${name}\nproject_id: ${projectId}\npc_id: ${projectId}\npc_name: Primary\npublished_file_entity_type: PublishedFile\nuse_shotgun_path_cache: true\n`);
  writeFileSync(path.join(pc, 'config', 'core', 'install_location.yml'), `Linux: '${pc}'\nDarwin: ''\nWindows: ''\n`);
  writeFileSync(path.join(pc, 'config', 'core', 'templates.yml'),
    "keys:\n  Shot:\n    type: str\n  version:\n    type: int\n    format_spec: '03'\npaths:\n  shot_work: 'shots/{Shot}/work/v{version}.ma'\nstrings: {}\n");
  return { config: pc, studio };
}

function version(checkout: string): string {
  return /^version:\s*"?([^"\n]+)"?/m.exec(readFileSync(path.join(checkout, 'info.yml'), 'utf8'))?.[1] ?? 'unknown';
}

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
          for (const [id, cfg, checkout] of [[101, a, coreA], [102, b, coreB]] as const) {
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
