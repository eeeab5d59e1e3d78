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

describe('Python plugins', () => {
  it('runs an unchanged shotgunEvents plugin in its own process, with module state and aware datetimes', async () => {
    const h = await makeHarness();
    try {
      await addPlugin(h, 'classic.py');
      await addPlugin(h, 'recorder.mjs', 'js.mjs');
      const daemon = await runDaemon(h.config());
      try {
        const project = await h.sg.findOne('Project', [], ['id']);
        assert.ok(project);
        const shot = await h.sg.create('Shot', { code: 'py1', project: { type: 'Project', id: project['id'] } });
        await h.sg.update('Shot', shot['id'], { sg_status_list: 'ip' });
        await h.sg.update('Shot', shot['id'], { description: 'not matched' });
        const statusEvent = await h.sg.findOne('EventLogEntry', [['event_type', 'is', 'Shotgun_Shot_Change'], ['attribute_name', 'is', 'sg_status_list']], ['id'], { order: [{ field_name: 'id', direction: 'desc' }] });
        const lastStatusId = statusEvent?.['id'];
        const descEvent = await h.sg.findOne('EventLogEntry', [['attribute_name', 'is', 'description']], ['id'], { order: [{ field_name: 'id', direction: 'desc' }] });
        const recs = await waitFor('the JS plugin to pass the last event, and the Python plugin the status change', async () => {
          const r = await h.records();
          const jsDone = r.some((x) => x[0] === 'js' && Number(x[1]) === descEvent?.['id']);
          return jsDone && r.some((x) => x[0] === 'classic' && Number(x[1]) === lastStatusId) ? r : undefined;
        });
        const classic = recs.filter((x) => x[0] === 'classic');
        assert.equal(classic[0]?.[2], 'Shotgun_Shot_New');
        assert.ok(classic.slice(1).every((x) => x[2] === 'Shotgun_Shot_Change'), 'only matched event types');
        assert.ok(!classic.some((x) => Number(x[1]) === descEvent?.['id']), 'a change of an unmatched attribute never reaches the plugin');
        assert.deepEqual(classic.map((x) => x[3]), classic.map((_, i) => String(i + 1)), 'module-level state persists between events');
        assert.ok(classic.every((x) => x[4] === 'datetime'));
        const snap = daemon.status().plugins.find((p) => p.name === 'classic');
        assert.equal(snap?.kind, 'python');
        assert.equal(snap?.status, 'running');
      } finally {
        await daemon.stop();
      }
    } finally {
      await h.close();
    }
  });
});
