import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { makeHarness, addPlugin, waitFor, bulkEvents, runDaemon } from './harness.ts';
import { writeYaml, spawnDaemon, idsByPlugin, peakRssMb, type DaemonChild } from './child.ts';

// Measured on the 2-core dev box, daemon as its own process with two recording
// plugins: peak RSS about 250 MiB for 2,000 events, 380 MiB for 20,000 and
// 550 MiB for 40,000. The peak grows because the threads' V8 heaps are
// collected lazily, not because anything is kept: the main thread's live heap
// after a full GC is the same (within a few MiB) after 5,000 or 40,000 events
// (the event log caches at most max(4 × maxEventBatchSize, 5000) events).
// Asserted: peak RSS under 768 MiB, and live heap growth under 32 MiB.
const RSS_BOUND_MB = 768;
const HEAP_GROWTH_BOUND_MB = 32;
const STORM = 20_000;

describe('event storm', () => {
  it(`${STORM} events from one bulk edit: none lost, daemon process peak RSS under ${RSS_BOUND_MB} MiB (measured ~380)`, async (t) => {
    const h = await makeHarness();
    let d: DaemonChild | null = null;
    try {
      await addPlugin(h, 'recorder.mjs', 'alpha.mjs');
      await addPlugin(h, 'recorder.mjs', 'beta.mjs');
      const ids = bulkEvents(h.site, STORM);
      const last = ids.at(-1)!;
      const yaml = await writeYaml(h);
      d = spawnDaemon(h, yaml, ['--from', String(ids[0]! - 1)]);
      const child = d;
      await waitFor('both plugins to reach the last event', async () => {
        if (child.child.exitCode !== null) throw new Error(`daemon exited: ${child.output()}`);
        const by = idsByPlugin(await h.records());
        return ['alpha', 'beta'].every((p) => (by.get(p) ?? []).includes(last));
      }, 240_000);
      const peak = peakRssMb(child.child.pid!);
      t.diagnostic(`daemon peak RSS ${peak.toFixed(0)} MiB`);
      assert.equal(await d.stop(), 0, d.output());
      d = null;
      const by = idsByPlugin(await h.records());
      for (const p of ['alpha', 'beta']) assert.deepEqual(by.get(p), ids, `${p}: every event once, in order`);
      assert.ok(peak < RSS_BOUND_MB, `peak RSS ${peak.toFixed(0)} MiB < ${RSS_BOUND_MB} MiB`);
    } finally {
      await d?.kill9();
      await h.close();
    }
  });

  it(`${STORM} events: the daemon's live heap after a full GC grows by less than ${HEAP_GROWTH_BOUND_MB} MiB (measured 3-7)`, async (t) => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const h = await makeHarness();
    try {
      await addPlugin(h, 'recorder.mjs', 'alpha.mjs');
      const ids = bulkEvents(h.site, STORM);
      const last = ids.at(-1)!;
      gc();
      const before = process.memoryUsage().heapUsed;
      const daemon = await runDaemon(h.config(), ids[0]! - 1);
      try {
        await waitFor('the plugin to reach the last event', () => daemon.status().plugins[0]?.lastEventId === last, 240_000);
        gc();
        gc();
        const growth = (process.memoryUsage().heapUsed - before) / 2 ** 20;
        t.diagnostic(`live heap growth ${growth.toFixed(1)} MiB`);
        assert.ok(growth < HEAP_GROWTH_BOUND_MB, `${growth.toFixed(1)} MiB`);
      } finally {
        await daemon.stop();
      }
      assert.deepEqual(idsByPlugin(await h.records()).get('alpha'), ids);
    } finally {
      await h.close();
    }
  });
});
