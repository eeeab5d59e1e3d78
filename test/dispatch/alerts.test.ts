import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { subjectOf, withSmtp } from '../support/index.ts';
import { makeHarness, waitFor, runDaemon, bulkEvents, addPlugin } from './harness.ts';
import { idsByPlugin } from './child.ts';

const PASSWORD = 'smtp-pw-7f3a9c-never-shown';

describe('email on error', () => {
  it('mails a failing plugin\'s alert through SMTP with auth and the subject prefix; at most maxPerHour mails; the password is never in a mail or a log', { timeout: 120_000 }, async (t) => {
    const smtp = await withSmtp(t, { username: 'alerts', password: PASSWORD });
    const h = await makeHarness();
    try {
      await addPlugin(h, 'recorder.mjs', 'good.mjs');
      const failer = join(h.plugins, 'failer.mjs');
      await writeFile(failer, `export function registerCallbacks(reg) {
  reg.registerCallback('sgeventd', 'sgeventd-key', (ctx) => { throw new Error('cannot handle event ' + ctx.event.id); }, null, null, false);
}
`);
      await chmod(failer, 0o644);
      const logs = join(h.dir, 'logs');
      const config = h.config({
        logging: { dir: logs, level: 'debug' },
        emails: {
          enabled: true, host: '127.0.0.1', port: smtp.port, secure: false, starttls: false,
          username: 'alerts', password: PASSWORD, from: 'sgeventd@example.com', to: ['pipeline@example.com'],
          subjectPrefix: '[studio-events]', maxPerHour: 3,
        },
      });
      const ids = bulkEvents(h.site, 10);
      const daemon = await runDaemon(config, ids[0]! - 1, { logFiles: true });
      try {
        await waitFor('both plugins to pass the last event', () => daemon.status().plugins.every((p) => p.lastEventId === ids.at(-1)));
        assert.equal(daemon.status().plugins.find((p) => p.name === 'failer')?.failed, 10, 'ten failures');
      } finally {
        await daemon.stop(); // waits for queued mails
      }
      assert.deepEqual(idsByPlugin(await h.records()).get('good'), ids, 'the good plugin is unaffected');
      const mine = smtp.mails.filter((m) => subjectOf(m.raw).includes('failer'));
      assert.equal(mine.length, 3, 'ten failures, maxPerHour 3: three mails');
      assert.ok(smtp.logins.length >= 1, 'the daemon authenticated');
      for (const m of mine) {
        assert.match(subjectOf(m.raw), /^\[studio-events\] ERROR: failer: /);
        assert.deepEqual(m.to, ['pipeline@example.com']);
        assert.equal(m.from, 'sgeventd@example.com');
        assert.match(m.raw, /cannot handle event \d+/);
      }
      for (const m of smtp.mails) assert.ok(!m.raw.includes(PASSWORD), 'no password in a mail');
      let logText = '';
      for (const f of await readdir(logs)) logText += await readFile(join(logs, f), 'utf8');
      assert.match(logText, /cannot handle event/, 'the logs were written');
      assert.ok(!logText.includes(PASSWORD), 'no password in the logs');
    } finally {
      await h.close();
      await smtp.close();
    }
  });
});
