import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { ShotgunClient } from '../../src/shotgrid/index.ts';
import { Secret } from '../../src/shared/index.ts';
import { makeHarness, waitFor, runDaemon, newestEventId, type Harness } from './harness.ts';
import { idsByPlugin } from './child.ts';

async function recorderAs(h: Harness, name: string, script: string, key: string): Promise<void> {
  const path = join(h.plugins, `${name}.mjs`);
  await writeFile(path, `import { appendFileSync } from 'node:fs';
export function registerCallbacks(reg) {
  reg.registerCallback('${script}', '${key}', (ctx) => {
    appendFileSync(process.env.SGEVENTD_TEST_RECORD, '${name} ' + ctx.event.id + ' ' + ctx.event.event_type + ' ' + ctx.attempt + '\\n');
  });
}
`);
  await chmod(path, 0o644);
}

type Link = { type?: string; id?: number; name?: string } | null | undefined;

describe('plugin scope', () => {
  it('ignoreOwnEvents skips events by the plugin\'s script, also through sudo_as_login; projects include/exclude by id and tank_name', async () => {
    const h = await makeHarness({ seed: 'demo', scripts: [{ name: 'sgeventd', key: 'sgeventd-key' }, { name: 'own', key: 'own-key' }] });
    const own = new ShotgunClient({ baseUrl: h.site.url, auth: { kind: 'script', scriptName: 'own', scriptKey: new Secret('own-key') }, retryDelayMs: 20 });
    const ownAsAlice = own.withOptions({ sudoAsLogin: 'alice' });
    try {
      const projects = await h.sg.find('Project', [], ['id', 'tank_name'], { order: [{ field_name: 'id', direction: 'asc' }] });
      const alpha = projects.find((p) => p['tank_name'] === 'demo_alpha');
      const beta = projects.find((p) => p['tank_name'] === 'demo_beta');
      assert.ok(alpha && beta);
      const A = alpha['id'];
      const B = beta['id'];
      await recorderAs(h, 'own', 'own', 'own-key');
      await recorderAs(h, 'ownall', 'own', 'own-key');
      await recorderAs(h, 'inc', 'sgeventd', 'sgeventd-key');
      await recorderAs(h, 'exc', 'sgeventd', 'sgeventd-key');
      await recorderAs(h, 'incname', 'sgeventd', 'sgeventd-key');
      const daemon = await runDaemon(h.config({
        plugins: {
          overrides: {
            own: { ignoreOwnEvents: true },
            inc: { projects: { include: [A] } },
            exc: { projects: { exclude: ['demo_beta'] } },
            incname: { projects: { include: ['demo_beta'] } },
          },
        },
      }));
      try {
        const start = daemon.status().newestEventId;
        const sa = await h.sg.create('Shot', { code: 'by_sgeventd', project: { type: 'Project', id: A } });
        const sb = await own.create('Shot', { code: 'by_own', project: { type: 'Project', id: B } });
        await ownAsAlice.update('Shot', sa['id'], { description: 'own acting as alice' });
        await h.sg.update('Shot', sb['id'], { description: 'sentinel' });
        const last = await newestEventId(h);
        const events = await h.sg.find('EventLogEntry', [['id', 'greater_than', start]], ['id', 'user', 'meta', 'project'], { order: [{ field_name: 'id', direction: 'asc' }] });
        const isOwn = (l: Link) => l?.type === 'ApiUser' && l.name === 'own';
        const byOwn = events.filter((e) => isOwn(e['user'] as Link));
        const bySudo = events.filter((e) => isOwn((e['meta'] as { sudo_actual_user?: Link } | null)?.sudo_actual_user) && (e['user'] as Link)?.type === 'HumanUser');
        assert.ok(byOwn.length > 0 && bySudo.length > 0, 'the site made events of the script itself and of the script acting as alice');
        const proj = (e: Record<string, unknown>) => (e['project'] as Link)?.id;
        const expect: Record<string, number[]> = {
          own: events.filter((e) => !byOwn.includes(e) && !bySudo.includes(e)).map((e) => e['id']),
          ownall: events.map((e) => e['id']),
          inc: events.filter((e) => proj(e) === A).map((e) => e['id']),
          exc: events.filter((e) => proj(e) !== B).map((e) => e['id']),
          incname: events.filter((e) => proj(e) === B).map((e) => e['id']),
        };
        await waitFor('every plugin to pass the last event', () => daemon.status().plugins.every((p) => p.lastEventId === last));
        const by = idsByPlugin(await h.records());
        for (const [name, ids] of Object.entries(expect)) {
          assert.ok(ids.length > 0, `${name} has something to see`);
          assert.deepEqual(by.get(name) ?? [], ids, name);
        }
      } finally {
        await daemon.stop();
      }
    } finally {
      await own.close();
      await h.close();
    }
  });
});
