import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { loadConfig } from '../../src/config/index.ts';
import { daemonUrl, fetchStatus, requestReload } from '../../src/cli/daemon-api.ts';
import { claimPidFile } from '../../src/cli/pidfile.ts';
import { startStatusServer } from '../../src/daemon/index.ts';
import { daemonBed, onCleanup, runCli, waitFor, withDaemon, withSite, type DaemonBed } from '../support/index.ts';

/** A plugin that tags each new Shot with a value from a helper module in a subfolder, and fails while the tag is "fail". */
function writeTaggedPlugin(h: DaemonBed): (tag: string) => void {
  const lib = join(h.plugins, 'lib');
  mkdirSync(lib, { mode: 0o755 });
  chmodSync(lib, 0o755);
  const plugin = join(h.plugins, 'tagged.mjs');
  writeFileSync(plugin, [
    "import { appendFileSync } from 'node:fs';",
    "import { TAG } from './lib/tag.mjs';",
    'export function registerCallbacks(reg) {',
    "  reg.registerCallback('sgeventd', 'sgeventd-key', (ctx) => {",
    "    if (TAG === 'fail') throw new Error('the helper says fail');",
    '    appendFileSync(process.env.SGEVENTD_TEST_RECORD, `tagged ${ctx.event.id} ${TAG}\\n`);',
    '  }, { Shotgun_Shot_New: null });',
    '}',
    '',
  ].join('\n'));
  chmodSync(plugin, 0o644);
  const helper = join(lib, 'tag.mjs');
  return (tag) => {
    writeFileSync(helper, `export const TAG = ${JSON.stringify(tag)};\n`);
    chmodSync(helper, 0o644);
  };
}

describe('sgeventd plugin reload', () => {
  it('re-imports a plugin in the running daemon: changed helpers are picked up, a deactivated plugin replays, no event is lost', async (t) => {
    const h = daemonBed(t, await withSite(t));
    const setTag = writeTaggedPlugin(h);
    setTag('v1');
    h.addPlugin('recorder.mjs');
    const file = h.writeYaml({ stateFlushMs: 50 }, {}, { http: { port: 0 } });
    const config = await loadConfig(file);
    const release = claimPidFile(config.daemon.pidFile);
    onCleanup(t, release);
    const daemon = await withDaemon(t, config);
    const http = await startStatusServer(daemon, config);
    assert.ok(http);
    onCleanup(t, () => http.stop());
    const newShot = (code: string): Promise<number> => h.site.newShotEvent(code);
    const tagOf = (id: number) => waitFor(() => h.records().find((r) => r[0] === 'tagged' && r[1] === String(id))?.[2], `tagged to see event ${id}`);
    const statusOf = async (name: string): Promise<string | undefined> => (await fetchStatus(config, http.url)).plugins.find((p) => p.name === name)?.status;
    const url = daemonUrl(config);
    assert.equal(url, http.url);

    const e1 = await newShot('r1');
    assert.equal(await tagOf(e1), 'v1');
    setTag('v2');
    // The file watcher follows plugin files, not what they import.
    const e2 = await newShot('r2');
    assert.equal(await tagOf(e2), 'v1', 'a helper change alone does not reload');

    const cli = await runCli(['plugin', 'reload', 'tagged', '-c', file], process.env);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(cli.stdout, 'reloaded tagged\n');
    const e3 = await newShot('r3');
    assert.equal(await tagOf(e3), 'v2', 'the reloaded plugin imports the changed helper');

    // A failing helper deactivates the plugin on its event (stopOnError);
    // fixing the helper and reloading replays that event.
    setTag('fail');
    assert.deepEqual(await requestReload(config, http.url, 'tagged'), ['tagged']);
    const e4 = await newShot('r4');
    await waitFor(async () => (await statusOf('tagged')) === 'deactivated', 'tagged to deactivate');
    assert.equal(await statusOf('recorder'), 'running', 'the other plugin goes on');
    setTag('v3');
    assert.deepEqual(await requestReload(config, http.url), ['recorder', 'tagged'], 'no name reloads them all');
    assert.equal(await tagOf(e4), 'v3', 'the failed event replays after the reload');
    assert.equal(await statusOf('tagged'), 'running');

    const taggedIds = new Set(h.records().filter((r) => r[0] === 'tagged').map((r) => Number(r[1])));
    assert.deepEqual([e1, e2, e3, e4].filter((id) => !taggedIds.has(id)), [], 'every new Shot reached the plugin');
    await waitFor(() => h.records().some((r) => r[0] === 'recorder' && r[1] === String(e4)), 'recorder to see the last event');

    await assert.rejects(requestReload(config, http.url, 'nope'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'PLUGIN_UNKNOWN');
      assert.match(err.message, /"nope".*known: recorder, tagged/);
      return true;
    });
    const bare = await request(`${http.url}/api/plugins/reload`, { method: 'POST' });
    assert.equal(bare.statusCode, 400, 'an action needs its x-sgeventd-action header');
    await bare.body.dump();
    const wrong = await request(`${http.url}/api/plugins/reload`, { method: 'POST', headers: { 'x-sgeventd-action': 'recycle' } });
    assert.equal(wrong.statusCode, 400, 'the header names this action, not another');
    await wrong.body.dump();
    await http.stop();
    await daemon.stop();
    release();
    const after = await runCli(['plugin', 'reload', '-c', file], process.env);
    assert.equal(after.errorCode, 'DAEMON_NOT_RUNNING', 'without a running daemon there is nothing to reload');
    assert.notEqual(after.code, 0);
  });
});
