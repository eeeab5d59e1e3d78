import { describe, it } from 'node:test';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import type { RunningSite } from '../../src/site/index.ts';
import { makeHarness, waitFor } from './harness.ts';
import { writeYaml, spawnDaemon, type DaemonChild } from './child.ts';

const FLUSH_EVENTS = 100;
const MAX = 8;
const KILLS = 10;
const FIXTURE = new URL('./fixtures/lane-recorder.mjs', import.meta.url).pathname;

/** `count` events in one transaction: `shots` new Shots, then description changes on them in turn. */
function keyedEvents(site: RunningSite, count: number, shots: number): number[] {
  const actor = site.auth.authenticate({ script_name: 'sgeventd', script_key: 'sgeventd-key' });
  const before = site.store.lastEventId();
  site.store.db.transaction(() => {
    const made = Array.from({ length: shots }, (_, i) => site.writer.create(actor, 'Shot', [{ field_name: 'code', value: `lane${before}_${i}` }]));
    let n = 0;
    while (site.store.lastEventId() - before < count) {
      const shot = made[n++ % shots]!;
      site.writer.update(actor, 'Shot', shot.id, [{ field_name: 'description', value: `v${site.store.lastEventId()}` }]);
    }
  })();
  const after = site.store.lastEventId();
  return Array.from({ length: after - before }, (_, i) => before + 1 + i);
}

describe('kill -9 during a concurrent backlog', () => {
  it(`${KILLS} kills at random points of a 5,000-event backlog with by: entity, max ${MAX}: nothing skipped, at most ${FLUSH_EVENTS} + ${MAX} duplicates per kill, each key in order`, async (t) => {
    const h = await makeHarness();
    let d: DaemonChild | null = null;
    try {
      await copyFile(FIXTURE, join(h.plugins, 'lanes.mjs'));
      const ids = keyedEvents(h.site, 5000, 12);
      const first = ids[0]!;
      const last = ids.at(-1)!;
      const yaml = await writeYaml(h, { stateFlushEvents: FLUSH_EVENTS, stateFlushMs: 10_000, maxEventBatchSize: 100 }, { concurrency: { by: 'entity', max: MAX } });
      const from = ['--from', String(first - 1)];
      const shares = Array.from({ length: KILLS }, () => Math.random()).sort((a, b) => a - b);
      t.diagnostic(`kills at ${shares.map((s) => s.toFixed(2)).join(', ')}`);
      for (const share of shares) {
        d = spawnDaemon(h, yaml, from);
        const child = d;
        const target = Math.max(1, Math.ceil(ids.length * share));
        await waitFor(`${target} distinct events recorded`, async () => {
          if (child.child.exitCode !== null) throw new Error(`daemon exited: ${child.output()}`);
          return new Set((await h.records()).map((r) => r[1])).size >= target;
        }, 120_000);
        await d.kill9();
        d = null;
      }
      d = spawnDaemon(h, yaml, from);
      const child = d;
      await waitFor('every event recorded', async () => {
        if (child.child.exitCode !== null) throw new Error(`daemon exited: ${child.output()}`);
        return new Set((await h.records()).map((r) => Number(r[1]))).size >= ids.length;
      }, 120_000);
      assert.equal(await d.stop(), 0, d.output());
      d = null;

      const recs = await h.records();
      const seen = recs.map((r) => Number(r[1]));
      const distinct = new Set(seen);
      assert.deepEqual([...distinct].sort((a, b) => a - b), ids, 'every id at least once, none skipped, none outside the backlog');
      assert.ok(distinct.has(last));
      const dups = seen.length - distinct.size;
      t.diagnostic(`${dups} duplicates after ${KILLS} kills`);
      assert.ok(dups <= KILLS * (FLUSH_EVENTS + MAX), `${dups} duplicates within ${KILLS} × (${FLUSH_EVENTS} + ${MAX})`);
      // Each key's first deliveries come in id order; lanes overlapped.
      const firstSeen = new Map<string, number[]>();
      const once = new Set<number>();
      for (const r of recs) {
        const id = Number(r[1]);
        if (once.has(id)) continue;
        once.add(id);
        firstSeen.set(r[2]!, [...(firstSeen.get(r[2]!) ?? []), id]);
      }
      for (const [key, list] of firstSeen) assert.deepEqual(list, [...list].sort((a, b) => a - b), `order of ${key}`);
      assert.ok(recs.some((r) => Number(r[4]) > 1), 'callbacks overlapped in the plugin thread');
    } finally {
      await d?.kill9();
      await h.close();
    }
  });
});
