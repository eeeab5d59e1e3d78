import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { startStatusServer } from '../../src/daemon/index.ts';
import { statusDocumentSchema } from '../../src/http/index.ts';
import { DEFAULT_SCRIPT } from '../../src/site/index.ts';
import { daemonBed, onCleanup, runCli, waitFor, withDaemon, withSite, type Cleanup } from '../support/index.ts';

/** A real SMTP server on loopback that keeps every mail's text. */
async function smtpServer(t: Cleanup): Promise<{ port: number; mails: string[] }> {
  const mails: string[] = [];
  const server = new SMTPServer({
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
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  onCleanup(t, () => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.server.address() as AddressInfo).port, mails };
}

describe('the age of unread events', { timeout: 120_000 }, () => {
  it('warns in the log, by mail and on the status page when a plugin\'s unread events near the site\'s log retention', async (t) => {
    const site = await withSite(t);
    const h = daemonBed(t, site);
    h.addPlugin('recorder.mjs');
    const smtp = await smtpServer(t);
    const config = h.config({
      daemon: { logAgeWarnDays: 150, logAgeCheckMs: 200 },
      http: { host: '127.0.0.1', port: 0 },
      logging: { dir: h.logs, level: 'info' },
      emails: { enabled: true, host: '127.0.0.1', port: smtp.port, secure: false, starttls: false, from: 'sgeventd@example.com', to: ['td@example.com'], minLevel: 'warn' },
    });
    const first = await withDaemon(t, config);
    await site.newShotEvent('seen');
    const cursor = await site.newestEventId();
    await waitFor(() => first.status().plugins[0]?.lastEventId === cursor, 'the cursor to reach the newest event');
    await first.stop();

    // The plugin stays disabled while events come; they are 160 days old by the time anyone looks.
    const disabled = await runCli(['plugin', 'disable', 'recorder', '-c', h.writeYaml()], h.childEnv());
    assert.equal(disabled.code, 0, disabled.stderr);
    await site.newShotEvent('unread');
    const res = await fetch(`${site.url}/admin/events/backdate`, {
      method: 'POST', body: JSON.stringify({ script_name: DEFAULT_SCRIPT.name, script_key: DEFAULT_SCRIPT.key, days: 160 }),
    });
    assert.equal(res.status, 200);
    h.addPlugin('recorder.mjs', 'fresh.mjs');

    const daemon = await withDaemon(t, config, { logFiles: true });
    const http = await startStatusServer(daemon, config, false);
    assert.ok(http);
    onCleanup(t, () => http.stop());
    const warned = await waitFor(() => daemon.status().plugins.find((p) => p.name === 'recorder')?.logAgeWarning, 'the age warning of the disabled plugin');
    assert.equal(warned.eventId, cursor + 1, 'the oldest unread event is named');
    assert.ok(warned.ageDays >= 159 && warned.ageDays <= 161, `its age in days: ${warned.ageDays}`);
    assert.equal(daemon.status().plugins.find((p) => p.name === 'fresh')?.logAgeWarning, null, 'a plugin with nothing unread is not warned about');

    const doc = statusDocumentSchema.parse(await (await fetch(`${http.url}/api/status`)).json());
    assert.equal(doc.plugins.find((p) => p.name === 'recorder')?.logAgeWarning?.eventId, cursor + 1);
    const page = await (await fetch(`${http.url}/`)).text();
    assert.match(page, /data-testid="log-age-warning" data-plugin="recorder"/);

    await waitFor(() => smtp.mails.find((m) => /unread events 16\d days old/.test(m) && m.includes('recorder')), 'the warning mail');
    await waitFor(() => h.logLines().find((l) => l['plugin'] === 'recorder' && String(l['msg']).includes('culls its event log')), 'the warning in the log');
    assert.equal(smtp.mails.filter((m) => /unread events \d+ days old/.test(m)).length, 1, 'one mail, not one per check');
  });
});
