// Plugin loads in cluster mode, as on one machine: a load that hits a site
// error is tried again with backoff (the plugin then runs in the cluster);
// a plugin's own load failure (an import error after a hot reload) is
// mailed to the recipients its last good load chose with setEmails, once
// for the cluster.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor, withSmtp } from '../support/index.ts';
import { natsSkip } from '../support/nats.ts';
import { clusterBed } from './cluster-bed.ts';

// Until <record>.ready exists, registration fails as a site that cannot be reached does.
const FLAKY = `import { appendFileSync, existsSync } from 'node:fs';
export function registerCallbacks(reg) {
  const rec = process.env.SGEVENTD_TEST_RECORD;
  appendFileSync(rec, 'flaky ' + process.env.SGEVENTD_TEST_NODE + ' ' + process.pid + ' 0 load start\\n');
  if (!existsSync(rec + '.ready')) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  reg.registerCallback('sgeventd', 'sgeventd-key', (ctx) => {
    appendFileSync(rec, 'flaky ' + process.env.SGEVENTD_TEST_NODE + ' ' + process.pid + ' ' + ctx.event.id + ' p start\\n');
    appendFileSync(rec, 'flaky ' + process.env.SGEVENTD_TEST_NODE + ' ' + process.pid + ' ' + ctx.event.id + ' p end\\n');
  }, { Shotgun_Shot_New: null });
}
`;
const MAILED = `export function registerCallbacks(reg) {
  reg.setEmails('td@studio.test');
  reg.registerCallback('sgeventd', 'sgeventd-key', () => undefined, { Shotgun_Shot_New: null });
}
`;
const MAILED_BROKEN = `import { nothing } from 'node:no-such-module';
export function registerCallbacks(reg) {
  reg.registerCallback('sgeventd', 'sgeventd-key', () => nothing, null);
}
`;

describe('plugin loads in cluster mode', natsSkip(), () => {
  it('a site error at load is tried again until the plugin loads and runs; an import error is mailed to its setEmails recipients, once', async (t) => {
    const smtp = await withSmtp(t);
    const bed = await clusterBed(t, {
      plugins: [], nodes: 2, folder: { watch: 'poll', watchPollMs: 200 },
      sections: () => ({ emails: { enabled: true, host: '127.0.0.1', port: smtp.port, secure: false, starttls: false, from: 'sgeventd@studio.test', to: ['ops@studio.test'], maxPerHour: 20 } }),
      // Written before the nodes start: registration runs at each node's first load.
      initialNodes: 0,
    });
    for (const [file, text] of [['flaky.mjs', FLAKY], ['mailed.mjs', MAILED]] as const) {
      writeFileSync(join(bed.plugins, file), text);
      chmodSync(join(bed.plugins, file), 0o644);
    }
    bed.start(0);
    bed.start(1);
    const loads = (): number => bed.lines().filter((l) => l.plugin === 'flaky' && l.id === 0).length;
    await waitFor(() => loads() >= 4 || undefined, 'each node trying the flaky plugin\'s load again', 60_000);
    writeFileSync(`${bed.record}.ready`, '');
    const held = await waitFor(async () => {
      const v = await bed.anyView();
      const p = v?.plugins.find((x) => x.name === 'flaky');
      return p?.holder !== null && p?.holder !== undefined ? v : null;
    }, 'the flaky plugin loaded and held by a node once the site answers', 90_000);
    assert.ok(held);
    const shot = await bed.createEvents(1);
    await waitFor(() => bed.lines().some((l) => l.plugin === 'flaky' && l.what === 'end' && l.id > 0 && l.id <= shot) || undefined, 'the flaky plugin running an event');
    assert.equal(smtp.mails.length, 0, 'a site error at load is not mailed');

    // The plugin's own bug: every node fails its reload; one mail, to td@ only.
    writeFileSync(join(bed.plugins, 'mailed.mjs'), MAILED_BROKEN);
    await waitFor(() => smtp.mails.some((m) => /could not load the plugin/.test(m.raw)) || undefined, 'the load failure mailed', 60_000);
    await waitFor(async () => {
      const views = await Promise.all([0, 1].map((i) => bed.view(i)));
      return views.every((v) => v?.plugins.find((p) => p.name === 'mailed')?.role === 'load-failed') || undefined;
    }, 'both nodes failing the reload');
    const loadMails = smtp.mails.filter((m) => /could not load the plugin/.test(m.raw));
    assert.equal(loadMails.length, 1, 'mailed once for the cluster');
    assert.deepEqual(loadMails[0]?.to, ['td@studio.test'], 'to the plugin\'s setEmails recipients, not the global ones');
  });
});
