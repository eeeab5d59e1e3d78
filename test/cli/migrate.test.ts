import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteState, pluginId } from '../../src/state/index.ts';
import { onCleanup, runCli } from '../support/index.ts';

const CONF = `[daemon]
pidFile: %(SGE_ROOT)s/run/shotgunEventDaemon.pid
eventIdFile: %(SGE_ROOT)s/run/%(ID_FILE_NAME)s
logMode: 1
logPath: %(SGE_ROOT)s/logs
logFile: shotgunEventDaemon
logging: 20

[shotgun]
server: %(SG_ED_SITE_URL)s
name: %(SG_ED_SCRIPT_NAME)s
key: %(SG_ED_API_KEY)s
use_session_uuid: False

[plugins]
paths: %(SGE_ROOT)s/plugins, %(SGE_ROOT)s/moved,%(SGE_ROOT)s/intfolder

[emails]
enabled: False
`;

// Written the way shotgunEvents' _saveEventIdData writes it: naive local datetimes.
const MAKE_PICKLE = `
import datetime, pickle, sys
root, out = sys.argv[1], sys.argv[2]
exp = datetime.datetime(2030, 1, 1, 12, 0, 0)
data = {
    root + "/plugins": {"alpha": (100, {98: exp, 99: exp + datetime.timedelta(seconds=30)}), "beta": (None, {})},
    root + "/old-location": {"gamma": (77, {})},
    root + "/intfolder": 55,
    "/gone": {"zeta": (5, {})},
}
with open(out, "wb") as fh:
    pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
`;

describe('sgeventd migrate --from-shotgunevents', () => {
  let root: string;
  let env: NodeJS.ProcessEnv;
  const conf = () => join(root, 'shotgunEventDaemon.conf');
  const state = () => join(root, 'run', 'sgeventd.db');

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'sgeventd-migrate-'));
    for (const [folder, files] of [['plugins', ['alpha.py', 'beta.py', '.hidden.py']], ['moved', ['gamma.py', 'delta.py']], ['intfolder', ['epsilon.py', 'notes.txt']], ['run', []]] as const) {
      await mkdir(join(root, folder), { recursive: true });
      for (const f of files) await writeFile(join(root, folder, f), 'def registerCallbacks(reg):\n    pass\n');
    }
    await writeFile(conf(), CONF);
    env = {
      PATH: process.env.PATH, HOME: root, TZ: 'America/New_York', SGE_ROOT: root, ID_FILE_NAME: 'shotgunEventDaemon.id',
      SG_ED_SITE_URL: 'https://studio.example.com', SG_ED_SCRIPT_NAME: 'eventDaemon', SG_ED_API_KEY: 'secret-key-0123',
    };
    execFileSync('python3', ['-c', MAKE_PICKLE, root, join(root, 'run', 'shotgunEventDaemon.id')]);
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('seeds cursors and backlogs per plugin folder and name, then refuses to overwrite without --force', async (t) => {
    const r = await runCli(['migrate', '--from-shotgunevents', conf()], env);
    assert.equal(r.code, 0, r.stderr);
    const store = await openSqliteState(state());
    try {
      assert.equal(await store.boundSite(), 'https://studio.example.com');
      const plugins = new Map((await store.loadPlugins()).map((p) => [p.id, p]));
      const id = (folder: string, name: string) => pluginId({ folder: join(root, folder), name });
      // Noon on 2030-01-01 in New York is 17:00 UTC.
      const expiry = Date.UTC(2030, 0, 1, 17, 0, 0);
      assert.deepEqual(plugins.get(id('plugins', 'alpha'))?.backlog, [{ eventId: 98, expiresAt: expiry }, { eventId: 99, expiresAt: expiry + 30_000 }]);
      assert.equal(plugins.get(id('plugins', 'alpha'))?.lastEventId, 100);
      assert.equal(plugins.get(id('moved', 'gamma'))?.lastEventId, 77, 'moved folder: cursor found by plugin name');
      assert.equal(plugins.get(id('intfolder', 'epsilon'))?.lastEventId, 55, 'one id for the whole folder');
      assert.deepEqual([...plugins.keys()].sort(), [id('intfolder', 'epsilon'), id('moved', 'gamma'), id('plugins', 'alpha')].sort());
      assert.ok([...plugins.values()].every((p) => p.active && p.lastError === null));
    } finally {
      await store.close();
    }
    assert.match(r.stdout, /3 plugins seeded/);
    assert.ok(r.stdout.includes(`ignored /gone`));
    assert.ok(r.stdout.includes(`no cursor for ${join(root, 'moved', 'delta')}`));

    const again = await runCli(['migrate', '--from-shotgunevents', conf()], env);
    assert.equal(again.code, 1);
    assert.equal(again.errorCode, 'MIGRATE_WOULD_OVERWRITE');

    const forced = await runCli(['migrate', '--from-shotgunevents', conf(), '--force'], env);
    assert.equal(forced.code, 0, forced.stderr);
    const after = await openSqliteState(state());
    onCleanup(t, () => after.close());
    assert.equal((await after.getPlugin(pluginId({ folder: join(root, 'plugins'), name: 'alpha' })))?.backlog.length, 2);
  });

  it('accepts the old single-integer file for every plugin, into --state', async (t) => {
    await writeFile(join(root, 'run', 'old.id'), '4242\n');
    const target = join(root, 'elsewhere', 'state.db');
    const r = await runCli(['migrate', '--from-shotgunevents', conf(), '--state', target], { ...env, ID_FILE_NAME: 'old.id' });
    assert.equal(r.code, 0, r.stderr);
    const store = await openSqliteState(target);
    onCleanup(t, () => store.close());
    const plugins = await store.loadPlugins();
    assert.deepEqual(plugins.map((p) => p.name).sort(), ['alpha', 'beta', 'delta', 'epsilon', 'gamma']);
    assert.ok(plugins.every((p) => p.lastEventId === 4242 && p.backlog.length === 0));
  });

  it('fails clearly on an empty or missing event id file, writing nothing', async () => {
    await writeFile(join(root, 'run', 'empty.id'), '');
    const target = join(root, 'none', 'state.db');
    const empty = await runCli(['migrate', '--from-shotgunevents', conf(), '--state', target], { ...env, ID_FILE_NAME: 'empty.id' });
    assert.equal(empty.code, 1);
    assert.equal(empty.errorCode, 'LEGACY_STATE_EMPTY');
    const missing = await runCli(['migrate', '--from-shotgunevents', conf(), '--state', target], { ...env, ID_FILE_NAME: 'missing.id' });
    assert.equal(missing.code, 1);
    assert.equal(missing.errorCode, 'LEGACY_STATE_MISSING');
    assert.equal(existsSync(target), false);
  });
});
