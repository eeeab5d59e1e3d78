import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { addPlugin, makeHarness, newestEventId, runDaemon, waitFor } from '../dispatch/harness.ts';

const LONG = 3_000_000_000; // past the 2^31-1 ms a Node timer takes

describe('durations past the platform timer limit', () => {
  it('a daemon with a 35-day callback timeout loads its JS and Python plugins and delivers (no 1 ms timers)', async () => {
    const h = await makeHarness();
    after(() => h.close());
    await addPlugin(h, 'recorder.mjs', 'js.mjs');
    await addPlugin(h, 'classic.py', 'py.py');
    const daemon = await runDaemon(h.config({ daemon: { callbackTimeoutMs: LONG, backlogTimeoutMs: LONG } }));
    after(() => daemon.stop());
    const project = await h.sg.findOne('Project', [], ['id']);
    assert.ok(project);
    await h.sg.create('Shot', { code: 'long', project: { type: 'Project', id: project['id'] } });
    const newest = await newestEventId(h);
    await waitFor('the JS plugin to record the newest event and the Python plugin the new shot', async () => {
      const r = await h.records();
      return r.some((x) => x[0] === 'js' && Number(x[1]) === newest) && r.some((x) => x[0] === 'classic' && x[2] === 'Shotgun_Shot_New');
    });
    const snapshot = daemon.status().plugins;
    assert.ok(snapshot.length >= 2);
    for (const p of snapshot) assert.notEqual(p.status, 'failed', JSON.stringify(p));
  });
});
