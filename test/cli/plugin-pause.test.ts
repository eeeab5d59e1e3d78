import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/index.ts';
import { collectStatus } from '../../src/cli/status.ts';
import type { Daemon } from '../../src/daemon/index.ts';
import { daemonBed, runCli, waitFor, withDaemon, withSite } from '../support/index.ts';

describe('sgeventd plugin disable / enable', () => {
  it('pauses a plugin in the running daemon and across a restart; enable resumes it at its cursor with nothing lost', async (t) => {
    const h = daemonBed(t, await withSite(t));
    h.addPlugin('recorder.mjs');
    h.addPlugin('recorder.mjs', 'other.mjs');
    const file = h.writeYaml({ stateFlushMs: 50 });
    const config = await loadConfig(file);
    const newShot = (code: string): Promise<number> => h.site.newShotEvent(code);
    const seen = (plugin: string, id: number): boolean => h.records().some((r) => r[0] === plugin && r[1] === String(id));
    const statusIn = (d: Daemon, name: string): string | undefined => d.status().plugins.find((p) => p.name === name)?.status;

    let daemon = await withDaemon(t, config);
    const e1 = await newShot('p1');
    await waitFor(() => seen('recorder', e1), 'recorder to see the first shot');
    const off = await runCli(['plugin', 'disable', 'recorder', '-c', file], h.childEnv());
    assert.equal(off.code, 0, off.stderr);
    assert.match(off.stdout, /^disabled \S+recorder\n$/);
    await waitFor(() => statusIn(daemon, 'recorder') === 'paused', 'the running daemon to pause it', 60_000);
    const e2 = await newShot('p2');
    await waitFor(() => seen('other', e2), 'the other plugin to see the second shot');
    assert.equal(seen('recorder', e2), false, 'a paused plugin gets no events');
    await daemon.stop();

    daemon = await withDaemon(t, config);
    const e3 = await newShot('p3');
    await waitFor(() => seen('other', e3), 'the other plugin to see the third shot');
    assert.equal(statusIn(daemon, 'recorder'), 'paused', 'the pause outlives a restart');
    assert.equal(seen('recorder', e3), false);
    const row = (await collectStatus(file)).plugins.find((p) => p.plugin.endsWith('recorder'));
    assert.deepEqual([row?.state, row?.active], ['paused', false], '`sgeventd status` shows the pause');

    const on = await runCli(['plugin', 'enable', 'recorder', '-c', file], h.childEnv());
    assert.equal(on.code, 0, on.stderr);
    await waitFor(() => seen('recorder', e2) && seen('recorder', e3), 'recorder to catch up from its cursor', 60_000);
    assert.equal(statusIn(daemon, 'recorder'), 'running');
    const once = h.records().filter((r) => r[0] === 'recorder' && r[2] === 'Shotgun_Shot_New').map((r) => Number(r[1]));
    assert.equal(new Set(once).size, once.length, 'no event twice');
    await daemon.stop();

    const unknown = await runCli(['plugin', 'disable', 'nope', '-c', file], h.childEnv());
    assert.equal(unknown.errorCode, 'PLUGIN_UNKNOWN');
    assert.match(unknown.stderr, /"nope".*known: other, recorder/);
  });
});
