import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeHarness, addPlugin, waitFor, runDaemon, bulkEvents } from './harness.ts';

describe('site faults during a backlog', () => {
  it('with 30% of requests failing (503 or dropped connection), every event reaches every plugin once, in order', async () => {
    let faults = false;
    let low = 0; // draws under the fault rate: at least half of them are injected faults
    const random = (): number => {
      if (!faults) return 1;
      const r = Math.random();
      if (r < 0.3) low++;
      return r;
    };
    const h = await makeHarness({ seed: 'demo', faultRate: 0.3, random });
    try {
      await addPlugin(h, 'recorder.mjs', 'alpha.mjs');
      await addPlugin(h, 'recorder.mjs', 'beta.mjs');
      const ids = bulkEvents(h.site, 3000);
      const first = ids[0]!;
      const last = ids.at(-1)!;
      faults = true;
      const daemon = await runDaemon(h.config({ daemon: { maxEventBatchSize: 200 } }), first - 1);
      try {
        const recs = await waitFor('both plugins to reach the last event', async () => {
          const r = await h.records();
          return ['alpha', 'beta'].every((p) => r.some((x) => x[0] === p && Number(x[1]) === last)) ? r : undefined;
        }, 120_000);
        for (const p of ['alpha', 'beta']) {
          const seen = recs.filter((x) => x[0] === p).map((x) => Number(x[1]));
          assert.deepEqual(seen, ids, `${p}: every id once, in order`);
        }
        assert.ok(low >= 2, `the site really failed requests (${low} low draws)`);
      } finally {
        faults = false;
        await daemon.stop();
      }
    } finally {
      await h.close();
    }
  });
});
