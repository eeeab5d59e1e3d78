// The plugin-host contract (src/hosts/contract.ts), run against both hosts:
// a JS/TS plugin in a worker thread and an unchanged shotgunEvents Python
// plugin in its own process. The two fixtures behave the same by event type.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { daemonDefaults } from '../../src/config/index.ts';
import { PythonPluginHost, WorkerPluginHost, type PluginHost, type ProcessResult } from '../../src/hosts/index.ts';
import { makeEvent, runAll, within } from './js/helpers.ts';
import { waitFor } from '../support/wait.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/hosts/', import.meta.url));

interface Options {
  stopOnError?: boolean;
  callbackTimeoutMs?: number;
  maxMemoryMb?: number;
  restartBudget?: { count: number; windowMs: number };
}

interface Made {
  host: PluginHost;
  /** Lines "<callback> <event id> <thread or process id>" written by the callbacks, in order. */
  runs: () => Promise<string[][]>;
}

const HOSTS: Record<'js' | 'python', (env: Record<string, string>, o: Required<Omit<Options, 'maxMemoryMb'>> & Options) => PluginHost> = {
  js: (env, o) => new WorkerPluginHost({
    file: join(FIXTURES, 'contract.ts'), folder: FIXTURES, name: 'contract', siteUrl: 'http://127.0.0.1:1', useSessionUuid: false,
    callbackTimeoutMs: o.callbackTimeoutMs, loadTimeoutMs: 30_000, restartBudget: o.restartBudget, logger: pino({ level: 'silent' }),
    env: { ...process.env, ...env }, ...(o.maxMemoryMb === undefined ? {} : { maxMemoryMb: o.maxMemoryMb, memorySampleMs: 50 }),
  }),
  python: (env, o) => new PythonPluginHost({
    file: join(FIXTURES, 'contract.py'), name: 'contract', siteUrl: 'http://127.0.0.1:1', useSessionUuid: false, python: 'python3',
    callbackTimeoutMs: o.callbackTimeoutMs, restartBudget: o.restartBudget, logger: pino({ level: 'silent' }),
    env: { ...process.env, ...env }, ...(o.maxMemoryMb === undefined ? {} : { maxMemoryMb: o.maxMemoryMb }),
  }),
};

async function start(t: TestContext, kind: 'js' | 'python', options: Options = {}): Promise<Made> {
  const dir = await mkdtemp(join(tmpdir(), `sgeventd-contract-${kind}-`));
  const log = join(dir, 'runs.txt');
  await writeFile(log, '');
  const host = HOSTS[kind]({ CONTRACT_LOG: log, CONTRACT_STOP: options.stopOnError === false ? '0' : '1' }, {
    stopOnError: true, callbackTimeoutMs: 20_000, restartBudget: daemonDefaults().restartBudget, ...options,
  });
  t.after(async () => {
    await host.close();
    await rm(dir, { recursive: true, force: true });
  });
  const loaded = await within(host.load(), 30_000, 'load');
  assert.ok(loaded.ok, JSON.stringify(loaded));
  return { host, runs: async () => (await readFile(log, 'utf8')).split('\n').filter(Boolean).map((l) => l.split(' ')) };
}

const code = (r: ProcessResult | undefined): string | undefined => (r !== undefined && r.outcome !== 'ok' ? r.error.code : undefined);

for (const kind of ['js', 'python'] as const) {
  describe(`plugin-host contract: ${kind}`, () => {
    it('loads the callbacks in registration order, with their stopOnError; one batch in flight', async (t) => {
      const { host } = await start(t, kind, { stopOnError: false });
      assert.equal(host.kind, kind);
      assert.equal(host.capacity, 1);
      assert.deepEqual(host.callbacks.map((c) => [c.name, c.stopOnError]), [['record', false], ['after', false]]);
      assert.equal(host.matches(makeEvent(1, 'ok')), true);
    });

    it('runs a batch in order: one result per event, every callback of an event before the next event', async (t) => {
      const { host, runs } = await start(t, kind);
      const results = await within(runAll(host, [makeEvent(1, 'ok'), makeEvent(2, 'ok'), makeEvent(3, 'ok')]), 30_000, 'batch');
      assert.deepEqual(results.map((r) => r.outcome), ['ok', 'ok', 'ok']);
      assert.deepEqual(results.map((r) => r.results.map((c) => c.callback)), [['record', 'after'], ['record', 'after'], ['record', 'after']]);
      assert.deepEqual((await runs()).map(([cb, id]) => `${cb} ${id}`), ['record 1', 'after 1', 'record 2', 'after 2', 'record 3', 'after 3']);
    });

    it('stopOnError: a failing callback ends its event (deactivate) and the batch there; the next callback does not run', async (t) => {
      const { host, runs } = await start(t, kind);
      const results = await within(runAll(host, [makeEvent(1, 'ok'), makeEvent(2, 'boom'), makeEvent(3, 'ok')]), 30_000, 'batch');
      assert.deepEqual(results.map((r) => r.outcome), ['ok', 'deactivate']);
      const failed = results[1];
      assert.ok(failed?.outcome === 'deactivate');
      assert.equal(failed.callback, 'record');
      assert.deepEqual((await runs()).map(([cb, id]) => `${cb} ${id}`), ['record 1', 'after 1', 'record 2']);
    });

    it('stopOnError off: the failure is listed, the next callback runs, the event is ok', async (t) => {
      const { host, runs } = await start(t, kind, { stopOnError: false });
      const [result] = await within(runAll(host, [makeEvent(4, 'boom')]), 30_000, 'batch');
      assert.ok(result?.outcome === 'ok');
      assert.deepEqual(result.failures.map((f) => f.callback), ['record']);
      assert.deepEqual((await runs()).map(([cb, id]) => `${cb} ${id}`), ['record 4', 'after 4']);
    });

    it('a hanging callback times out (PLUGIN_CALLBACK_TIMEOUT); the events before keep their results; the next event runs afresh', async (t) => {
      const { host, runs } = await start(t, kind, { callbackTimeoutMs: 1500 });
      const results = await within(runAll(host, [makeEvent(5, 'ok'), makeEvent(6, 'hang')]), 30_000, 'batch');
      assert.deepEqual(results.map((r) => r.outcome), ['ok', 'deactivate']);
      assert.equal(code(results[1]), 'PLUGIN_CALLBACK_TIMEOUT');
      const next = await within(host.process(makeEvent(7, 'ok')), 30_000, 'next');
      assert.equal(next.outcome, 'ok');
      const lines = await runs();
      const ran = (id: string): string | undefined => lines.find(([cb, e]) => cb === 'record' && e === id)?.[2];
      assert.notEqual(ran('7'), ran('6'), 'a fresh thread or process after the timeout');
    });

    it('a thread or process that dies in a callback: PLUGIN_WORKER_DIED under its stopOnError; the next event runs afresh', async (t) => {
      const { host } = await start(t, kind);
      const [dead] = await within(runAll(host, [makeEvent(8, 'exit')]), 30_000, 'batch');
      assert.equal(dead?.outcome, 'deactivate');
      assert.equal(code(dead), 'PLUGIN_WORKER_DIED');
      assert.equal((await within(host.process(makeEvent(9, 'ok')), 30_000, 'next')).outcome, 'ok');
    });

    it('cancel(eventId) cuts off the running event: aborted (PLUGIN_CALLBACK_CANCELLED), nothing decided; other ids are ignored; the host goes on', async (t) => {
      const { host, runs } = await start(t, kind, { callbackTimeoutMs: 60_000 });
      const running = runAll(host, [makeEvent(10, 'ok'), makeEvent(11, 'hang')]);
      await waitFor(async () => (await runs()).some(([cb, id]) => cb === 'record' && id === '11'), 'event 11 running');
      host.cancel(999);
      host.cancel(11);
      const results = await within(running, 30_000, 'cancelled batch');
      assert.deepEqual(results.map((r) => r.outcome), ['ok', 'aborted']);
      assert.equal(code(results[1]), 'PLUGIN_CALLBACK_CANCELLED');
      assert.equal((await within(host.process(makeEvent(12, 'ok')), 30_000, 'next')).outcome, 'ok');
    });

    it('close() while an event runs: it ends aborted; close is idempotent', async (t) => {
      const { host, runs } = await start(t, kind, { callbackTimeoutMs: 60_000 });
      const running = host.process(makeEvent(13, 'hang'));
      await waitFor(async () => (await runs()).some(([, id]) => id === '13'), 'event 13 running');
      await host.close();
      await host.close();
      assert.equal((await within(running, 30_000, 'aborted')).outcome, 'aborted');
    });

    it('the restart budget: lost more often than daemon.restartBudget allows → PLUGIN_RESTART_BUDGET until the next load', async (t) => {
      const { host } = await start(t, kind, { restartBudget: { count: 1, windowMs: 600_000 } });
      const codes: (string | undefined)[] = [];
      for (let id = 20; id < 23; id++) codes.push(code(await within(host.process(makeEvent(id, 'exit')), 30_000, `event ${id}`)));
      assert.deepEqual(codes, ['PLUGIN_WORKER_DIED', 'PLUGIN_WORKER_DIED', 'PLUGIN_RESTART_BUDGET']);
      assert.ok((await within(host.load(), 30_000, 'reload')).ok);
      assert.equal((await within(host.process(makeEvent(23, 'ok')), 30_000, 'after reload')).outcome, 'ok');
    });

    it('the memory limit: a plugin that allocates without bound is ended with PLUGIN_MEMORY_LIMIT; the next event runs afresh', async (t) => {
      const { host } = await start(t, kind, { maxMemoryMb: 96, callbackTimeoutMs: 60_000 });
      const [result] = await within(runAll(host, [makeEvent(30, 'hog')]), 60_000, 'hog');
      assert.equal(result?.outcome, 'deactivate', JSON.stringify(result));
      assert.equal(code(result), 'PLUGIN_MEMORY_LIMIT');
      assert.equal((await within(host.process(makeEvent(31, 'ok')), 30_000, 'next')).outcome, 'ok');
    });
  });
}
