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
import { writeYaml } from '../dispatch/child.ts';
import { makeHarness, addPlugin, waitFor, runDaemon } from '../dispatch/harness.ts';

describe('a running daemon, seen through its status server', () => {
  it('serves status, metrics that move, runtimes for `toolkit ps`, and recycles on request', async () => {
    const h = await makeHarness();
    try {
      const project = await h.sg.findOne('Project', [], ['id', 'tank_name'], { order: [{ field_name: 'id', direction: 'asc' }] });
      assert.ok(project);
      const pid = Number(project['id']);
      const cfgPath = writeConfig(join(h.dir, 'configs', 'a'), { core: { localized: { version: 'v1.2.3-alpha', api3Version: '3.1.2' } }, projectId: pid });
      const pc = await h.sg.findOne('PipelineConfiguration', [['project', 'is', { type: 'Project', id: pid }]], ['id']);
      assert.ok(pc);
      await h.sg.update('PipelineConfiguration', Number(pc['id']), { linux_path: cfgPath, plugin_ids: null, descriptor: null });
      await addPlugin(h, 'tk_probe.mjs');
      await addPlugin(h, 'recorder.mjs');
      process.env['SGEVENTD_TEST_KEY'] = 'sgeventd-key';
      const file = await writeYaml(h, { stateFlushMs: 50 }, {}, { http: { port: 0, token: 'a-status-token-123' } });
      const config = await loadConfig(file);
      const release = claimPidFile(config.daemon.pidFile);
      const daemon = await runDaemon(config);
      const http = await startStatusServer(daemon, config);
      assert.ok(http);
      try {
        const url = daemonUrl(config);
        assert.equal(url, http.url);
        const unauthorized = await request(`${http.url}/api/status`);
        assert.equal(unauthorized.statusCode, 401, 'the token is required');
        await unauthorized.body.dump();

        await h.sg.create('Shot', { code: 'web1', project: { type: 'Project', id: pid } });
        await waitFor('the Toolkit answer', async () => (await h.records()).some((r) => r[0] === 'tk') || undefined, 60_000);
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
        await h.sg.create('Shot', { code: 'web2', project: { type: 'Project', id: pid } });
        await waitFor('the counter to move', async () => processed(await metrics()) > before || undefined);
        assert.match(await metrics(), /sgeventd_runtime_starts_total\{project="\d+"\} 1/);

        const status = await collectStatus(file);
        assert.equal(status.source, 'daemon', '`sgeventd status` asks the running daemon');
        assert.ok(status.plugins.every((p) => p.active));

        assert.equal(await requestRecycle(config, http.url, String(project['tank_name'])), 1);
        await waitFor('the runtime to go', async () => (await fetchStatus(config, http.url)).runtimes.length === 0 || undefined);
      } finally {
        await http.stop();
        await daemon.stop();
        release();
      }
      assert.equal(daemonUrl(config), null, 'a stopped daemon leaves no URL behind');
    } finally {
      await h.close();
    }
  });
});
