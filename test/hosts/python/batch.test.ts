import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { daemonDefaults } from '../../../src/config/index.ts';
import { PythonPluginHost } from '../../../src/hosts/index.ts';
import type { ProcessResult } from '../../../src/hosts/index.ts';
import { makeEvent, runAll, within } from '../js/helpers.ts';
import { FIXTURES } from '../../dispatch/harness.ts';

const OPTIONS = { attempt: 1, replay: false };

async function start(t: TestContext, env: Record<string, string> = {}, callbackTimeoutMs = 20_000): Promise<{ host: PythonPluginHost; runs: () => Promise<string[][]> }> {
  const dir = await mkdtemp(join(tmpdir(), 'sgeventd-pybatch-'));
  const log = join(dir, 'runs.txt');
  await writeFile(log, '');
  const host = new PythonPluginHost({
    file: join(FIXTURES, 'py_batch.py'), name: 'py_batch', siteUrl: 'http://127.0.0.1:1', useSessionUuid: false,
    python: 'python3', callbackTimeoutMs, restartBudget: daemonDefaults().restartBudget, logger: pino({ level: 'silent' }),
    env: { ...process.env, PY_BATCH_LOG: log, ...env },
  });
  t.after(async () => {
    await host.close();
    await rm(dir, { recursive: true, force: true });
  });
  const loaded = await within(host.load(), 30_000, 'load');
  assert.ok(loaded.ok, JSON.stringify(loaded));
  return { host, runs: async () => (await readFile(log, 'utf8')).split('\n').filter(Boolean).map((l) => l.split(' ')) };
}

const events = (first: number, ...types: string[]) => types.map((type, i) => makeEvent(first + i, type));
const outcomes = (rs: ProcessResult[]) => rs.map((r) => (r.outcome === 'ok' && r.failures.length > 0 ? 'ok+failures' : r.outcome));

describe('Python plugins take events in batches', () => {
  it('runs a batch in one process, in order, each event once, with its callbacks timed', async (t) => {
    const { host, runs } = await start(t);
    const rs = await within(runAll(host, events(10, 'fine', 'fine', 'fine', 'fine'), OPTIONS), 30_000, 'batch');
    assert.deepEqual(outcomes(rs), ['ok', 'ok', 'ok', 'ok']);
    for (const r of rs) assert.deepEqual(r.results.map((x) => x.callback), ['record', 'after']);
    const lines = await runs();
    assert.deepEqual(lines.map((l) => `${l[0]} ${l[1]}`), [10, 11, 12, 13].flatMap((id) => [`record ${id}`, `after ${id}`]));
    assert.equal(new Set(lines.map((l) => l[2])).size, 1, 'one process');
  });

  it('stops at a stopOnError failure: later events of the batch do not run', async (t) => {
    const { host, runs } = await start(t);
    const rs = await within(runAll(host, events(20, 'fine', 'boom', 'fine'), OPTIONS), 30_000, 'batch');
    assert.deepEqual(outcomes(rs), ['ok', 'deactivate']);
    const last = rs[1];
    assert.ok(last?.outcome === 'deactivate' && last.callback === 'record' && last.error.code === 'PLUGIN_CALLBACK_ERROR');
    assert.deepEqual((await runs()).map((l) => `${l[0]} ${l[1]}`), ['record 20', 'after 20', 'record 21']);
  });

  it('with stopOnError false the failing event finishes its callbacks and ends the batch', async (t) => {
    const { host, runs } = await start(t, { PY_STOP: '0' });
    const rs = await within(runAll(host, events(30, 'boom', 'fine'), OPTIONS), 30_000, 'batch');
    assert.deepEqual(outcomes(rs), ['ok+failures']);
    assert.deepEqual(rs[0]?.failures.map((f) => f.callback), ['record']);
    assert.deepEqual((await runs()).map((l) => `${l[0]} ${l[1]}`), ['record 30', 'after 30']);
  });

  it('a hanging event times out alone: the events before it keep their results, and the next batch runs in a new process', async (t) => {
    const { host, runs } = await start(t, {}, 1500);
    const rs = await within(runAll(host, events(40, 'fine', 'fine', 'hang', 'fine'), OPTIONS), 30_000, 'batch');
    assert.deepEqual(outcomes(rs), ['ok', 'ok', 'deactivate']);
    const cut = rs[2];
    assert.ok(cut?.outcome === 'deactivate' && cut.error.code === 'PLUGIN_CALLBACK_TIMEOUT', JSON.stringify(cut));
    assert.deepEqual(rs[0]?.results.map((x) => x.callback), ['record', 'after']);
    const again = await within(runAll(host, events(44, 'fine', 'fine'), OPTIONS), 30_000, 'next batch');
    assert.deepEqual(outcomes(again), ['ok', 'ok']);
    const pids = new Map((await runs()).map((l) => [Number(l[1]), l[2]]));
    assert.notEqual(pids.get(44), pids.get(40), 'a new process after the timeout');
  });

  it('a process that dies mid-batch fails only the event it was in', async (t) => {
    const { host } = await start(t);
    const rs = await within(runAll(host, events(50, 'fine', 'exit', 'fine'), OPTIONS), 30_000, 'batch');
    assert.deepEqual(outcomes(rs), ['ok', 'deactivate']);
    const cut = rs[1];
    assert.ok(cut?.outcome === 'deactivate' && cut.error.code === 'PLUGIN_WORKER_DIED', JSON.stringify(cut));
  });

  it('ends a batch after its time budget; sending the rest again handles every event once, in order', async (t) => {
    const { host, runs } = await start(t);
    let pending = events(60, 'slow', 'slow', 'slow', 'slow', 'slow', 'slow');
    const first = await within(host.processBatch(pending, OPTIONS), 30_000, 'batch');
    assert.ok(first.length >= 1 && first.length < pending.length, `a 50 ms budget stops before ${pending.length} events of 20 ms (got ${first.length})`);
    pending = pending.slice(first.length);
    for (let round = 0; round < 10 && pending.length > 0; round++) {
      const rs = await within(host.processBatch(pending, OPTIONS), 30_000, 'rest');
      assert.ok(rs.length >= 1 && rs.every((r) => r.outcome === 'ok'));
      pending = pending.slice(rs.length);
    }
    assert.equal(pending.length, 0);
    assert.deepEqual((await runs()).filter((l) => l[0] === 'record').map((l) => Number(l[1])), [60, 61, 62, 63, 64, 65]);
  });
});
