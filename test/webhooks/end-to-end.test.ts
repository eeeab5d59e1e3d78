// The daemon's receiver against the local site's own webhook sender, over real
// HTTP: what plugins get is the event log, whatever the deliveries do.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as pause } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { daemonBed, waitFor, withSite } from '../support/index.ts';
import { metric, SECRET, serve, writeChanges } from './support.ts';

const LONG = 600_000;

describe('webhooks end to end', () => {
  it('1,000 changes with deliveries dropped, duplicated and reordered: each plugin gets every event of the log once, in order, nothing extra', { timeout: 180_000 }, async (t) => {
    // A fault on 90 % of requests, a third each: 30 % dropped, 30 % duplicated, 30 % reordered (seeded).
    const site = await withSite(t, { seed: 'demo', webhooks: { faultRate: 0.9, faultSeed: 13 } });
    const bed = daemonBed(t, site);
    bed.addPlugin('recorder.mjs', 'first.mjs');
    bed.addPlugin('recorder.mjs', 'second.mjs');
    // Polling every 2 s is only the safety net for a dropped last delivery.
    const config = bed.config({ daemon: { fetchIntervalMs: LONG }, webhooks: { port: 0, secrets: [SECRET], fallbackPollMs: 2000 } });
    const { daemon, webhookUrl } = await serve(t, config);
    await waitFor(() => daemon.status().plugins.filter((p) => p.status === 'running').length === 2, 'both plugins to run');
    const hook = site.site.webhooks.add({ url: webhookUrl, secret: SECRET });
    const startId = await site.newestEventId();

    // 1,000 changes in 100 transactions of 10, the writer pausing between them so deliveries interleave with reads.
    for (let i = 0; i < 100; i++) {
      writeChanges(site.site, 9);
      await pause(2);
    }
    const newest = await site.newestEventId();
    const rows = await site.sg.find('EventLogEntry', [['id', 'greater_than', startId]], ['id'], { order: [{ field_name: 'id', direction: 'asc' }] });
    const logIds = rows.map((r) => String(r['id']));
    assert.equal(logIds.length, newest - startId);
    assert.ok(logIds.length >= 1000, `${logIds.length} events`);

    const seen = (plugin: string): string[] => bed.records().filter((r) => r[0] === plugin).map((r) => r[1] ?? '');
    await waitFor(() => seen('first').includes(String(newest)) && seen('second').includes(String(newest)), 'both plugins to reach the newest event', 120_000);
    await waitFor(() => (site.site.webhooks.get(hook.id)?.queued ?? 1) === 0, 'the site to have sent every delivery');
    assert.deepEqual(seen('first'), logIds, 'first: every event once, in id order');
    assert.deepEqual(seen('second'), logIds, 'second: every event once, in id order');

    const counts = site.site.webhooks.get(hook.id);
    assert.ok(counts !== undefined && counts.dropped > 0 && counts.duplicated > 0 && counts.reordered > 0, `faults injected: ${JSON.stringify(counts)}`);
    const accepted = metric(await daemon.metrics.metrics(), 'sgeventd_webhook_deliveries_total{result="accepted"}');
    assert.ok(accepted > 0, 'deliveries reached the receiver');
  });

  it('the silent-webhook warning fires when the site stops sending an expected type, never for in_create rows or types outside expect', { timeout: 120_000 }, async (t) => {
    const site = await withSite(t);
    const bed = daemonBed(t, site);
    bed.addPlugin('recorder.mjs');
    const silentAfterMs = 300;
    const mails: string[] = [];
    const smtp = new SMTPServer({
      authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false,
      onData(stream, _session, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          mails.push(Buffer.concat(chunks).toString('utf8'));
          cb();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', () => resolve()));
    t.after(() => new Promise<void>((r) => smtp.close(() => r())));
    const config = bed.config({
      daemon: { fetchIntervalMs: LONG },
      emails: { enabled: true, host: '127.0.0.1', port: (smtp.server.address() as AddressInfo).port, from: 'sgeventd@test', to: ['ops@test'] },
      http: { enabled: true, port: 0 },
      webhooks: { port: 0, secrets: [SECRET], fallbackPollMs: 100, expect: ['Shot:update'], silentAfterMs },
    });
    const { daemon, statusUrl, webhookUrl } = await serve(t, config);
    await waitFor(() => daemon.status().plugins[0]?.status === 'running', 'the plugin to run');
    const hook = site.site.webhooks.add({ url: webhookUrl, secret: SECRET, types: ['Shot:update'] });
    const seenId = (id: number): boolean => bed.records().some((r) => r[1] === String(id));

    // A Shot update the site delivers.
    const [delivered] = writeChanges(site.site, 1) as [number];
    await waitFor(() => (daemon.status().webhooks?.lastDeliveredId ?? 0) >= delivered && seenId(delivered), 'the delivered Shot update');

    // A Shot creation (a create and in_create field rows) and an Asset update: the webhook sends none of them.
    const assetChanges = writeChanges(site.site, 1, 'Asset');
    const newest = await site.newestEventId();
    await waitFor(() => seenId(newest), 'the unsent events, found by polling');
    const sawAt = Date.now();
    // A poll that started after the threshold has finished once the next one has started.
    await waitFor(() => Date.parse(daemon.status().lastPollAt ?? '') > sawAt + silentAfterMs + 100, 'polls past the threshold');
    await pause(0);
    assert.equal(daemon.status().webhooks?.silent, null, `no warning for in_create rows or types outside expect (Asset ${assetChanges.join(',')})`);

    // The site stops sending: the next Shot update is found by polling alone.
    await site.site.webhooks.remove(hook.id);
    const [unsent] = writeChanges(site.site, 1) as [number];
    const silent = await waitFor(() => daemon.status().webhooks?.silent, 'the silent-webhook warning');
    assert.equal(silent.eventId, unsent, 'the oldest expected event no delivery covered');
    assert.equal(silent.eventType, 'Shotgun_Shot_Change');
    assert.equal(metric(await daemon.metrics.metrics(), 'sgeventd_webhook_silent_total'), 1);
    const page = await (await fetch(`${statusUrl}/`)).text();
    assert.match(page, /data-testid="webhook-silent"/);
    const doc = (await (await fetch(`${statusUrl}/api/status`)).json()) as { webhooks: { silent: { eventId: number } | null } };
    assert.equal(doc.webhooks.silent?.eventId, unsent);
    await waitFor(() => mails.some((m) => m.includes('webhook silent')), 'the silent-webhook mail');
    assert.equal(mails.filter((m) => m.includes('webhook silent')).length, 1);

    // Deliveries again: the warning clears.
    site.site.webhooks.add({ url: webhookUrl, secret: SECRET, types: ['Shot:update'] });
    const [again] = writeChanges(site.site, 1) as [number];
    await waitFor(() => (daemon.status().webhooks?.lastDeliveredId ?? 0) >= again, 'a delivery after the silence');
    assert.equal(daemon.status().webhooks?.silent, null);
    assert.equal(daemon.status().webhooks?.silences, 1);
  });
});
