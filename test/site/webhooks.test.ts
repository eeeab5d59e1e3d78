import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { waitFor, withSite } from '../support/index.ts';
import { startReceiver, type Received } from './webhook-receiver.ts';

const SECRET = 'whsec-0123456789';

const deliveriesOf = (r: Received): Array<Record<string, unknown>> => r.body.data.deliveries ?? [r.body.data];

describe('site webhooks: deliveries', () => {
  it('a single delivery: body as the event log row, headers, and an HMAC-SHA1 signature of the raw body', async (t) => {
    const rx = await startReceiver(t);
    const plain = await startReceiver(t);
    const ts = await withSite(t, {
      seed: 'demo',
      webhooks: { hooks: [{ url: rx.url, secret: SECRET, types: ['Shot:create'] }, { url: plain.url, types: ['Shot:create'] }] },
    });
    const { site, sg } = ts;
    const [signed, unsigned] = site.webhooks.list();
    assert.ok(signed !== undefined && unsigned !== undefined);
    const project = await ts.firstProject();
    const shot = await sg.create('Shot', { code: 'wh010', project });
    const r = await waitFor(() => rx.received[0], 'the delivery of Shotgun_Shot_New');
    const ev = await sg.findOne('EventLogEntry', [['event_type', 'is', 'Shotgun_Shot_New'], ['entity', 'is', { type: 'Shot', id: shot['id'] }]],
      ['id', 'meta', 'attribute_name', 'session_uuid', 'user', 'project']);
    assert.ok(ev !== null);
    const d = r.body.data;
    assert.equal(d['event_log_entry_id'], ev['id']);
    assert.equal(d['event_type'], 'Shotgun_Shot_New');
    assert.equal(d['operation'], 'create');
    assert.deepEqual(d['entity'], { type: 'Shot', id: shot['id'] });
    assert.deepEqual(d['project'], project);
    assert.deepEqual(d['user'], { type: (ev['user'] as { type: string }).type, id: (ev['user'] as { id: number }).id });
    assert.deepEqual(d['meta'], ev['meta']);
    assert.equal(d['attribute_name'], null);
    assert.equal(d['session_uuid'], ev['session_uuid'] ?? null);
    assert.match(String(d['id']), /^\d+\.\d+\.\d+$/);
    assert.match(String(d['created_at']), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/);
    assert.match(r.body.timestamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    assert.equal(r.headers['x-sg-webhook-id'], signed.id);
    assert.equal(r.headers['x-sg-delivery-id'], d['delivery_id']);
    assert.equal(r.headers['x-sg-event-batch-size'], '1');
    assert.equal(r.headers['x-sg-event-batch-index'], '0');
    assert.ok(typeof r.headers['x-sg-event-batch-id'] === 'string' && r.headers['x-sg-event-batch-id'].length > 0);
    assert.equal(r.headers['x-sg-webhook-site-url'], `${site.url}/`);
    const expected = `sha1=${createHmac('sha1', SECRET).update(r.raw).digest('hex')}`;
    assert.equal(r.headers['x-sg-signature'], expected);
    const u = await waitFor(() => plain.received[0], 'the unsigned webhook delivery');
    assert.equal(u.headers['x-sg-signature'], undefined, 'no secret: no signature');
    assert.equal(u.headers['x-sg-webhook-id'], unsigned.id);
    assert.notEqual(u.headers['x-sg-delivery-id'], r.headers['x-sg-delivery-id']);
    await waitFor(() => site.webhooks.get(signed.id)?.sent === 1, 'the site to count the delivery as sent');
    const info = site.webhooks.get(signed.id);
    assert.equal(info?.status, 'active');
    assert.equal(info?.eventsDelivered, 1);
    assert.equal(rx.received.length, 1, 'Shot:create only: one delivery for one new Shot');
  });

  it('event batch headers: the rows of one transaction carry one batch id, their size and index', async (t) => {
    const rx = await startReceiver(t);
    const ts = await withSite(t, { seed: 'demo', webhooks: { hooks: [{ url: rx.url, types: ['Shot:create'] }] } });
    const { site, sg } = ts;
    const project = await ts.firstProject();
    await sg.batch(['wh101', 'wh102', 'wh103'].map((code) => ({ request_type: 'create' as const, entity_type: 'Shot', data: { code, project } })));
    await waitFor(() => rx.received.length === 3, 'three deliveries');
    const batchIds = new Set(rx.received.map((r) => r.headers['x-sg-event-batch-id']));
    assert.equal(batchIds.size, 1);
    assert.deepEqual(rx.received.map((r) => r.headers['x-sg-event-batch-size']), ['3', '3', '3']);
    assert.deepEqual(rx.received.map((r) => r.headers['x-sg-event-batch-index']).sort(), ['0', '1', '2']);
    assert.equal(new Set(rx.received.map((r) => r.headers['x-sg-delivery-id'])).size, 3);
    // The receiver records a request before it answers; the site counts it once answered.
    await waitFor(() => site.webhooks.list()[0]?.sent === 3, 'the site to count three sent deliveries');
  });

  it('a batched webhook sends data.deliveries (items without delivery_id) for rows that come within its window', async (t) => {
    const rx = await startReceiver(t);
    const ts = await withSite(t, { seed: 'demo', webhooks: { batchWindowMs: 300, hooks: [{ url: rx.url, secret: SECRET, types: ['Shot:update'], batch: true }] } });
    const { sg } = ts;
    const project = await ts.firstProject();
    const shot = await sg.create('Shot', { code: 'wh201', project });
    await sg.update('Shot', Number(shot['id']), { description: 'one' });
    await sg.update('Shot', Number(shot['id']), { sg_cut_in: 1001 });
    await sg.update('Shot', Number(shot['id']), { sg_cut_out: 1100 });
    await waitFor(() => rx.eventIds().length >= 3, 'three batched update deliveries');
    const items = rx.received.flatMap(deliveriesOf);
    assert.deepEqual(items.map((i) => i['attribute_name']), ['description', 'sg_cut_in', 'sg_cut_out']);
    for (const i of items) assert.equal('delivery_id' in i, false);
    const biggest = rx.received.reduce((a, b) => (deliveriesOf(b).length > deliveriesOf(a).length ? b : a));
    assert.ok(deliveriesOf(biggest).length >= 2, `rows written within the window share a payload; sizes: ${rx.received.map((r) => deliveriesOf(r).length).join(',')}`);
    for (const r of rx.received) {
      assert.ok(Array.isArray(r.body.data.deliveries));
      assert.equal(r.headers['x-sg-event-batch-size'], String(deliveriesOf(r).length));
      assert.match(r.body.timestamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      assert.equal(r.headers['x-sg-signature'], `sha1=${createHmac('sha1', SECRET).update(r.raw).digest('hex')}`);
    }
  });

  it('types filter by entity type and operation; update hooks skip in_create rows while create hooks fire', async (t) => {
    const shotCreate = await startReceiver(t);
    const shotUpdate = await startReceiver(t);
    const taskUpdate = await startReceiver(t);
    const everything = await startReceiver(t);
    const ts = await withSite(t, {
      seed: 'demo',
      webhooks: {
        hooks: [
          { url: shotCreate.url, types: ['Shot:create'] }, { url: shotUpdate.url, types: ['Shot:update|delete'] },
          { url: taskUpdate.url, types: ['Task:update'] }, { url: everything.url },
        ],
      },
    });
    const { sg } = ts;
    const project = await ts.firstProject();
    const shot = await sg.create('Shot', { code: 'wh301', description: 'made', project });
    const shotId = Number(shot['id']);
    const inCreate = await sg.find('EventLogEntry', [['entity', 'is', { type: 'Shot', id: shotId }], ['event_type', 'is', 'Shotgun_Shot_Change']], ['id', 'meta']);
    assert.ok(inCreate.length >= 2 && inCreate.every((e) => (e['meta'] as { in_create?: boolean }).in_create === true), 'the creation wrote in_create rows');
    const task = await sg.findOne('Task', [], ['id']);
    assert.ok(task !== null);
    await sg.update('Task', Number(task['id']), { sg_status_list: 'ip' });
    await sg.update('Shot', shotId, { description: 'changed' });
    await sg.delete('Shot', shotId);
    await waitFor(() => shotUpdate.received.length >= 3, 'the Shot update and delete deliveries');
    await waitFor(() => taskUpdate.received.length >= 1 && shotCreate.received.length >= 1, 'the Task update and Shot create deliveries');
    // The catch-all webhook gets the last row written; every earlier delivery of every webhook was queued before it.
    const last = await sg.findOne('EventLogEntry', [], ['id'], { order: [{ field_name: 'id', direction: 'desc' }] });
    await waitFor(() => everything.eventIds().includes(Number(last?.['id'])), 'the catch-all webhook to reach the newest row');
    const d = (rx: { received: Received[] }) => rx.received.flatMap(deliveriesOf);
    assert.deepEqual(d(shotCreate).map((x) => [x['event_type'], x['operation']]), [['Shotgun_Shot_New', 'create']]);
    assert.ok(d(shotUpdate).every((x) => String(x['event_type']).startsWith('Shotgun_Shot_') && (x['operation'] === 'update' || x['operation'] === 'delete')));
    assert.ok(d(shotUpdate).some((x) => x['operation'] === 'delete'));
    assert.ok(d(shotUpdate).some((x) => x['attribute_name'] === 'description'));
    assert.ok(d(taskUpdate).every((x) => x['event_type'] === 'Shotgun_Task_Change'));
    const inCreateIds = new Set(inCreate.map((e) => Number(e['id'])));
    for (const rx of [shotUpdate, taskUpdate, everything]) {
      assert.ok(d(rx).every((x) => !inCreateIds.has(Number(x['event_log_entry_id'])) && (x['meta'] as { in_create?: boolean }).in_create !== true), 'no in_create row reaches an update hook');
    }
    assert.ok(d(everything).some((x) => x['event_type'] === 'Shotgun_Shot_New'), 'the creation itself still reaches a hook for every operation');
  });

  it('a delivery arrives after its transaction committed: the row is readable through api3; a held row is delivered when released', async (t) => {
    const check: { readable?: (id: number) => Promise<boolean> } = {};
    const rx = await startReceiver(t, { onRequest: async (r) => check.readable?.(Number(r.body.data['event_log_entry_id'])) });
    const ts = await withSite(t, { seed: 'demo', webhooks: { hooks: [{ url: rx.url, types: ['Shot:create', 'Shot:update'] }] } });
    const { site, sg } = ts;
    check.readable = async (id) => (await sg.findOne('EventLogEntry', [['id', 'is', id]], ['id'])) !== null;
    const project = await ts.firstProject();
    for (const code of ['wh401', 'wh402', 'wh403']) {
      const s = await sg.create('Shot', { code, project });
      await sg.update('Shot', Number(s['id']), { description: code });
    }
    await waitFor(() => rx.received.length === 6, 'six deliveries');
    assert.deepEqual(rx.received.map((r) => r.note), [true, true, true, true, true, true]);
    site.holdEvents(1);
    const late = await sg.create('Shot', { code: 'wh404', project });
    const held = site.hiddenEventIds();
    assert.equal(held.length, 1, 'the New row of wh404 is allocated but not visible');
    await sg.update('Shot', Number(late['id']), { description: 'after' });
    await waitFor(() => rx.received.length === 7, 'the update delivery');
    assert.ok(!rx.eventIds().includes(held[0]!), 'a row not yet visible is not delivered');
    site.releaseEvents();
    await waitFor(() => rx.eventIds().includes(held[0]!), 'the held row, once released');
    assert.deepEqual(rx.received.map((r) => r.note), Array(8).fill(true));
  });
});
