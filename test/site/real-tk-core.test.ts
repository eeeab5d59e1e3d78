// Real tk-core against the local site. Opt-in: set SGEVENTD_TK_CORE to a tk-core checkout
// (v0.23.6 or newer, never committed), as for test/toolkit/real-core.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { withSite } from '../support/index.ts';

const core = process.env.SGEVENTD_TK_CORE;
const script = fileURLToPath(new URL('../fixtures/site/tk_core_folders_publish.py', import.meta.url));

describe('real tk-core on the local site', () => {
  it('creates step folders, registers a publish with its thumbnail and finds it back', { timeout: 120_000 }, async (t) => {
    if (core === undefined) {
      t.skip('SGEVENTD_TK_CORE not set');
      return;
    }
    const dir = mkdtempSync(path.join(tmpdir(), 'sgeventd-tk-site-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    {
      const { site } = await withSite(t, { seed: 'demo' });
      const { stdout } = await promisify(execFile)(process.env.SGEVENTD_PYTHON ?? 'python3', [script, site.url, dir], { env: { ...process.env, SGEVENTD_TK_CORE: core } });
      const out = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
      assert.deepEqual(out.steps, ['ANM', 'CMP', 'LAY']);
      assert.deepEqual(out.paths_from_entity, [out.shot_dir]);
      assert.equal(out.sgtk_from_path, path.join(dir, 'pc'));
      const pub = out.publish as Record<string, unknown>;
      assert.deepEqual(pub.path_cache_storage, { type: 'LocalStorage', id: 1, name: 'primary' });
      assert.equal((await fetch(pub.image as string)).status, 200);
      assert.deepEqual(out.find_publish, { [out.path as string]: pub.id });
    }
  });
});
