import { describe, it } from 'node:test';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { makeHarness, addPlugin, waitFor, bulkEvents } from './harness.ts';
import { writeYaml, spawnDaemon, idsByPlugin, type DaemonChild } from './child.ts';

const PLUGINS = ['alpha', 'beta'];
const FLUSH_EVENTS = 100;
const BATCH = 100;

describe('kill -9 during a backlog', () => {
  it(`after SIGKILL at 10%, 50% and 90% of a 5,000-event backlog and restarts, every id reached each plugin, none skipped, at most ${FLUSH_EVENTS} + ${BATCH} duplicates per kill`, async (t) => {
    const h = await makeHarness();
    let d: DaemonChild | null = null;
    try {
      for (const p of PLUGINS) await addPlugin(h, 'recorder.mjs', `${p}.mjs`);
      const ids = bulkEvents(h.site, 5000);
      const first = ids[0]!;
      const last = ids.at(-1)!;
      // A long flush interval, so the state is written by event count: the
      // window lost to a kill is at most stateFlushEvents processed events
      // (plus the callback in flight), below the bound asserted.
      const yaml = await writeYaml(h, { stateFlushEvents: FLUSH_EVENTS, stateFlushMs: 10_000, maxEventBatchSize: BATCH });
      const from = ['--from', String(first - 1)];
      const kills = [0.1, 0.5, 0.9];
      for (const share of kills) {
        d = spawnDaemon(h, yaml, from);
        const target = Math.ceil(ids.length * share);
        const child = d;
        await waitFor(`every plugin to record ${target} distinct events`, async () => {
          if (child.child.exitCode !== null) throw new Error(`daemon exited: ${child.output()}`);
          const by = idsByPlugin(await h.records());
          return PLUGINS.every((p) => new Set(by.get(p) ?? []).size >= target);
        }, 120_000);
        await d.kill9();
        d = null;
      }
      d = spawnDaemon(h, yaml, from);
      const child = d;
      // The kill at 90% may come after the last event was recorded: this run
      // then only starts and stops, and its stop must not come before it runs.
      const pidFile = join(h.dir, 'sgeventd.pid');
      await waitFor('the daemon to claim its pid file', () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() === String(child.child.pid), 60_000);
      await waitFor('every plugin to reach the last event', async () => {
        if (child.child.exitCode !== null) throw new Error(`daemon exited: ${child.output()}`);
        const by = idsByPlugin(await h.records());
        return PLUGINS.every((p) => (by.get(p) ?? []).includes(last));
      }, 120_000);
      assert.equal(await d.stop(), 0, d.output());
      d = null;

      const by = idsByPlugin(await h.records());
      for (const p of PLUGINS) {
        const seen = by.get(p) ?? [];
        const distinct = new Set(seen);
        assert.deepEqual([...distinct].sort((a, b) => a - b), ids, `${p}: every id at least once, none skipped, none outside the backlog`);
        const dups = seen.length - distinct.size;
        t.diagnostic(`${p}: ${dups} duplicates after ${kills.length} kills`);
        assert.ok(dups <= kills.length * (FLUSH_EVENTS + BATCH), `${p}: ${dups} duplicates within ${kills.length} × (${FLUSH_EVENTS} + ${BATCH})`);
      }
    } finally {
      await d?.kill9();
      await h.close();
    }
  });
});
