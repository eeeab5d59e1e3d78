import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { request } from 'undici';
import { loadConfig } from '../../src/config/index.ts';
import { collectStatus } from '../../src/cli/status.ts';
import { daemonUrl, fetchStatus, requestRecycle } from '../../src/cli/daemon-api.ts';
import { claimPidFile } from '../../src/cli/pidfile.ts';
import { startStatusServer } from '../../src/daemon/index.ts';
import { writeConfig } from '../fixtures/toolkit/fake-cores.ts';
import { daemonBed, onCleanup, waitFor, withDaemon, withSite } from '../support/index.ts';

describe('a running daemon, seen through its status server', () => {
  it('serves status, metrics that move, runtimes for `toolkit ps`, and recycles on request', async (t) => {
    const h = daemonBed(t, await withSite(t));
    const sg = h.site.sg;
    const project = await sg.findOne('Project', [], ['id', 'tank_name'], { order: [{ field_name: 'id', direction: 'asc' }] });
    assert.ok(project);
    const pid = Number(project['id']);
    const cfgPath = writeConfig(join(h.dir, 'configs', 'a'), { core: { localized: { version: 'v1.2.3-alpha', api3Version: '3.1.2' } }, projectId: pid });
    const pc = await sg.findOne('PipelineConfiguration', [['project', 'is', { type: 'Project', id: pid }]], ['id']);
    assert.ok(pc);
    await sg.update('PipelineConfiguration', Number(pc['id']), { linux_path: cfgPath, plugin_ids: null, descriptor: null });
    h.addPlugin('tk_probe.mjs');
    h.addPlugin('recorder.mjs');
    const file = h.writeYaml({ stateFlushMs: 50 }, {}, { http: { port: 0, token: 'a-status-token-123' } });
    const config = await loadConfig(file);
    const release = claimPidFile(config.daemon.pidFile);
    onCleanup(t, release);
    const daemon = await withDaemon(t, config);
    const http = await startStatusServer(daemon, config);
    assert.ok(http);
    onCleanup(t, () => http.stop());
    const url = daemonUrl(config);
    assert.equal(url, http.url);
    const unauthorized = await request(`${http.url}/api/status`);
    assert.equal(unauthorized.statusCode, 401, 'the token is required');
    await unauthorized.body.dump();

    await sg.create('Shot', { code: 'web1', project: { type: 'Project', id: pid } });
    await waitFor(() => h.records().some((r) => r[0] === 'tk'), 'the Toolkit answer', 60_000);
    const doc = await fetchStatus(config, http.url);
    assert.deepEqual(doc.plugins.map((p) => p.name).sort(), ['recorder', 'tk_probe']);
    assert.equal(doc.runtimes.length, 1);
    assert.equal(doc.runtimes[0]?.coreVersion, 'v1.2.3-alpha');

    const metrics = async (): Promise<string> => {
      const res = await request(`${http.url}/metrics`, { headers: { authorization: 'Bearer a-status-token-123' } });
      return res.body.text();
    };
    const processed = (text: string): number => Number(/sgeventd_events_processed_total\{plugin="recorder"\} (\d+)/.exec(text)?.[1] ?? 0);
    const before = processed(await metrics());
    assert.ok(before >= 1);
    await sg.create('Shot', { code: 'web2', project: { type: 'Project', id: pid } });
    await waitFor(async () => processed(await metrics()) > before, 'the counter to move');
    assert.match(await metrics(), /sgeventd_runtime_starts_total\{project="\d+"\} 1/);

    const status = await collectStatus(file);
    assert.equal(status.source, 'daemon', '`sgeventd status` asks the running daemon');
    assert.ok(status.plugins.every((p) => p.active));

    assert.equal(await requestRecycle(config, http.url, String(project['tank_name'])), 1);
    await waitFor(async () => (await fetchStatus(config, http.url)).runtimes.length === 0, 'the runtime to go');
    await http.stop();
    await daemon.stop();
    release();
    assert.equal(daemonUrl(config), null, 'a stopped daemon leaves no URL behind');
  });
});
