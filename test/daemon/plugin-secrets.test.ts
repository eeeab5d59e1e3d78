import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { addPlugin, makeHarness, runDaemon, waitFor } from '../dispatch/harness.ts';

const TOKEN = 'status-token-for-tests';
const SMTP = 'smtp-password-for-tests';
const KEY = 'sgeventd-key';

describe('plugins never receive the daemon\'s own secrets', () => {
  it('Python plugin processes and JS plugin threads get the studio environment without the script key, status token or SMTP password', async () => {
    const h = await makeHarness();
    after(() => h.close());
    await addPlugin(h, 'env_probe.py');
    await addPlugin(h, 'env-probe.mjs');
    const vars = { DAEMON_SCRIPT_KEY: KEY, DAEMON_TOKEN: TOKEN, DAEMON_SMTP: `smtp://u:${SMTP}@mail`, STUDIO_SETTING: 'kept' };
    Object.assign(process.env, vars);
    after(() => { for (const k of Object.keys(vars)) delete process.env[k]; });
    const daemon = await runDaemon(h.config({ http: { enabled: false, token: TOKEN }, emails: { username: 'u', password: SMTP } }));
    after(() => daemon.stop());
    for (const kind of ['py', 'js']) {
      const file = `${h.record}.${kind}-env.json`;
      await waitFor(`the ${kind} plugin to write what it sees`, () => existsSync(file));
      const seen = await waitFor(`the ${kind} probe to be complete`, () => {
        try {
          return JSON.parse(readFileSync(file, 'utf8')) as { env: Record<string, string> };
        } catch {
          return undefined;
        }
      });
      assert.equal(seen.env['STUDIO_SETTING'], 'kept', kind);
      const text = JSON.stringify(seen);
      for (const secret of [KEY, TOKEN, SMTP]) assert.ok(!text.includes(secret), `${kind} plugin sees ${secret}`);
    }
  });
});
