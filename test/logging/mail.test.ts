import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DEFAULT_SCRIPT } from '../../src/site/index.ts';
import { daemonBed, subjectOf, waitFor, withDaemon, withSite, withSmtp, type DaemonBed, type Mail } from '../support/index.ts';

const GLOBAL = 'pipeline@example.com';
// Plugin threads and processes get a filtered environment: the script is written into each plugin.
const SCRIPT = `${JSON.stringify(DEFAULT_SCRIPT.name)}, ${JSON.stringify(DEFAULT_SCRIPT.key)}`;

function plugin(bed: DaemonBed, file: string, text: string): string {
  const target = join(bed.plugins, file);
  writeFileSync(target, text);
  chmodSync(target, 0o644);
  return target;
}

/** A JS plugin whose callback throws on every event (the event is skipped, the plugin stays active). */
const failingJs = (setEmails: string): string => `export function registerCallbacks(reg) {
  ${setEmails}
  reg.registerCallback(${SCRIPT}, (ctx) => { throw new Error('cannot handle event ' + ctx.event.id); }, null, null, false);
}
`;

/** A Python plugin whose callback logs an ERROR record (and succeeds), unchanged shotgunEvents style. */
const loggingPy = (setEmails: string): string => `def registerCallbacks(reg):
    ${setEmails}
    reg.registerCallback(${SCRIPT}, onEvent, None, None)

def onEvent(sg, logger, event, args):
    logger.error("py saw event %d", event["id"])
`;

const emailConfig = (port: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  enabled: true, host: '127.0.0.1', port, secure: false, starttls: false, from: 'sgeventd@example.com', to: [GLOBAL], ...extra,
});

const mailsAbout = (mails: Mail[], plugin: string): Mail[] => mails.filter((m) => subjectOf(m.raw).includes(`: ${plugin}: `));

describe('error mail follows setEmails', () => {
  it('a failing callback and a plugin logger ERROR go to the plugin\'s list, to emails.to for true, to nobody for false', { timeout: 120_000 }, async (t) => {
    const smtp = await withSmtp(t);
    const site = await withSite(t);
    const bed = daemonBed(t, site);
    plugin(bed, 'js_args.mjs', failingJs("reg.setEmails('a@example.com', 'b@example.com');"));
    plugin(bed, 'js_list.mjs', failingJs("reg.setEmails(['c@example.com']);"));
    plugin(bed, 'js_true.mjs', failingJs('reg.setEmails(true);'));
    plugin(bed, 'js_false.mjs', failingJs('reg.setEmails(false);'));
    plugin(bed, 'py_args.py', loggingPy('reg.setEmails("p@example.com", "q@example.com")'));
    plugin(bed, 'py_list.py', loggingPy('reg.setEmails(["r@example.com"])'));
    plugin(bed, 'py_true.py', loggingPy('reg.setEmails(True)'));
    plugin(bed, 'py_false.py', loggingPy('reg.setEmails(False)'));
    const config = bed.config({ emails: emailConfig(smtp.port), logging: { dir: bed.logs, level: 'info' } });
    const daemon = await withDaemon(t, config, { logFiles: true });
    await waitFor(() => daemon.status().plugins.length === 8 && daemon.status().plugins.every((p) => p.status === 'running'), 'eight plugins running');
    const eventId = await site.newShotEvent('mail-forms');
    await waitFor(() => daemon.status().plugins.every((p) => p.lastEventId !== null && p.lastEventId >= eventId), 'every plugin past the event');
    // Python records reach the log as they are read from the child's stderr: wait for each one, at ERROR.
    const pyErrors = (): Array<Record<string, unknown>> => bed.logLines().filter((l) => typeof l['msg'] === 'string' && l['msg'].includes(`py saw event ${eventId}`));
    await waitFor(() => new Set(pyErrors().map((l) => l['plugin'])).size === 4, 'the four Python plugins\' ERROR records in the log');
    for (const l of pyErrors()) assert.equal(l['level'], 50, 'a Python ERROR record is logged at error, not warn');
    await daemon.stop(); // waits for the mails queued so far

    // Creating a shot writes several events; every mail of a plugin goes to the same recipients.
    const to = (name: string): string[][] => [...new Set(mailsAbout(smtp.mails, name).map((m) => JSON.stringify(m.to.sort())))].map((j) => JSON.parse(j) as string[]);
    assert.deepEqual(to('js_args'), [['a@example.com', 'b@example.com']]);
    assert.deepEqual(to('js_list'), [['c@example.com']]);
    assert.deepEqual(to('js_true'), [[GLOBAL]]);
    assert.deepEqual(to('js_false'), []);
    assert.deepEqual(to('py_args'), [['p@example.com', 'q@example.com']]);
    assert.deepEqual(to('py_list'), [['r@example.com']]);
    assert.deepEqual(to('py_true'), [[GLOBAL]]);
    assert.deepEqual(to('py_false'), []);
    for (const m of mailsAbout(smtp.mails, 'py_args')) assert.match(subjectOf(m.raw), /^\[sgeventd\] ERROR: py_args: plugin\.py_args\.onEvent: py saw event \d+/);
    assert.ok(mailsAbout(smtp.mails, 'py_args').some((m) => m.raw.includes(`py saw event ${String(eventId)}`)), 'the record is in a mail');
    assert.ok(mailsAbout(smtp.mails, 'js_args').some((m) => m.raw.includes(`cannot handle event ${String(eventId)}`)), 'the callback error is in a mail');
  });

  it('an import failure goes to the plugin\'s recipients, a registration failure to emails.to', { timeout: 120_000 }, async (t) => {
    const smtp = await withSmtp(t);
    const site = await withSite(t);
    const bed = daemonBed(t, site);
    const good = (name: string): string => `export function registerCallbacks(reg) {
  reg.setEmails('${name}@example.com');
  reg.registerCallback(${SCRIPT}, () => undefined);
}
`;
    const imports = plugin(bed, 'imports.mjs', good('imports'));
    const registers = plugin(bed, 'registers.mjs', good('registers'));
    plugin(bed, 'never.mjs', "throw new Error('broken from the start');\n");
    const daemon = await withDaemon(t, bed.config({ emails: emailConfig(smtp.port) }));
    await waitFor(() => daemon.status().plugins.filter((p) => p.status === 'running').length === 2, 'two plugins running');
    writeFileSync(imports, "throw new Error('broken at import');\n");
    writeFileSync(registers, "export function registerCallbacks(reg) { reg.setEmails('registers@example.com'); throw new Error('broken in registerCallbacks'); }\n");
    await waitFor(() => mailsAbout(smtp.mails, 'imports').length === 1 && mailsAbout(smtp.mails, 'registers').length === 1 && mailsAbout(smtp.mails, 'never').length === 1,
      'a mail for each load failure', 30_000);
    assert.deepEqual(mailsAbout(smtp.mails, 'imports')[0]?.to, ['imports@example.com'], 'an import failure: the recipients of its last load');
    assert.deepEqual(mailsAbout(smtp.mails, 'registers')[0]?.to, [GLOBAL], 'a registration failure: emails.to');
    assert.deepEqual(mailsAbout(smtp.mails, 'never')[0]?.to, [GLOBAL], 'never loaded: emails.to');
    assert.match(subjectOf(mailsAbout(smtp.mails, 'registers')[0]?.raw ?? ''), /^\[sgeventd\] CRITICAL: registers: /);
  });

  it('emails.minLevel fatal leaves only CRITICAL mail', { timeout: 120_000 }, async (t) => {
    const smtp = await withSmtp(t);
    const site = await withSite(t);
    const bed = daemonBed(t, site);
    plugin(bed, 'fails.mjs', failingJs(''));
    plugin(bed, 'noreg.mjs', 'export const nothing = 1;\n');
    const daemon = await withDaemon(t, bed.config({ emails: emailConfig(smtp.port, { minLevel: 'fatal' }) }));
    await waitFor(() => daemon.status().plugins.find((p) => p.name === 'fails')?.status === 'running', 'the failing plugin running');
    const eventId = await site.newShotEvent('min-level');
    await waitFor(() => (daemon.status().plugins.find((p) => p.name === 'fails')?.failed ?? 0) >= 1, 'the callback failed');
    assert.ok((daemon.status().plugins.find((p) => p.name === 'fails')?.lastEventId ?? 0) >= eventId);
    await daemon.stop();
    assert.deepEqual(mailsAbout(smtp.mails, 'fails'), [], 'an ERROR is not mailed under minLevel fatal');
    assert.equal(mailsAbout(smtp.mails, 'noreg').length, 1, 'a registration failure (CRITICAL) still is');
  });

  it('a state file that cannot be written and a site that stops answering are mailed to emails.to', { timeout: 120_000 }, async (t) => {
    const smtp = await withSmtp(t);
    const site = await withSite(t);
    const bed = daemonBed(t, site);
    plugin(bed, 'quiet.mjs', `export function registerCallbacks(reg) { reg.setEmails(false); reg.registerCallback(${SCRIPT}, () => undefined); }\n`);
    const config = bed.config({ emails: emailConfig(smtp.port), daemon: { stateFlushMs: 20 } });
    const daemon = await withDaemon(t, config);
    await waitFor(() => daemon.status().plugins[0]?.status === 'running', 'the plugin running');
    // Another connection holds the write lock: the daemon's commits fail (busy) until it lets go.
    const db = new Database(config.daemon.state);
    t.after(() => db.close());
    db.exec('BEGIN EXCLUSIVE');
    const eventId = await site.newShotEvent('state-locked');
    const engineMail = (title: string): Mail | undefined => smtp.mails.find((m) => subjectOf(m.raw).includes(title));
    const stateMail = await waitFor(() => engineMail('writing the state file failed'), 'the state-write mail', 60_000);
    db.exec('ROLLBACK');
    assert.deepEqual(stateMail.to, [GLOBAL]);
    assert.match(subjectOf(stateMail.raw), /^\[sgeventd\] CRITICAL: /);
    await waitFor(() => (daemon.status().plugins[0]?.lastEventId ?? 0) >= eventId, 'the plugin past the event');

    await site.site.close();
    const down = await waitFor(() => engineMail('site unreachable'), 'the site-down mail', 60_000);
    assert.deepEqual(down.to, [GLOBAL]);
  });
});
