import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { replay } from '../../src/daemon/index.ts';
import { laneKey, type CursorHandler } from '../../src/dispatch/index.ts';
import type { ProcessResult } from '../../src/hosts/index.ts';
import { concurrentBed, result } from '../support/scripted-cursor.ts';
import { waitFor } from '../support/memory-source.ts';
import { makeHarness } from './harness.ts';

const RECORDER = new URL('./fixtures/lane-recorder.mjs', import.meta.url).pathname;

describe('replay and dead-letter retries with concurrency', () => {
  it('sgeventd replay runs a concurrent plugin with its concurrency: lanes overlap, each key in id order, each event once', async (t) => {
    const h = await makeHarness();
    t.after(() => h.close());
    await copyFile(RECORDER, join(h.plugins, 'lanes.mjs'));
    const from = h.site.store.lastEventId();
    const actor = h.site.auth.authenticate({ script_name: 'sgeventd', script_key: 'sgeventd-key' });
    h.site.store.db.transaction(() => {
      const shots = Array.from({ length: 8 }, (_, i) => h.site.writer.create(actor, 'Shot', [{ field_name: 'code', value: `replay${i}` }]));
      for (let n = 0; n < 160; n++) h.site.writer.update(actor, 'Shot', shots[n % 8]!.id, [{ field_name: 'description', value: `v${n}` }]);
    })();
    const to = h.site.store.lastEventId();
    const counts = await replay(h.config(), { from, to });
    assert.deepEqual(Object.values(counts), [to - from]);
    const recs = await h.records();
    const ids = recs.map((r) => Number(r[1]));
    assert.deepEqual([...ids].sort((a, b) => a - b), Array.from({ length: to - from }, (_, i) => from + 1 + i), 'each event of the range once');
    const byKey = new Map<string, number[]>();
    for (const r of recs) byKey.set(r[2]!, [...(byKey.get(r[2]!) ?? []), Number(r[1])]);
    for (const [key, list] of byKey) assert.deepEqual(list, [...list].sort((a, b) => a - b), `order of ${key}`);
    assert.ok(recs.some((r) => Number(r[4]) > 1), 'callbacks overlapped');
    assert.ok(recs.every((r) => r[3] === '1'));
  });

  it('dead letters marked for retry run in their key lanes: several keys at once, each key in id order', async (t) => {
    const bed = await concurrentBed(t, (id) => 1 + (id % 4));
    bed.source.inner.append(40);
    let failing = true;
    let inFlight = 0;
    let maxInFlight = 0;
    const retried: Array<{ key: string; id: number }> = [];
    const handler: CursorHandler = {
      matches: () => true,
      process: async (event): Promise<ProcessResult> => {
        if (!failing) retried.push({ key: laneKey(event, 'project'), id: event.id });
        inFlight++;
        maxInFlight = failing ? maxInFlight : Math.max(maxInFlight, inFlight);
        // Let other lanes start before this one returns.
        await new Promise<void>((resolve) => setTimeout(resolve, 5));
        inFlight--;
        return result(failing ? 'fail' : 'ok');
      },
    };
    bed.cursor(handler, { max: 4, dlqRetries: true });
    await waitFor(async () => {
      await bed.batcher.flush();
      return (await bed.store.deadLetters.list()).length === 40;
    }, 'forty dead letters');
    failing = false;
    await bed.store.deadLetters.requestRetry((await bed.store.deadLetters.list()).map((l) => l.id));
    await waitFor(async () => retried.length === 40 && (await bed.store.deadLetters.list()).length === 0, 'every dead letter retried and resolved');
    assert.ok(maxInFlight > 1, `retries overlapped (${maxInFlight})`);
    const byKey = new Map<string, number[]>();
    for (const r of retried) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r.id]);
    assert.equal(byKey.size, 4);
    for (const [key, list] of byKey) assert.deepEqual(list, [...list].sort((a, b) => a - b), `order of ${key}`);
  });
});
