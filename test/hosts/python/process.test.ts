import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { pino } from 'pino';
import { daemonDefaults } from '../../../src/config/index.ts';
import { PythonPluginHost } from '../../../src/hosts/index.ts';
import { makeEvent, within } from '../js/helpers.ts';
import { FIXTURES, PYTHON, running } from '../../toolkit/helpers.ts';

const OPTIONS = { attempt: 1, replay: false };

async function host(t: TestContext, env: Record<string, string>): Promise<PythonPluginHost> {
  const h = new PythonPluginHost({
    file: path.join(FIXTURES, 'py_grows.py'), name: 'py_grows', siteUrl: 'http://127.0.0.1:1', useSessionUuid: false,
    python: PYTHON, callbackTimeoutMs: 60_000, maxMemoryMb: 100, restartBudget: daemonDefaults().restartBudget, logger: pino({ level: 'silent' }),
    env: { ...process.env, ...env },
  });
  t.after(() => h.close());
  const loaded = await within(h.load(), 30_000, 'load');
  assert.ok(loaded.ok, JSON.stringify(loaded));
  return h;
}

describe('Python plugin processes: maxMemoryMb', { skip: process.platform !== 'linux' && 'RSS is sampled from /proc on Linux only' }, () => {
  it('kills a process that allocates without bound; the event fails under stopOnError (true) and the next runs in a new process', async (t) => {
    const h = await host(t, {});
    const first = h.pid;
    const [r] = await within(h.processBatch([makeEvent(1, 'grow'), makeEvent(2, 'fine')], OPTIONS), 60_000, 'the memory kill');
    assert.ok(r?.outcome === 'deactivate' && r.error.code === 'PLUGIN_MEMORY_LIMIT', JSON.stringify(r));
    assert.equal(r.callback, 'grow');
    assert.equal(running(first), false);
    const [next] = await within(h.processBatch([makeEvent(2, 'fine')], OPTIONS), 30_000, 'the next event');
    assert.equal(next?.outcome, 'ok');
    assert.notEqual(h.pid, first);
  });

  it('with stopOnError false the event records the failure and the plugin carries on', async (t) => {
    const h = await host(t, { PY_STOP: '0' });
    const [r] = await within(h.processBatch([makeEvent(3, 'grow')], OPTIONS), 60_000, 'the memory kill');
    assert.ok(r?.outcome === 'ok', JSON.stringify(r));
    assert.deepEqual(r.failures.map((f) => [f.callback, f.error.code]), [['grow', 'PLUGIN_MEMORY_LIMIT']]);
    const [next] = await within(h.processBatch([makeEvent(4, 'fine')], OPTIONS), 30_000, 'the next event');
    assert.equal(next?.outcome, 'ok');
  });
});
