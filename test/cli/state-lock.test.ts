import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { openSqliteState } from '../../src/state/index.ts';
import { addPlugin, makeHarness, waitFor } from '../dispatch/harness.ts';
import { childEnv, spawnDaemon, writeYaml } from '../dispatch/child.ts';
import { runCli } from './run-cli.ts';

describe('one daemon per state file', () => {
  it('a second daemon on the same state file (another pid file) exits with STATE_LOCKED naming the first; status and dlq ls still work', async () => {
    const h = await makeHarness();
    after(() => h.close());
    await addPlugin(h, 'recorder.mjs');
    const yaml = await writeYaml(h);
    const first = spawnDaemon(h, yaml);
    after(() => first.kill9());
    const state = await waitFor('the first daemon to create its state rows', async () => {
      try {
        const s = await openSqliteState(join(h.dir, 'state.db'), { mustExist: true });
        const n = (await s.loadPlugins()).length;
        await s.close();
        return n > 0;
      } catch {
        return false;
      }
    });
    assert.ok(state);

    const secondYaml = join(h.dir, 'second.yaml');
    await writeFile(secondYaml, (await readFile(yaml, 'utf8')).replace(join(h.dir, 'sgeventd.pid'), join(h.dir, 'second.pid')));
    const second = spawnDaemon(h, secondYaml);
    after(() => second.kill9());
    const exited = once(second.child, 'exit');
    await waitFor('the second daemon to exit', () => second.child.exitCode !== null || undefined, 30_000);
    const [code] = (await exited) as [number | null];
    assert.notEqual(code, 0);
    const out = second.output();
    assert.match(out, /\[STATE_LOCKED\]\s*$/);
    assert.ok(out.includes(`pid ${first.child.pid}`) && out.includes(hostname()), out);

    const status = await runCli(['status', '-c', yaml, '--json'], childEnv(h));
    assert.equal(status.code, 0, status.stderr);
    const dlq = await runCli(['dlq', 'ls', '-c', yaml, '--json'], childEnv(h));
    assert.equal(dlq.code, 0, dlq.stderr);
    assert.equal(await first.stop(), 0);
  });
});
