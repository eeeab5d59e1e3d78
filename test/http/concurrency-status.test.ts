import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { statusDocumentSchema } from '../../src/http/index.ts';
import { startStatusServer } from '../../src/daemon/index.ts';
import { daemonBed, onCleanup, runCli, waitFor, withDaemon, withSite } from '../support/index.ts';

const FIXTURE = new URL('./fixtures/held-lanes.mjs', import.meta.url).pathname;
const TOKEN = 'status-token-123456';

/** The value of a metric line `name{plugin="held"} value` (undefined when absent). */
function metric(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes('plugin="held"'));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

describe('status of a concurrent plugin over HTTP', () => {
  it('/api/status, `sgeventd status` and /metrics show events in flight, key lanes busy, the oldest unfinished event and the lane wait', { timeout: 240_000 }, async (t) => {
    const h = daemonBed(t, await withSite(t));
    const target = join(h.plugins, 'held.mjs');
    copyFileSync(FIXTURE, target);
    chmodSync(target, 0o644);
    const hold = `${h.record}.hold`;
    writeFileSync(hold, '');
    onCleanup(t, () => rmSync(hold, { force: true }));
    const yaml = h.writeYaml({}, {}, { http: { host: '127.0.0.1', port: 0, token: TOKEN } });
    const config = h.config({ http: { host: '127.0.0.1', port: 0, token: TOKEN } });
    const daemon = await withDaemon(t, config);
    const http = await startStatusServer(daemon, config, true);
    assert.ok(http);
    onCleanup(t, () => http.stop());
    // `sgeventd status` asks the daemon whose pid file names a live process.
    writeFileSync(config.daemon.pidFile, `${process.pid}\n`);
    await waitFor(() => daemon.status().plugins.find((p) => p.name === 'held')?.status === 'running', 'the plugin running', 60_000);

    const projects = (await h.site.sg.find('Project', [], ['id'], { order: [{ field_name: 'id', direction: 'asc' }], limit: 2 })).map((p) => ({ type: 'Project', id: p['id'] }));
    assert.equal(projects.length, 2, 'the demo site has two projects');
    const first = await h.site.sg.create('Shot', { code: 'held1', project: projects[0] });
    await h.site.sg.create('Shot', { code: 'held2', project: projects[1] });
    await h.site.sg.update('Shot', first['id'], { description: 'waits behind its _New' });
    const oldest = (await h.site.sg.findOne('EventLogEntry', [['event_type', 'is', 'Shotgun_Shot_New'], ['entity', 'is', { type: 'Shot', id: first['id'] }]], ['id']))?.['id'];
    const newest = await h.site.newestEventId();

    const api = async (): Promise<ReturnType<typeof statusDocumentSchema.parse>> => {
      const res = await request(`${http.url}/api/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(res.statusCode, 200);
      return statusDocumentSchema.parse(await res.body.json());
    };
    const busy = await waitFor(async () => {
      const p = (await api()).plugins.find((x) => x.name === 'held');
      // The lag counts to the newest event the daemon has read: wait until it has read the last one.
      return p !== undefined && p.inFlight === 2 && p.lanesBusy === 2 && p.oldestUnfinished === oldest && p.oldestUnfinishedLag === newest - oldest ? p : undefined;
    }, 'two _New events in flight in two lanes, the lag counted to the newest event', 60_000);
    assert.equal(busy.oldestUnfinishedLag, newest - (oldest as number));

    const metrics = async (): Promise<string> => {
      const res = await request(`${http.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(res.statusCode, 200);
      return res.body.text();
    };
    assert.equal(metric(await metrics(), 'sgeventd_inflight'), 2);

    const cli = await runCli(['status', '-c', yaml, '--json'], h.childEnv());
    assert.equal(cli.code, 0, cli.stderr);
    const row = (JSON.parse(cli.stdout) as { source: string; plugins: Array<{ plugin: string; inFlight: number; lanesBusy: number; oldestUnfinished: number }> });
    assert.equal(row.source, 'daemon');
    const held = row.plugins.find((p) => p.plugin.endsWith('held'));
    assert.deepEqual([held?.inFlight, held?.lanesBusy, held?.oldestUnfinished], [2, 2, oldest]);
    const table = await runCli(['status', '-c', yaml], h.childEnv());
    assert.match(table.stdout, /IN FLIGHT\tLANES BUSY\tOLDEST UNFINISHED/);

    rmSync(hold);
    await waitFor(async () => {
      const p = (await api()).plugins.find((x) => x.name === 'held');
      return p?.inFlight === 0 && p.oldestUnfinished === null && p.lastEventId === newest;
    }, 'every event finished', 60_000);
    const after = await metrics();
    assert.equal(metric(after, 'sgeventd_inflight'), 0);
    // Every event waited in its lane; the change of the first shot waited behind its _New.
    assert.ok((metric(after, 'sgeventd_key_lane_wait_seconds_count') ?? 0) >= 3, 'lane waits observed');
    assert.ok((metric(after, 'sgeventd_key_lane_wait_seconds_sum') ?? 0) > 0);
  });
});
