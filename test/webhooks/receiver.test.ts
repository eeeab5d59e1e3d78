import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Secret } from '../../src/shared/index.ts';
import { parseDelivery, startWebhookReceiver, WebhookReceiverError, type WebhookAnnounce } from '../../src/http/index.ts';
import { daemonBed, waitFor, withSite } from '../support/index.ts';
import { batchBody, metric, post, SECRET, serve, sign, singleBody, writeChanges } from './support.ts';

const LONG = 600_000;

// Runs as a worker thread (CommonJS, eval): waits for go, posts the delivery, stores the status and wakes the main thread.
const SENDER = `
const { parentPort, workerData } = require('node:worker_threads');
const { flags, url, body, signature } = workerData;
parentPort.postMessage('ready');
Atomics.wait(flags, 0, 0);
fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-sg-signature': signature, 'x-sg-delivery-id': 'blocked-1' } })
  .then(async (res) => { await res.arrayBuffer(); return res.status; }, () => -1)
  .then((status) => { Atomics.store(flags, 1, status); Atomics.notify(flags, 1); });
`;

describe('webhook receiver', () => {
  it('accepts signed deliveries (any configured secret: rotation), refuses unsigned and badly signed ones with 401, counts them, never logs a body', { timeout: 60_000 }, async (t) => {
    const site = await withSite(t);
    const bed = daemonBed(t, site);
    bed.addPlugin('recorder.mjs');
    const config = bed.config({
      daemon: { fetchIntervalMs: LONG },
      http: { enabled: true, port: 0 },
      webhooks: { port: 0, secrets: [SECRET, 'old-secret-5d1e'], fallbackPollMs: LONG },
    });
    const { daemon, statusUrl, webhookUrl } = await serve(t, config, { logFiles: true });
    const marker = 'body-marker-7c1f2b';
    const ids = writeChanges(site.site, 2);
    const [first, second] = ids as [number, number];

    assert.equal(await post(webhookUrl, singleBody(first, { marker }), { secret: SECRET }), 200, 'signed with the current secret');
    assert.equal(await post(webhookUrl, singleBody(second, { marker }), { secret: 'old-secret-5d1e' }), 200, 'signed with the old secret during rotation');
    assert.equal(await post(webhookUrl, singleBody(second, { marker })), 401, 'unsigned');
    assert.equal(await post(webhookUrl, singleBody(second, { marker }), { secret: 'not-a-secret-of-ours' }), 401, 'signed with another secret');
    assert.equal(await post(webhookUrl, singleBody(second, { marker }), { signature: 'sha1=zz' }), 401, 'a signature that is no hex digest');
    assert.equal(await post(webhookUrl, 'not json at all', { secret: SECRET }), 200, 'signed but malformed: still 200');
    assert.equal(await post(webhookUrl, singleBody(first), { method: 'GET' }), 405);
    assert.equal(await post(webhookUrl.replace('/webhooks/shotgrid', '/other'), singleBody(first), { secret: SECRET }), 404);

    await waitFor(() => bed.records().some((r) => r[1] === String(second)), 'the delivered events to reach the plugin');
    // Results reach the main thread as messages from the listener thread: wait for the last of them.
    let text = '';
    await waitFor(async () => {
      text = await (await fetch(`${statusUrl}/metrics`)).text();
      return metric(text, 'sgeventd_webhook_deliveries_total{result="malformed"}') === 1;
    }, 'the listener thread\'s counts to reach /metrics');
    assert.equal(metric(text, 'sgeventd_webhook_deliveries_total{result="accepted"}'), 2);
    assert.equal(metric(text, 'sgeventd_webhook_deliveries_total{result="unsigned"}'), 1);
    assert.equal(metric(text, 'sgeventd_webhook_deliveries_total{result="bad_signature"}'), 2);
    assert.equal(metric(text, 'sgeventd_webhook_deliveries_total{result="malformed"}'), 1);
    const status = (await (await fetch(`${statusUrl}/api/status`)).json()) as { webhooks: { deliveries: Record<string, number>; lastDeliveredId: number } };
    assert.deepEqual(status.webhooks.deliveries, { accepted: 2, unsigned: 1, bad_signature: 2, malformed: 1 });
    assert.equal(status.webhooks.lastDeliveredId, second);

    await daemon.stop();
    const lines = bed.logLines();
    assert.ok(lines.some((l) => l['result'] === 'unsigned'), 'the refusal is logged');
    const all = JSON.stringify(lines);
    assert.ok(!all.includes(marker), 'no body reaches a log line');
    assert.ok(!all.includes(SECRET) && !all.includes('old-secret-5d1e'), 'no secret reaches a log line');
  });

  it('a batched delivery announces its newest id; the delivery id comes from the header when the body has none', async (t) => {
    const got: Array<[number, WebhookAnnounce]> = [];
    const receiver = await startWebhookReceiver({
      config: { host: '127.0.0.1', port: 0, path: '/webhooks/shotgrid', secrets: [new Secret(SECRET)] },
      logger: pino({ enabled: false }),
      onAtLeast: (id, d) => got.push([id, d]),
    });
    t.after(() => receiver.close());
    const body = batchBody([41, 42, 43]);
    assert.equal(await post(receiver.url, body, { secret: SECRET, headers: { 'x-sg-delivery-id': 'd-77' } }), 200);
    await waitFor(() => got.length > 0, 'the delivery to reach the main thread');
    assert.deepEqual(got, [[43, { events: 3, deliveryId: 'd-77', batched: true }]]);
    // Items shaped as bare delivery data are read too.
    assert.deepEqual(parseDelivery({ data: { deliveries: [{ event_log_entry_id: 5 }] } }, null), { eventIds: [5], deliveryId: null, batched: true });
    assert.equal(parseDelivery({ data: { event_log_entry_id: 'x' } }, null), null);
  });

  it('answers a signed delivery while the main thread is blocked: the listener has its own thread', { timeout: 90_000 }, async (t) => {
    const site = await withSite(t);
    const bed = daemonBed(t, site);
    bed.addPlugin('recorder.mjs');
    const config = bed.config({ daemon: { fetchIntervalMs: LONG }, webhooks: { port: 0, secrets: [SECRET], fallbackPollMs: LONG } });
    const { webhookUrl } = await serve(t, config);
    const [id] = writeChanges(site.site, 1) as [number];
    const body = singleBody(id);

    // The sender is another thread: it posts once told to, then records the status it got and wakes this one.
    const flags = new Int32Array(new SharedArrayBuffer(8));
    const sender = new Worker(SENDER, { eval: true, workerData: { flags, url: webhookUrl, body, signature: sign(body, SECRET) } });
    t.after(() => sender.terminate());
    await new Promise<void>((resolve) => sender.once('message', () => resolve()));

    const order: string[] = ['main thread blocked'];
    Atomics.store(flags, 0, 1);
    Atomics.notify(flags, 0);
    // The main thread's event loop stands still here until the sender has its answer (or the wait gives up).
    const woke = Atomics.wait(flags, 1, 0, 30_000);
    order.push(woke === 'ok' ? `answered ${Atomics.load(flags, 1)}` : 'no answer');
    order.push('main thread free');
    assert.deepEqual(order, ['main thread blocked', 'answered 200', 'main thread free']);
    await waitFor(() => bed.records().some((r) => r[1] === String(id)), 'the delivered event to reach the plugin once the main thread runs again');
  });

  it('a listener reachable from other machines needs a secret (WEBHOOK_SECRET_REQUIRED)', async () => {
    await assert.rejects(
      startWebhookReceiver({ config: { host: '0.0.0.0', port: 0, path: '/w', secrets: [] }, logger: pino({ enabled: false }), onAtLeast: () => undefined }),
      { code: 'WEBHOOK_SECRET_REQUIRED' },
    );
  });

  it('an address already taken fails the start with WEBHOOK_LISTEN_FAILED; close is idempotent', async (t) => {
    const opts = { host: '127.0.0.1', path: '/webhooks/shotgrid', secrets: [new Secret(SECRET)] };
    const first = await startWebhookReceiver({ config: { ...opts, port: 0 }, logger: pino({ enabled: false }), onAtLeast: () => undefined });
    t.after(() => first.close());
    const port = Number(new URL(first.url).port);
    await assert.rejects(
      startWebhookReceiver({ config: { ...opts, port }, logger: pino({ enabled: false }), onAtLeast: () => undefined }),
      (err: unknown) => err instanceof WebhookReceiverError && err.code === 'WEBHOOK_LISTEN_FAILED' && err.details['port'] === port,
    );
    assert.equal(await post(first.url, singleBody(1), { secret: SECRET }), 200, 'the first listener is untouched');
    await first.close();
    await first.close();
    await assert.rejects(post(first.url, singleBody(1), { secret: SECRET }), 'closed: nothing listens any more');
  });

  it('a signed delivery is answered 200 while the daemon stops', { timeout: 60_000 }, async (t) => {
    const site = await withSite(t);
    const bed = daemonBed(t, site);
    bed.addPlugin('recorder.mjs');
    const config = bed.config({ webhooks: { port: 0, secrets: [SECRET] } });
    const { daemon, webhookUrl } = await serve(t, config);
    await daemon.stop();
    assert.equal(await post(webhookUrl, singleBody(1_000_000), { secret: SECRET }), 200);
  });
});
