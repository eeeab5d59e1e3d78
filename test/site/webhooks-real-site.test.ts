// The local site's webhooks behave as a real site's (protocol.md 4): batching
// only when events come faster than one per 2 s, the site-wide answer-time
// throttle, the 1 MB payload cap, a failed webhook enabled again by an admin,
// and 3xx answers counted as success without being followed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { waitFor, withSite, type TestSite } from '../support/index.ts';
import { startReceiver } from './webhook-receiver.ts';
import { SCRIPT } from './helpers.ts';

async function newShot(s: TestSite, code: string): Promise<number> {
  const shot = await s.sg.create('Shot', { code, project: await s.firstProject() });
  return Number(shot['id']);
}

const itemsOf = (r: { body: { data: Record<string, unknown> & { deliveries?: Array<Record<string, unknown>> } } }): Array<Record<string, unknown>> =>
  r.body.data.deliveries ?? [r.body.data];

describe('site webhooks as a real site sends them', () => {
  it('a batched webhook sends a lone event at once and batches events that come faster than one per 2 s', async (t) => {
    const rx = await startReceiver(t);
    const s = await withSite(t, { seed: 'demo', webhooks: { hooks: [{ url: rx.url, types: ['Shot:update'], batch: true }] } });
    const id = await newShot(s, 'wh1001');
    await s.sg.update('Shot', id, { description: 'first' });
    await waitFor(() => rx.received.length === 1, 'the lone update to go out at once');
    for (let i = 0; i < 5; i++) await s.sg.update('Shot', id, { description: `quick ${i}` });
    await waitFor(() => rx.eventIds().length === 6, 'all six updates delivered');
    assert.equal(itemsOf(rx.received[0]!).length, 1, 'the first, alone, in its own payload');
    assert.ok(rx.received.length < 6, `the quick updates share payloads; sizes: ${rx.received.map((r) => itemsOf(r).length).join(',')}`);
    for (const r of rx.received) assert.ok(Array.isArray(r.body.data.deliveries), 'a batched webhook always sends data.deliveries');
  });

  it('the site-wide throttle holds deliveries back once receivers used up their answer time, then recovers', async (t) => {
    // Each answer takes at least 150 ms of the receiver's time; the site allows 200 ms per 2 s.
    const slow = { onRequest: () => delay(150) };
    const a = await startReceiver(t, slow);
    const b = await startReceiver(t, slow);
    const s = await withSite(t, {
      seed: 'demo',
      webhooks: { throttleBudgetMs: 200, throttleWindowMs: 2000, hooks: [{ url: a.url, types: ['Shot:create'] }, { url: b.url, types: ['Shot:create'] }] },
    });
    for (const code of ['wh1101', 'wh1102', 'wh1103']) await newShot(s, code);
    await waitFor(() => a.received.length === 3 && b.received.length === 3, 'every delivery to arrive in the end');
    const throttled = s.site.webhooks.list().reduce((n, h) => n + h.throttled, 0);
    assert.ok(throttled >= 1, 'requests waited for the budget shared by both webhooks');
    assert.deepEqual(s.site.webhooks.list().map((h) => h.status), ['active', 'active'], 'throttling is no failure');
  });

  it('a payload over 1 MB loses old_value and new_value and gains a warning', async (t) => {
    const rx = await startReceiver(t);
    const s = await withSite(t, { seed: 'demo', webhooks: { hooks: [{ url: rx.url, types: ['Shot:update'] }] } });
    const id = await newShot(s, 'wh1201');
    const actor = s.site.auth.authenticate(SCRIPT);
    s.site.writer.update(actor, 'Shot', id, [{ field_name: 'description', value: 'x'.repeat(1_200_000) }]);
    // Another shot: an update of the same one would carry the large value as its old_value.
    await s.sg.update('Shot', await newShot(s, 'wh1202'), { description: 'small' });
    await waitFor(() => rx.received.length === 2, 'both updates delivered');
    const [big, small] = rx.received.map((r) => r.body.data) as [Record<string, unknown>, Record<string, unknown>];
    const bigMeta = big['meta'] as Record<string, unknown>;
    assert.equal(typeof big['warning'], 'string');
    assert.equal('new_value' in bigMeta, false);
    assert.equal('old_value' in bigMeta, false);
    assert.equal(bigMeta['attribute_name'], 'description', 'the rest of meta stays');
    assert.ok(rx.received[0]!.raw.length <= 1024 * 1024);
    assert.equal((small['meta'] as Record<string, unknown>)['new_value'], 'small', 'a small payload keeps its values');
    assert.equal('warning' in small, false);
    assert.equal(s.site.webhooks.list()[0]?.oversized, 1);
  });

  it('a failed webhook gets nothing until an admin enables it again (POST /admin/webhooks/:id/enable)', async (t) => {
    let healthy = false;
    const rx = await startReceiver(t, { answer: () => (healthy ? 200 : 500) });
    const s = await withSite(t, { seed: 'demo', webhooks: { maxAttempts: 1, failureThreshold: 2, hooks: [{ url: rx.url, types: ['Shot:create'] }] } });
    const [hook] = s.site.webhooks.list();
    assert.ok(hook !== undefined);
    await newShot(s, 'wh1301');
    await newShot(s, 'wh1302');
    await waitFor(() => s.site.webhooks.get(hook.id)?.status === 'failed', 'the webhook to fail at 2 failures');
    healthy = true;
    const admin = `${s.site.url}/admin/webhooks`;
    const post = (url: string): Promise<Response> => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(SCRIPT) });
    const missing = await post(`${admin}/no-such-id/enable`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { code: string }).code, 'SITE_WEBHOOK_NOT_FOUND');
    const refused = await fetch(`${admin}/${hook.id}/enable`, { method: 'POST', body: JSON.stringify({ ...SCRIPT, script_key: 'wrong' }) });
    assert.equal(refused.status, 403);
    await refused.arrayBuffer();
    assert.equal(s.site.webhooks.get(hook.id)?.status, 'failed');
    const enabled = await post(`${admin}/${hook.id}/enable`);
    assert.equal(enabled.status, 200);
    assert.equal(((await enabled.json()) as { status: string }).status, 'active');
    await newShot(s, 'wh1303');
    await waitFor(() => s.site.webhooks.get(hook.id)?.sent === 1, 'the next delivery to succeed');
    assert.equal(rx.received.length, 3, 'two failed attempts, then the row written after enabling');
    assert.equal(rx.received[2]!.body.data['event_type'], 'Shotgun_Shot_New');
  });

  it('a 3xx answer is a successful delivery and is not followed', async (t) => {
    const elsewhere = await startReceiver(t);
    const rx = await startReceiver(t, { answer: () => 307, answerHeaders: { location: elsewhere.url } });
    const s = await withSite(t, { seed: 'demo', webhooks: { hooks: [{ url: rx.url, types: ['Shot:create'] }] } });
    await newShot(s, 'wh1401');
    await waitFor(() => s.site.webhooks.list()[0]?.sent === 1, 'the redirected delivery to count as sent');
    const [info] = s.site.webhooks.list();
    assert.equal(info?.status, 'active');
    assert.equal(info?.failed, 0);
    assert.equal(rx.received.length, 1);
    assert.equal(elsewhere.received.length, 0, 'the location was not followed');
  });
});
