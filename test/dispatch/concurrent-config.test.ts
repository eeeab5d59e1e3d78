import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseConfig, pluginOptionsFor, ConfigValidationError } from '../../src/config/index.ts';
import { runCli } from '../cli/run-cli.ts';
import { makeHarness, addPlugin } from './harness.ts';
import { writeYaml, childEnv } from './child.ts';

const site = { url: 'http://127.0.0.1:8090', script: { name: 'sgeventd', key: 'k3y-value' } };
const LANES = new URL('./fixtures/lane-recorder.mjs', import.meta.url).pathname;

describe('concurrency option', () => {
  it('is read from a folder and from overrides; absent, the plugin file decides (default none)', () => {
    const config = parseConfig({
      site,
      plugins: [{ path: '/p', concurrency: { by: 'project', max: 16 }, overrides: { one: { concurrency: { by: 'none' } }, two: { concurrency: { by: 'entity', max: 3 } } } }, { path: '/q' }],
    }, { source: 'test' });
    const [p, q] = config.plugins;
    assert.ok(p && q);
    assert.deepEqual(pluginOptionsFor(p, 'other').concurrency, { by: 'project', max: 16 });
    assert.deepEqual(pluginOptionsFor(p, 'one').concurrency, { by: 'none', max: 8 });
    assert.deepEqual(pluginOptionsFor(p, 'two').concurrency, { by: 'entity', max: 3 });
    assert.equal(pluginOptionsFor(q, 'any').concurrency, undefined);
  });

  it('refuses an unknown key or a max below 1, naming the option', () => {
    for (const concurrency of [{ by: 'shot' }, { by: 'project', max: 0 }]) {
      assert.throws(() => parseConfig({ site, plugins: [{ path: '/p', concurrency }] }, { source: 'test' }), (err: unknown) => {
        assert.ok(err instanceof ConfigValidationError);
        assert.equal(err.code, 'CONFIG_INVALID');
        assert.ok(err.issues.some((i) => i.key.startsWith('plugins.0.concurrency')), JSON.stringify(err.issues));
        return true;
      });
    }
  });

  it('sgeventd check prints the effective value per plugin: the config over the file, the file over the default', async () => {
    const h = await makeHarness();
    try {
      await copyFile(LANES, join(h.plugins, 'declared.mjs'));
      await copyFile(LANES, join(h.plugins, 'overridden.mjs'));
      await addPlugin(h, 'recorder.mjs', 'plain.mjs');
      const yaml = await writeYaml(h, {}, { overrides: { overridden: { concurrency: { by: 'project', max: 2 } } } });
      const r = await runCli(['check', '-c', yaml, '--no-toolkit'], childEnv(h));
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^ok +plugin declared: .*concurrency: by entity, max 8$/m);
      assert.match(r.stdout, /^ok +plugin overridden: .*concurrency: by project, max 2$/m);
      assert.match(r.stdout, /^ok +plugin plain: .*concurrency: none$/m);
    } finally {
      await h.close();
    }
  });
});
