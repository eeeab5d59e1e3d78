import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeHarness, addPlugin, waitFor, runDaemon } from './harness.ts';

describe('daemon against the local site', () => {
  it('delivers every new event to every plugin, in id order', async () => {
    const h = await makeHarness();
    try {
      await addPlugin(h, 'recorder.mjs', 'alpha.mjs');
      await addPlugin(h, 'recorder.mjs', 'beta.mjs');
      const daemon = await runDaemon(h.config());
      try {
        const project = await h.sg.findOne('Project', [], ['id']);
        assert.ok(project);
        for (let i = 0; i < 5; i++) await h.sg.create('Shot', { code: `sh${i}`, project: { type: 'Project', id: project['id'] } });
        const newest = (await h.sg.find('EventLogEntry', [], ['id'], { order: [{ field_name: 'id', direction: 'desc' }], limit: 1 }))[0]?.['id'];
        assert.equal(typeof newest, 'number');
        const recs = await waitFor('both plugins to reach the newest event', async () => {
          const r = await h.records();
          const done = ['alpha', 'beta'].every((p) => r.some((x) => x[0] === p && Number(x[1]) === newest));
          return done ? r : undefined;
        });
        for (const p of ['alpha', 'beta']) {
          const ids = recs.filter((x) => x[0] === p).map((x) => Number(x[1]));
          assert.deepEqual(ids, [...ids].sort((a, b) => a - b), `${p} saw events in id order`);
          assert.equal(new Set(ids).size, ids.length, `${p} saw no duplicates`);
          assert.ok(ids.length >= 5 * 2, `${p} saw the New and Change events of 5 shots (${ids.length})`);
        }
        const status = daemon.status();
        assert.equal(status.plugins.length, 2);
        for (const p of status.plugins) assert.equal(p.status, 'running');
      } finally {
        await daemon.stop();
      }
    } finally {
      await h.close();
    }
  });
});
