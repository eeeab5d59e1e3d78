import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { addPlugin, bulkEvents, makeHarness, runDaemon, waitFor } from '../dispatch/harness.ts';

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m?.[1] === undefined ? 0 : Number(m[1]);
}

describe('status and metrics counters', () => {
  it('the site-errors count and metric count every failed request, retried ones included', { timeout: 120_000 }, async () => {
    // Every third api3 request answers 503 while `faulty`; the client retries them, so none escapes it.
    let faulty = false;
    let injected = 0;
    let requests = 0;
    let kindNext = false;
    const random = (): number => {
      if (kindNext) {
        kindNext = false;
        return 0.1; // a 503
      }
      if (!faulty || ++requests % 3 !== 0) return 0.99;
      injected++;
      kindNext = true;
      return 0;
    };
    const h = await makeHarness({ seed: 'demo', faultRate: 0.5, random });
    after(() => h.close());
    await addPlugin(h, 'recorder.mjs');
    const ids = bulkEvents(h.site, 40);
    faulty = true;
    const daemon = await runDaemon(h.config({ daemon: { maxEventBatchSize: 5 } }), ids[0]! - 1);
    after(() => daemon.stop());
    await waitFor('the plugin to pass the last event', () => daemon.status().plugins.every((p) => p.lastEventId === ids.at(-1)), 90_000);
    faulty = false;
    assert.ok(injected >= 3, `only ${injected} faults injected`);
    await waitFor('every injected fault to be counted', () => daemon.status().siteErrors === injected || undefined);
    assert.equal(metric(await daemon.metrics.metrics(), 'sgeventd_site_request_errors_total'), injected);
  });

  it('a plugin reload keeps its processed total and shows the count since the reload apart', { timeout: 120_000 }, async () => {
    const h = await makeHarness();
    after(() => h.close());
    await addPlugin(h, 'recorder.mjs');
    const first = bulkEvents(h.site, 5);
    const daemon = await runDaemon(h.config(), first[0]! - 1);
    after(() => daemon.stop());
    const row = () => daemon.status().plugins.find((p) => p.name === 'recorder');
    await waitFor('the first events', () => row()?.lastEventId === first.at(-1));
    const before = row()!.processed;
    assert.ok(before >= 5, `processed ${before}`);
    assert.deepEqual(await daemon.reloadPlugins('recorder'), ['recorder']);
    await waitFor('the plugin to run again', () => row()?.status === 'running');
    assert.equal(row()!.processed, before, 'the total survives the reload');
    assert.equal(row()!.processedSinceReload, 0);
    const second = bulkEvents(h.site, 3);
    await waitFor('the next events', () => row()?.lastEventId === second.at(-1));
    assert.equal(row()!.processed, before + second.length);
    assert.equal(row()!.processedSinceReload, second.length);
  });
});
