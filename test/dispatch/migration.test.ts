import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../cli/run-cli.ts';
import { makeHarness, addPlugin, waitFor, bulkEvents } from './harness.ts';
import { spawnDaemon, idsByPlugin, type DaemonChild } from './child.ts';

const CONF = `[daemon]
pidFile: %(SGE_ROOT)s/run/shotgunEventDaemon.pid
eventIdFile: %(SGE_ROOT)s/run/shotgunEventDaemon.id
logMode: 0
logPath: %(SGE_ROOT)s/logs
logFile: shotgunEventDaemon
logging: 30
fetch_interval: 1

[shotgun]
server: %(SG_ED_SITE_URL)s
name: %(SG_ED_SCRIPT_NAME)s
key: %(SG_ED_API_KEY)s

[plugins]
paths: %(SGE_ROOT)s/plugins

[emails]
enabled: False
`;

// shotgunEvents' _saveEventIdData: {plugin path: {plugin name: (last id, {backlog id: naive local expiry})}}.
const MAKE_PICKLE = `
import datetime, pickle, sys, json
folder, out, cursor, backlog = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
exp = datetime.datetime.now() + datetime.timedelta(days=1)
with open(out, "wb") as fh:
    pickle.dump({folder: {"legacy": (cursor, dict((i, exp) for i in backlog))}}, fh, protocol=pickle.HIGHEST_PROTOCOL)
`;

describe('migration from shotgunEvents', () => {
  it('a conf with %(VAR)s interpolation and a pickled id file with a backlog: after `sgeventd migrate` the daemon neither replays nor skips', async () => {
    const h = await makeHarness({ seed: 'demo', scripts: [{ name: 'sgeventd', key: 'sgeventd-key' }, { name: 'legacy', key: 'legacy-plugin-key' }] });
    let d: DaemonChild | null = null;
    try {
      await addPlugin(h, 'legacy.py');
      await mkdir(join(h.dir, 'run'));
      const ids = bulkEvents(h.site, 40);
      const cursor = ids[24]!;
      const backlog = [ids[17]!, ids[21]!];
      const last = ids.at(-1)!;
      execFileSync('python3', ['-c', MAKE_PICKLE, h.plugins, join(h.dir, 'run', 'shotgunEventDaemon.id'), String(cursor), JSON.stringify(backlog)]);
      const conf = join(h.dir, 'shotgunEventDaemon.conf');
      await writeFile(conf, CONF);
      const env = {
        PATH: process.env['PATH'], HOME: h.dir, SGE_ROOT: h.dir, SG_ED_SITE_URL: h.site.url, SG_ED_SCRIPT_NAME: 'sgeventd', SG_ED_API_KEY: 'sgeventd-key',
        SGEVENTD_TEST_RECORD: h.record, LEGACY_SCRIPT_NAME: 'legacy', LEGACY_SCRIPT_KEY: 'legacy-plugin-key',
      };
      const m = await runCli(['migrate', '--from-shotgunevents', conf], env);
      assert.equal(m.code, 0, m.stderr);
      assert.match(m.stdout, /1 plugins? seeded/);

      d = spawnDaemon(h, conf, [], env, join(h.dir, 'run', 'shotgunEventDaemon.pid'));
      const child = d;
      await waitFor('the plugin to reach the newest event and the backlog ids', async () => {
        if (child.child.exitCode !== null) throw new Error(`daemon exited: ${child.output()}`);
        const seen = idsByPlugin(await h.records()).get('legacy') ?? [];
        return seen.includes(last) && backlog.every((b) => seen.includes(b));
      }, 60_000);
      assert.equal(await d.stop(), 0, d.output());
      d = null;
      const seen = idsByPlugin(await h.records()).get('legacy') ?? [];
      const live = seen.filter((id) => !backlog.includes(id));
      assert.deepEqual(live, ids.filter((id) => id > cursor), 'exactly the events after the migrated cursor, in order: no replay, no skip');
      assert.deepEqual(seen.filter((id) => backlog.includes(id)).sort((a, b) => a - b), backlog, 'each backlog id looked up and delivered once');
      assert.ok(!seen.some((id) => id <= cursor && !backlog.includes(id)), 'nothing at or before the cursor except the backlog');
    } finally {
      await d?.kill9();
      await h.close();
    }
  });
});
