import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openSqliteState } from '../../src/state/index.ts';
import { makeHarness, addPlugin, waitFor, runDaemon, logLines, newestEventId, type Harness } from './harness.ts';

async function shot(h: Harness, code: string): Promise<void> {
  const project = await h.sg.findOne('Project', [], ['id']);
  assert.ok(project);
  await h.sg.create('Shot', { code, project: { type: 'Project', id: project['id'] } });
}

const ids = (recs: string[][], plugin: string): number[] => recs.filter((r) => r[0] === plugin).map((r) => Number(r[1]));

describe('gaps in event ids', () => {
  it('processes late ids when they show up, after higher ones', async () => {
    const h = await makeHarness();
    try {
      await addPlugin(h, 'recorder.mjs', 'rec.mjs');
      const daemon = await runDaemon(h.config());
      try {
        const before = await newestEventId(h);
        h.site.holdEvents(2);
        await shot(h, 'late1');
        await shot(h, 'late2');
        const held = h.site.hiddenEventIds();
        assert.deepEqual(held, [before + 1, before + 2]);
        const last = await newestEventId(h);
        await waitFor('the visible events to be processed', async () => ids(await h.records(), 'rec').includes(last));
        assert.ok(!ids(await h.records(), 'rec').some((id) => held.includes(id)), 'hidden ids are not delivered');
        const snap = daemon.status().plugins[0];
        assert.equal(snap?.backlog, 2, 'the two missing ids wait in the backlog');

        assert.equal(h.site.releaseEvents(), 2);
        const recs = await waitFor('the late ids to be processed', async () => {
          const r = await h.records();
          return held.every((id) => ids(r, 'rec').includes(id)) ? r : undefined;
        });
        const seen = ids(recs, 'rec');
        assert.equal(new Set(seen).size, seen.length, 'no duplicates');
        const posLast = seen.indexOf(last);
        for (const id of held) assert.ok(seen.indexOf(id) > posLast, `late id ${id} came after the higher ids`);
        assert.deepEqual([...seen].sort((a, b) => a - b), Array.from({ length: last - before }, (_, i) => before + 1 + i), 'every id exactly once');
        await waitFor('the backlog to empty', () => daemon.status().plugins[0]?.backlog === 0);
      } finally {
        await daemon.stop();
      }
      const store = await openSqliteState(join(h.dir, 'state.db'));
      try {
        const [state] = await store.loadPlugins();
        assert.deepEqual(state?.backlog, [], 'the stored backlog is empty too');
      } finally {
        await store.close();
      }
    } finally {
      await h.close();
    }
  });

  it('gives up on burned ids after backlogTimeoutMs, with a log line', async () => {
    const h = await makeHarness();
    try {
      await addPlugin(h, 'recorder.mjs', 'rec.mjs');
      // Long enough that a busy machine still sees the later event before the gap counts as old.
      const cfg = h.config({ daemon: { backlogTimeoutMs: 5000 }, logging: { dir: join(h.dir, 'logs'), level: 'info' } });
      const daemon = await runDaemon(cfg, undefined, { logFiles: true });
      try {
        const before = await newestEventId(h);
        h.site.burnEventIds(3);
        await shot(h, 'burn');
        const last = await newestEventId(h);
        await waitFor('the events after the gap', async () => ids(await h.records(), 'rec').includes(last));
        const burned = [before + 1, before + 2, before + 3];
        const lines = await waitFor('the give-up log lines', async () => {
          const l = (await logLines(join(h.dir, 'logs'))).filter((x) => x['msg'] === 'giving up on missing event id after the backlog timeout');
          return burned.every((id) => l.some((x) => x['eventId'] === id)) ? l : undefined;
        });
        assert.equal(lines.length, 3);
        await waitFor('the backlog to empty', () => daemon.status().plugins[0]?.backlog === 0);
        assert.ok(!ids(await h.records(), 'rec').some((id) => burned.includes(id)));
      } finally {
        await daemon.stop();
      }
    } finally {
      await h.close();
    }
  });

  it('ignores at once a gap whose later event is already older than the timeout', async () => {
    const h = await makeHarness();
    try {
      await addPlugin(h, 'recorder.mjs', 'rec.mjs');
      const cfg = h.config({ daemon: { backlogTimeoutMs: 600_000 }, logging: { dir: join(h.dir, 'logs'), level: 'info' } });
      const daemon = await runDaemon(cfg, undefined, { logFiles: true });
      try {
        const before = await newestEventId(h);
        h.site.burnEventIds(2);
        // Events written an hour ago (as a site that a daemon reads late).
        h.site.writer.now = () => new Date(Date.now() - 3_600_000);
        await shot(h, 'old');
        h.site.writer.now = () => new Date();
        const last = await newestEventId(h);
        await waitFor('the old events', async () => ids(await h.records(), 'rec').includes(last));
        const line = await waitFor('the ignore log line', async () =>
          (await logLines(join(h.dir, 'logs'))).find((x) => x['msg'] === 'ignoring old gap in event ids'));
        assert.equal(line['from'], before + 1);
        assert.equal(line['to'], before + 2);
        assert.equal(daemon.status().plugins[0]?.backlog, 0, 'nothing waits in the backlog');
      } finally {
        await daemon.stop();
      }
    } finally {
      await h.close();
    }
  });
});
