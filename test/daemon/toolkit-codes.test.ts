import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { toolkitRequestHandler } from '../../src/daemon/toolkit-requests.ts';
import { Secret } from '../../src/shared/secret.ts';
import { RuntimePool } from '../../src/toolkit/pool.ts';
import { runtimePoolOptions } from '../../src/toolkit/options.ts';
import { writeStudio } from '../fixtures/toolkit/fake-cores.ts';
import { captureLogger, fixtureHost, makeEvent, within } from '../hosts/js/helpers.ts';
import { FIXTURES, PYTHON, tempDir } from '../toolkit/helpers.ts';

describe('Toolkit codes reach JS plugins', () => {
  it('a plugin catching a failed ctx.toolkit call sees the Toolkit code, not PLUGIN_CALLBACK_ERROR', async (t) => {
    const tmp = tempDir();
    t.after(() => tmp.cleanup());
    const studio = writeStudio(tmp.dir);
    const pool = new RuntimePool(runtimePoolOptions({
      python: PYTHON, studioCore: studio.studioCore, pythonPath: [path.join(FIXTURES, 'studio_py')], callTimeoutMs: 1500,
      projects: { 70: { mode: 'centralized', path: studio.alpha } },
    }), {
      site: { url: 'http://127.0.0.1:9', scriptName: 'sgeventd-test', scriptKey: new Secret('codes-test-key') },
      stateDir: path.join(tmp.dir, 'state'), env: { ...process.env, FAKE_STUDIO_ROOT: tmp.dir }, initTimeoutMs: 10_000, stopTimeoutMs: 2000,
    });
    t.after(() => pool.close());
    const { logger, records } = captureLogger();
    const host = fixtureHost(path.join(FIXTURES, 'tk_catcher.ts'), { logger, handleRequest: toolkitRequestHandler(() => pool) });
    t.after(() => host.close());
    assert.ok((await within(host.load(), 30_000, 'load')).ok);
    const result = await within(host.process(makeEvent(1, 'x')), 30_000, 'process');
    assert.equal(result.outcome, 'ok', JSON.stringify(result));
    const caught = records.filter((r) => r.msg === 'caught').map((r) => [r.what, r.code, r.type, r.isError]);
    assert.deepEqual(caught, [['python', 'TK_PYTHON_ERROR', 'tank.TankError', true], ['timeout', 'TK_CALL_TIMEOUT', undefined, true]]);
  });
});
