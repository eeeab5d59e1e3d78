import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/index.ts';
import { collectStatus } from '../../src/cli/status.ts';
import { childEnv, writeYaml } from '../dispatch/child.ts';
import { makeHarness, addPlugin, newShotEvent, waitFor, runDaemon } from '../dispatch/harness.ts';
import { runCli } from './run-cli.ts';

describe('sgeventd plugin disable / enable', () => {
  it('pauses a plugin in the running daemon and across a restart; enable resumes it at its cursor with nothing lost', async () => {
    const h = await makeHarness();
    try {
      await addPlugin(h, 'recorder.mjs');
      await addPlugin(h, 'recorder.mjs', 'other.mjs');
      process.env['SGEVENTD_TEST_KEY'] = 'sgeventd-key';
      const file = await writeYaml(h, { stateFlushMs: 50 });
      const config = await loadConfig(file);
      const newShot = (code: string): Promise<number> => newShotEvent(h, code);
      const seen = async (plugin: string, id: number): Promise<boolean> => (await h.records()).some((r) => r[0] === plugin && r[1] === String(id));
      const statusIn = (d: Awaited<ReturnType<typeof runDaemon>>, name: string): string | undefined => d.status().plugins.find((p) => p.name === name)?.status;

      let daemon = await runDaemon(config);
      let e2: number;
      try {
        const e1 = await newShot('p1');
        await waitFor('recorder to see the first shot', () => seen('recorder', e1));
        const off = await runCli(['plugin', 'disable', 'recorder', '-c', file], childEnv(h));
        assert.equal(off.code, 0, off.stderr);
        assert.match(off.stdout, /^disabled \S+recorder\n$/);
        await waitFor('the running daemon to pause it', () => statusIn(daemon, 'recorder') === 'paused', 10_000);
        e2 = await newShot('p2');
        await waitFor('the other plugin to see the second shot', () => seen('other', e2));
        assert.equal(await seen('recorder', e2), false, 'a paused plugin gets no events');
      } finally {
        await daemon.stop();
      }

      daemon = await runDaemon(config);
      try {
        const e3 = await newShot('p3');
        await waitFor('the other plugin to see the third shot', () => seen('other', e3));
        assert.equal(statusIn(daemon, 'recorder'), 'paused', 'the pause outlives a restart');
        assert.equal(await seen('recorder', e3), false);
        const row = (await collectStatus(file)).plugins.find((p) => p.plugin.endsWith('recorder'));
        assert.deepEqual([row?.state, row?.active], ['paused', false], '`sgeventd status` shows the pause');

        const on = await runCli(['plugin', 'enable', 'recorder', '-c', file], childEnv(h));
        assert.equal(on.code, 0, on.stderr);
        await waitFor('recorder to catch up from its cursor', async () => (await seen('recorder', e2)) && (await seen('recorder', e3)), 10_000);
        assert.equal(statusIn(daemon, 'recorder'), 'running');
        const once = (await h.records()).filter((r) => r[0] === 'recorder' && r[2] === 'Shotgun_Shot_New').map((r) => Number(r[1]));
        assert.equal(new Set(once).size, once.length, 'no event twice');
      } finally {
        await daemon.stop();
      }

      const unknown = await runCli(['plugin', 'disable', 'nope', '-c', file], childEnv(h));
      assert.equal(unknown.errorCode, 'PLUGIN_UNKNOWN');
      assert.match(unknown.stderr, /"nope".*known: other, recorder/);
    } finally {
      await h.close();
    }
  });
});
