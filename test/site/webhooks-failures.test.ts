import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor, withSite, type TestSite } from '../support/index.ts';
import { startReceiver } from './webhook-receiver.ts';

async function newShots(s: TestSite, codes: string[]): Promise<void> {
  const project = await s.firstProject();
  await s.sg.batch(codes.map((code) => ({ request_type: 'create' as const, entity_type: 'Shot', data: { code, project } })));
}

describe('site webhooks: failures, statuses and injected faults', () => {
  it('a receiver answering 500: bounded retries of the same delivery, then unstable, then failed after the threshold and no further attempts', async (t) => {
    const rx = await startReceiver(t, { answer: () => 500 });
    const s = await withSite(t, {
      seed: 'demo',
      webhooks: { retryBaseMs: 5, maxAttempts: 3, failureThreshold: 5, hooks: [{ url: rx.url, types: ['Shot:create'] }] },
    });
    const [hook] = s.site.webhooks.list();
    assert.ok(hook !== undefined);
    assert.equal(hook.status, 'active');
    await newShots(s, ['wh501']);
    await waitFor(() => s.site.webhooks.get(hook.id)?.eventsAbandoned === 1, 'the delivery to be given up after its attempts');
    let info = s.site.webhooks.get(hook.id)!;
    assert.equal(info.failed, 3);
    assert.equal(info.sent, 0);
    assert.equal(info.status, 'unstable');
    assert.equal(rx.received.length, 3);
    assert.equal(new Set(rx.received.map((r) => r.headers['x-sg-delivery-id'])).size, 1, 'a retry resends the same delivery');
    await newShots(s, ['wh502']);
    await waitFor(() => s.site.webhooks.get(hook.id)?.status === 'failed', 'the webhook to fail at 5 failures');
    info = s.site.webhooks.get(hook.id)!;
    assert.equal(info.failed, 5);
    assert.equal(rx.received.length, 5, 'no attempt after the fifth failure');
    await newShots(s, ['wh503', 'wh504']);
    await waitFor(() => s.site.webhooks.get(hook.id)!.eventsAbandoned === 4, 'the new rows to be abandoned by the failed webhook');
    assert.equal(rx.received.length, 5, 'a failed webhook receives nothing');
  });

  it('an answer later than the timeout is a failed delivery', async (t) => {
    const rx = await startReceiver(t, { answer: () => 'hang' });
    const s = await withSite(t, { seed: 'demo', webhooks: { timeoutMs: 300, maxAttempts: 1, hooks: [{ url: rx.url, types: ['Shot:create'] }] } });
    const [hook] = s.site.webhooks.list();
    await newShots(s, ['wh601']);
    await waitFor(() => s.site.webhooks.get(hook!.id)?.failed === 1, 'the hanging delivery to time out');
    const info = s.site.webhooks.get(hook!.id)!;
    assert.equal(rx.received.length, 1, 'the request reached the receiver, which never answered');
    assert.equal(info.status, 'unstable');
    assert.equal(info.eventsAbandoned, 1);
    assert.equal(info.sent, 0);
  });

  it('a recovering receiver: a retry after a failure succeeds; the webhook stays unstable within the window', async (t) => {
    let failFirst = true;
    const rx = await startReceiver(t, {
      answer: () => {
        if (!failFirst) return 200;
        failFirst = false;
        return 503;
      },
    });
    const s = await withSite(t, { seed: 'demo', webhooks: { retryBaseMs: 5, hooks: [{ url: rx.url, types: ['Shot:create'] }] } });
    const [hook] = s.site.webhooks.list();
    await newShots(s, ['wh651']);
    await waitFor(() => s.site.webhooks.get(hook!.id)?.sent === 1, 'the retried delivery to succeed');
    const info = s.site.webhooks.get(hook!.id)!;
    assert.equal(info.failed, 1);
    assert.equal(info.eventsDelivered, 1);
    assert.equal(info.status, 'unstable');
  });

  async function faultRun(t: TestContext, seed: number) {
    const rx = await startReceiver(t);
    const s = await withSite(t, {
      seed: 'demo',
      webhooks: { faultRate: 0.5, faultSeed: seed, reorderHoldMs: 100, hooks: [{ url: rx.url, types: ['Shot:create'] }] },
    });
    const codes = Array.from({ length: 40 }, (_, i) => `wh7${String(i).padStart(2, '0')}`);
    await newShots(s, codes);
    const [hook] = s.site.webhooks.list();
    const info = await waitFor(() => {
      const i = s.site.webhooks.get(hook!.id)!;
      return i.queued === 0 && i.sent === rx.received.length && i.sent + i.dropped === codes.length + i.duplicated ? i : undefined;
    }, 'every delivery of the 40 rows to be sent, dropped or duplicated');
    return { rx, info, total: codes.length };
  }

  it('--webhook-fault-rate: seeded drops, duplicates and reorders, each counted, the same for the same seed', async (t) => {
    const a = await faultRun(t, 7);
    const { rx, info, total } = a;
    assert.ok(info.dropped > 0 && info.duplicated > 0 && info.reordered > 0, `every kind of fault drawn: ${JSON.stringify(info)}`);
    const ids = rx.eventIds();
    const distinct = new Set(ids);
    assert.equal(distinct.size, total - info.dropped, 'each drop loses exactly one delivery');
    assert.equal(ids.length - distinct.size, info.duplicated, 'each duplicate arrives twice');
    let inversions = 0;
    let highest = 0;
    for (const id of ids) {
      if (id < highest) inversions++;
      highest = Math.max(highest, id);
    }
    // A held delivery goes out after its successor; only the very last one can have none.
    assert.ok(inversions <= info.reordered && inversions >= info.reordered - 1, `${inversions} arrived after a later row, ${info.reordered} reordered`);
    const b = await faultRun(t, 7);
    assert.deepEqual([b.info.dropped, b.info.duplicated, b.info.reordered], [info.dropped, info.duplicated, info.reordered], 'a seed repeats its faults');
  });
});
