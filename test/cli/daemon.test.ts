import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, chmod, rm, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { openSqliteState } from '../../src/state/index.ts';
import { daemonBed, onCleanup, runCli, waitFor, withSite, type DaemonBed } from '../support/index.ts';

/** A plugin recording "<name> <id> <type> <attempt> <replay>" after `before` (JS, may await). */
async function plugin(h: DaemonBed, name: string, before: string): Promise<void> {
  const path = join(h.plugins, `${name}.mjs`);
  await writeFile(path, `import { appendFileSync, existsSync } from 'node:fs';
export function registerCallbacks(reg) {
  reg.registerCallback('sgeventd', 'sgeventd-key', async (ctx) => {
    const file = process.env.SGEVENTD_TEST_RECORD;
    void existsSync;
    ${before}
    appendFileSync(file, '${name} ' + ctx.event.id + ' ' + ctx.event.event_type + ' ' + ctx.attempt + ' ' + ctx.replay + '\\n');
  });
}
`);
  await chmod(path, 0o644);
}

const statusSchema = z.object({
  running: z.number().nullable(),
  newest: z.number().nullable(),
  plugins: z.array(z.object({ plugin: z.string(), active: z.boolean(), cursor: z.number().nullable(), backlog: z.number(), lag: z.number().nullable() })),
});

async function status(h: DaemonBed, yaml: string): Promise<z.infer<typeof statusSchema>> {
  const r = await runCli(['status', '-c', yaml, '--json'], h.childEnv());
  assert.equal(r.code, 0, r.stderr);
  return statusSchema.parse(JSON.parse(r.stdout));
}

const row = (s: z.infer<typeof statusSchema>, name: string) => s.plugins.find((p) => p.plugin.endsWith(`:${name}`) || p.plugin.endsWith(`/${name}`) || p.plugin.endsWith(name));

async function lines(h: DaemonBed): Promise<string[]> {
  return existsSync(h.record) ? (await readFile(h.record, 'utf8')).split('\n').filter(Boolean) : [];
}

describe('sgeventd start / status / plugin enable / stop / replay / check', () => {
  it('runs the daemon in the background with a pid file, reports cursors and lag, reactivates a plugin, stops gracefully, replays without moving cursors', async (t) => {
    const h = daemonBed(t, await withSite(t));
    let yaml = '';
    // A daemon left running by a failed assertion is stopped with the test.
    onCleanup(t, async () => {
      if (yaml) await runCli(['stop', '-c', yaml], h.childEnv()).catch(() => undefined);
    });
    await plugin(h, 'rec', '');
    await plugin(h, 'gate', "if (existsSync(file + '.fail') && ctx.event.meta?.new_value === 'ip') throw new Error('gate closed');");
    await plugin(h, 'slow', "if (ctx.event.meta?.new_value === 'slow') { appendFileSync(file, 'slow-start ' + ctx.event.id + '\\n'); await new Promise((r) => setTimeout(r, 1500)); }");
    await writeFile(`${h.record}.fail`, '');
    yaml = h.writeYaml({ stateFlushMs: 50 });

    const started = await runCli(['start', '-c', yaml], h.childEnv());
    assert.equal(started.code, 0, started.stderr);
    const pid = Number(/pid (\d+)/.exec(started.stdout)?.[1]);
    assert.ok(pid > 0);
    assert.equal(Number((await readFile(join(h.dir, 'sgeventd.pid'), 'utf8')).trim()), pid);
    const again = await runCli(['start', '-c', yaml], h.childEnv());
    assert.notEqual(again.code, 0);
    assert.equal(again.errorCode, 'DAEMON_ALREADY_RUNNING');

    // Wait for the daemon to have loaded its plugins (their state rows appear).
    await waitFor(async () => (await status(h, yaml)).plugins.length === 3, 'three plugins in the state');
    const project = await h.site.sg.findOne('Project', [], ['id']);
    assert.ok(project);
    const shot = await h.site.sg.create('Shot', { code: 'cli', project: { type: 'Project', id: project['id'] } });
    await h.site.sg.update('Shot', shot['id'], { sg_status_list: 'ip' });
    const ipEvent = await h.site.newestEventId();
    await h.site.sg.update('Shot', shot['id'], { description: 'after' });
    const newest = await h.site.newestEventId();

    const s = await waitFor(async () => {
      const st = await status(h, yaml);
      return row(st, 'rec')?.cursor === newest && row(st, 'gate')?.active === false ? st : undefined;
    }, 'status: rec at the newest event, gate inactive');
    assert.equal(s.running, pid);
    assert.equal(s.newest, newest);
    assert.equal(row(s, 'rec')?.lag, 0);
    assert.equal(row(s, 'gate')?.cursor, ipEvent - 1);
    assert.equal(row(s, 'gate')?.lag, newest - ipEvent + 1);
    const table = await runCli(['status', '-c', yaml], h.childEnv());
    assert.match(table.stdout, new RegExp(`running \\(pid ${pid}\\)`));

    // `sgeventd plugin enable` reactivates the deactivated plugin in the running daemon: it replays from the failed event.
    await rm(`${h.record}.fail`);
    const enabled = await runCli(['plugin', 'enable', 'gate', '-c', yaml], h.childEnv());
    assert.equal(enabled.code, 0, enabled.stderr);
    await waitFor(async () => {
      const l = await lines(h);
      return l.includes(`gate ${ipEvent} Shotgun_Shot_Change 1 false`) && l.some((x) => x.startsWith(`gate ${newest} `));
    }, 'gate to process the event it failed on, then the rest', 30_000);
    await waitFor(async () => row(await status(h, yaml), 'gate')?.active === true, 'gate active again');

    // Graceful stop while a callback is in flight: it finishes and its cursor is committed.
    await h.site.sg.update('Shot', shot['id'], { description: 'slow' });
    const slowEvent = await h.site.newestEventId();
    await waitFor(async () => (await lines(h)).includes(`slow-start ${slowEvent}`), 'the slow callback to start');
    const stopped = await runCli(['stop', '-c', yaml], h.childEnv());
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stdout, new RegExp(`stopped \\(pid ${pid}\\)`));
    assert.ok((await lines(h)).some((x) => x.startsWith(`slow ${slowEvent} `)), 'the in-flight callback finished');
    assert.ok(!existsSync(join(h.dir, 'sgeventd.pid')), 'the pid file is gone');
    const after = await status(h, yaml);
    assert.equal(after.running, null);
    for (const p of ['rec', 'gate', 'slow']) assert.equal(row(after, p)?.cursor, slowEvent, `${p} committed its cursor`);

    // Replay: callbacks see replay: true, cursors stay.
    const store = await openSqliteState(join(h.dir, 'state.db'));
    const cursorsBefore = (await store.loadPlugins()).map((p) => [p.id, p.lastEventId]);
    await store.close();
    const from = ipEvent - 2;
    const replay = await runCli(['replay', '-c', yaml, '--from', String(from), '--to', String(newest), '--plugin', 'rec'], h.childEnv());
    assert.equal(replay.code, 0, replay.stderr);
    const replayed = (await lines(h)).filter((x) => x.endsWith(' true'));
    assert.deepEqual(replayed.map((x) => x.split(' ')[0]), replayed.map(() => 'rec'), 'only the named plugin');
    assert.deepEqual(replayed.map((x) => Number(x.split(' ')[1])), Array.from({ length: newest - from }, (_, i) => from + 1 + i));
    const store2 = await openSqliteState(join(h.dir, 'state.db'));
    assert.deepEqual((await store2.loadPlugins()).map((p) => [p.id, p.lastEventId]), cursorsBefore, 'cursors unchanged');
    await store2.close();
  });

  it('check: ok for a good setup, exit 1 naming a plugin that fails to import or a site that refuses the key', async (t) => {
    const h = daemonBed(t, await withSite(t));
    await plugin(h, 'rec', '');
    const yaml = h.writeYaml();
    const ok = await runCli(['check', '-c', yaml, '--no-toolkit'], h.childEnv());
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /^ok +plugin rec: /m);
    assert.match(ok.stdout, /^ok +site: /m);

    const broken = join(h.plugins, 'broken.mjs');
    await writeFile(broken, 'export function registerCallbacks(reg) {\n');
    await chmod(broken, 0o644);
    const bad = await runCli(['check', '-c', yaml, '--no-toolkit'], h.childEnv());
    assert.equal(bad.code, 1);
    assert.equal(bad.errorCode, 'CHECK_FAILED');
    assert.match(bad.stdout, /^FAIL plugin broken: PLUGIN_IMPORT_FAILED/m);
    assert.match(bad.stdout, /^ok +plugin rec: /m);

    await rm(broken);
    const wrongKey = await runCli(['check', '-c', yaml, '--no-toolkit'], { ...h.childEnv(), SGEVENTD_TEST_KEY: 'wrong-key' });
    assert.equal(wrongKey.code, 1);
    assert.equal(wrongKey.errorCode, 'CHECK_FAILED');
    assert.match(wrongKey.stdout, /^FAIL site: /m);
    assert.ok(!wrongKey.stdout.includes('wrong-key') && !wrongKey.stderr.includes('wrong-key'), 'the key is never printed');
  });

  it('the config path comes from $SGEVENTD_CONFIG when -c is absent; with neither, the error names both', async (t) => {
    const h = daemonBed(t, await withSite(t));
    await plugin(h, 'rec', '');
    const yaml = h.writeYaml();
    const fromEnv = await runCli(['check', '--no-toolkit'], { ...h.childEnv(), SGEVENTD_CONFIG: yaml });
    assert.equal(fromEnv.code, 0, fromEnv.stdout + fromEnv.stderr);
    assert.match(fromEnv.stdout, /^ok +plugin rec: /m);
    const env = { ...h.childEnv() };
    delete env.SGEVENTD_CONFIG;
    const neither = await runCli(['check', '--no-toolkit'], env);
    assert.notEqual(neither.code, 0);
    assert.match(neither.stderr, /--config/);
    assert.match(neither.stderr, /SGEVENTD_CONFIG/);
  });
});
