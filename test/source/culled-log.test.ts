import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { startStatusServer } from '../../src/daemon/index.ts';
import { DEFAULT_SCRIPT } from '../../src/site/index.ts';
import { daemonBed, onCleanup, runCli, waitFor, withDaemon, withSite, type DaemonBed } from '../support/index.ts';

/** POSTs an admin route of the local site over HTTP, as the script. */
async function siteAdmin(url: string, route: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}/admin/events/${route}`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ script_name: DEFAULT_SCRIPT.name, script_key: DEFAULT_SCRIPT.key, ...body }),
  });
  assert.equal(res.status, 200, `admin ${route}`);
  return await res.json() as Record<string, unknown>;
}

function seen(h: DaemonBed): number[] {
  return h.records().filter((r) => r[0] === 'recorder').map((r) => Number(r[1]));
}

describe('a culled event log', { timeout: 120_000 }, () => {
  it('stops the plugin with EVENT_LOG_CULLED naming the range, until plugin ack-gap; an ordinary gap does not', async (t) => {
    const site = await withSite(t);
    const h = daemonBed(t, site);
    h.addPlugin('recorder.mjs');
    const http = { host: '127.0.0.1', port: 0 };
    const config = h.config({ http });
    const yaml = h.writeYaml({}, {}, { http });

    // A first run leaves the plugin's cursor on the newest event.
    const first = await withDaemon(t, config);
    const a = await site.newShotEvent('before-cull');
    await waitFor(() => seen(h).includes(a), 'the recorder to see the first shot');
    const cursor = await site.newestEventId();
    await waitFor(() => first.status().plugins[0]?.lastEventId === cursor, 'the cursor to reach the newest event');
    await first.stop();

    // While it is down, events come and the site culls the log up to the last of them.
    await site.newShotEvent('culled1');
    await site.newShotEvent('culled2');
    const kept = await site.newShotEvent('kept');
    const culled = await siteAdmin(site.url, 'cull', { before_id: kept });
    assert.ok(Number(culled['culled']) > 0, 'rows were culled');

    const daemon = await withDaemon(t, config);
    const stopped = await waitFor(() => {
      const p = daemon.status().plugins[0];
      return p?.status === 'deactivated' ? p : undefined;
    }, 'the plugin to stop at the culled range');
    assert.match(stopped.lastError ?? '', /^EVENT_LOG_CULLED: /);
    assert.ok(stopped.lastError?.includes(`${cursor + 1}–${kept - 1}`), `the range is named: ${stopped.lastError}`);
    assert.equal(stopped.lastEventId, cursor, 'the cursor did not move over the culled range');
    assert.ok(!seen(h).includes(kept), 'nothing after the culled range was handed out');

    // The operator acknowledges with the running daemon: it resumes at the oldest event kept.
    writeFileSync(config.daemon.pidFile, `${process.pid}\n`);
    const status = await startStatusServer(daemon, config, true);
    assert.ok(status);
    onCleanup(t, () => status.stop());
    const ack = await runCli(['plugin', 'ack-gap', 'recorder', '-c', yaml], h.childEnv());
    assert.equal(ack.code, 0, ack.stderr);
    assert.ok(ack.stdout.includes(`${cursor + 1}–${kept - 1}`), ack.stdout);
    await waitFor(() => seen(h).includes(kept), 'the recorder to get the oldest event kept');
    assert.equal(daemon.status().plugins[0]?.status, 'running');

    // An ordinary gap (ids never used) above the cursor is not a culled log.
    await siteAdmin(site.url, 'burn', { count: 5 });
    const after = await site.newShotEvent('after-gap');
    await waitFor(() => seen(h).includes(after), 'the recorder to get the event after an ordinary gap');
    assert.equal(daemon.status().plugins[0]?.status, 'running');
    assert.deepEqual(seen(h).filter((id) => id > cursor && id < kept), [], 'no culled id was ever delivered');
  });

  it('ack-gap on a plugin whose cursor is above the oldest event changes nothing', async (t) => {
    const site = await withSite(t);
    const h = daemonBed(t, site);
    h.addPlugin('recorder.mjs');
    const config = h.config();
    const yaml = h.writeYaml();
    const daemon = await withDaemon(t, config);
    await site.newShotEvent('one');
    const newest = await site.newestEventId();
    await waitFor(() => daemon.status().plugins[0]?.lastEventId === newest, 'the cursor to reach the newest event');
    await daemon.stop();
    const ack = await runCli(['plugin', 'ack-gap', 'recorder', '-c', yaml], h.childEnv());
    assert.equal(ack.code, 0, ack.stderr);
    assert.match(ack.stdout, /nothing culled/);
    const unknown = await runCli(['plugin', 'ack-gap', 'nosuch', '-c', yaml], h.childEnv());
    assert.equal(unknown.errorCode, 'PLUGIN_UNKNOWN');
  });
});
