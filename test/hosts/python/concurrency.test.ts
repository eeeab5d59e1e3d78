// Concurrent Python plugins: workers forked from the loaded plugin process,
// against real Python processes and the local site over HTTP.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { ConfigValidationError, daemonDefaults, parseConfig } from '../../../src/config/index.ts';
import { PythonPluginHost, PythonProcessBudget, type ProcessResult } from '../../../src/hosts/index.ts';
import type { ConcurrencyOption } from '../../../src/config/index.ts';
import { tempDir, waitFor, withSite, within } from '../../support/index.ts';
import { makeEvent } from '../js/helpers.ts';
import { PYTHON, running } from '../../toolkit/helpers.ts';

const FIXTURES = path.join(import.meta.dirname, '..', '..', 'fixtures', 'hosts');
/** A minimal shotgun_api3 (a keep-alive connection per Shotgun object), for machines without the official one. */
const API3 = path.join(FIXTURES, 'api3');

interface Rec {
  what: 'start' | 'end';
  project: string;
  id: number;
  pid: number;
  count: number;
  sgId: number;
  port: number;
  extra: string;
}

interface Bed {
  host: PythonPluginHost;
  records: () => Promise<Rec[]>;
  dir: string;
}

async function bed(t: TestContext, o: {
  file?: string; env?: Record<string, string>; callbackTimeoutMs?: number; concurrency?: ConcurrencyOption; budget?: PythonProcessBudget; idleMs?: number;
  restartBudget?: { count: number; windowMs: number }; maxMemoryMb?: number;
} = {}): Promise<Bed> {
  const site = await withSite(t);
  const dir = tempDir(t, 'sgeventd-pyconc-');
  const log = path.join(dir, 'records.txt');
  const meet = path.join(dir, 'meet');
  await mkdir(meet);
  await writeFile(log, '');
  const host = new PythonPluginHost({
    file: path.join(FIXTURES, o.file ?? 'py_concurrent.py'), name: 'py_concurrent', siteUrl: site.url, useSessionUuid: false,
    python: PYTHON, callbackTimeoutMs: o.callbackTimeoutMs ?? 30_000, restartBudget: o.restartBudget ?? daemonDefaults().restartBudget, logger: pino({ level: 'silent' }),
    ...(o.maxMemoryMb === undefined ? {} : { maxMemoryMb: o.maxMemoryMb }),
    env: { ...process.env, PYTHONPATH: API3, PY_CONC_LOG: log, PY_CONC_DIR: meet, ...o.env },
    ...(o.concurrency ? { concurrency: o.concurrency } : {}),
    ...(o.budget ? { processBudget: o.budget } : {}),
    workerIdleMs: o.idleMs ?? 60_000,
  });
  t.after(() => host.close());
  const records = async (): Promise<Rec[]> => (await readFile(log, 'utf8')).split('\n').filter(Boolean).map((l) => {
    const [what, project, id, pid, count, sgId, port, extra] = l.split(' ');
    return { what: what as Rec["what"], project: project ?? '', id: Number(id), pid: Number(pid), count: Number(count), sgId: Number(sgId), port: Number(port), extra: extra ?? '' };
  });
  return { host, records, dir };
}

const OPTIONS = { attempt: 1, replay: false };
const inProject = (id: number, type: string, project: number) => makeEvent(id, type, null, { project: { type: 'Project', id: project } });
const run = (h: PythonPluginHost, id: number, type: string, project: number): Promise<ProcessResult> =>
  h.process(inProject(id, type, project), { ...OPTIONS, key: `project:${project}` });

/** Most callbacks running at once, from the order of the plugin's own start/end lines. */
function mostAtOnce(records: Rec[]): number {
  let now = 0;
  let most = 0;
  for (const r of records) {
    now += r.what === 'start' ? 1 : -1;
    most = Math.max(most, now);
  }
  return most;
}

describe('python config section', () => {
  const site = { url: 'http://127.0.0.1:9', script: { name: 'sgeventd', key: 'k' } };
  it('has defaults, and refuses a bad maxProcesses naming the option', () => {
    const config = parseConfig({ site }, { source: 'test', env: {} });
    assert.ok(config.python.maxProcesses >= 1 && config.python.workerIdleMs >= 1000);
    assert.throws(() => parseConfig({ site, python: { maxProcesses: 0 } }, { source: 'test', env: {} }), (err: unknown) => {
      assert.ok(err instanceof ConfigValidationError);
      assert.ok(err.issues.some((i) => i.key === 'python.maxProcesses'), JSON.stringify(err.issues));
      return true;
    });
  });
});

describe('Python plugins with SGEVENTD_CONCURRENCY', () => {
  it('runs events of different keys at once, each in its own forked worker with its own sg connection', async (t) => {
    const { host, records } = await bed(t, { env: { PY_CONC_MEET: '3' } });
    const loaded = await within(host.load(), 30_000, 'load');
    assert.ok(loaded.ok, JSON.stringify(loaded));
    assert.deepEqual(loaded.concurrency, { by: 'project', max: 4 });
    assert.equal(host.capacity, 4);
    const rs = await within(Promise.all([run(host, 1, 'meet', 11), run(host, 2, 'meet', 12), run(host, 3, 'meet', 13)]), 60_000, 'three meeting events');
    assert.deepEqual(rs.map((r) => r.outcome), ['ok', 'ok', 'ok']);
    const ends = (await records()).filter((r) => r.what === 'end');
    // Each waited for the other two to arrive: they ran at the same time.
    assert.deepEqual(ends.map((r) => r.extra), ['met', 'met', 'met']);
    const pids = new Set(ends.map((r) => r.pid));
    assert.equal(pids.size, 3, 'three worker processes');
    assert.ok(!pids.has(host.pid ?? -1), 'the plugin process itself only forks');
    // Each worker talks to the site on its own TCP connection.
    assert.equal(new Set(ends.map((r) => r.port)).size, 3, JSON.stringify(ends));
    assert.ok(ends.every((r) => r.port > 0));
    assert.deepEqual([...pids].sort(), [...host.workerPids].sort());
  });

  it('keeps module state per process: a key runs on one worker while it has events there, and each worker counts its own', async (t) => {
    const { host, records } = await bed(t);
    assert.ok((await within(host.load(), 30_000, 'load')).ok);
    // Two keys, each a run of events in order (the cursor hands out one per key at a time).
    const lane = async (project: number, ids: number[]): Promise<void> => {
      for (const id of ids) assert.equal((await run(host, id, 'fine', project)).outcome, 'ok');
    };
    await within(Promise.all([lane(21, [1, 3, 5, 7]), lane(22, [2, 4, 6, 8])]), 60_000, 'two lanes');
    const ends = (await records()).filter((r) => r.what === 'end');
    for (const project of ['21', '22']) {
      const mine = ends.filter((r) => r.project === project);
      assert.deepEqual(mine.map((r) => r.id), project === '21' ? [1, 3, 5, 7] : [2, 4, 6, 8], 'per-key order');
    }
    // Counts are per process: each pid's counts run 1, 2, 3... with no gap, whatever the keys.
    const byPid = new Map<number, number[]>();
    for (const r of ends) byPid.set(r.pid, [...(byPid.get(r.pid) ?? []), r.count]);
    for (const counts of byPid.values()) assert.deepEqual(counts, counts.map((_, i) => i + 1));
    assert.ok(byPid.size >= 1 && byPid.size <= 2, JSON.stringify([...byPid]));
  });

  it('sends a key to the worker that still has its events queued', async (t) => {
    const { host, records } = await bed(t, { env: { PY_CONC_MEET: '2' } });
    assert.ok((await within(host.load(), 30_000, 'load')).ok);
    // Project 31's first event waits for project 32's; its second is queued behind it meanwhile.
    const first = run(host, 1, 'meet', 31);
    const second = run(host, 2, 'fine', 31);
    const other = run(host, 3, 'meet', 32);
    const rs = await within(Promise.all([first, second, other]), 60_000, 'events');
    assert.deepEqual(rs.map((r) => r.outcome), ['ok', 'ok', 'ok']);
    const ends = (await records()).filter((r) => r.what === 'end');
    const p31 = ends.filter((r) => r.project === '31');
    assert.deepEqual(p31.map((r) => r.id), [1, 2]);
    assert.equal(p31[0]?.pid, p31[1]?.pid, 'both events of project 31 on one worker');
    assert.notEqual(ends.find((r) => r.project === '32')?.pid, p31[0]?.pid);
  });

  it('python.maxProcesses caps the workers of every plugin together', async (t) => {
    const budget = new PythonProcessBudget(2);
    const { host, records } = await bed(t, { env: { PY_CONC_MEET: '2' }, budget });
    assert.ok((await within(host.load(), 30_000, 'load')).ok);
    const rs = await within(Promise.all([1, 2, 3, 4].map((i) => run(host, i, 'meet', 40 + i))), 60_000, 'four keys');
    assert.deepEqual(rs.map((r) => r.outcome), ['ok', 'ok', 'ok', 'ok']);
    const all = await records();
    assert.equal(mostAtOnce(all), 2, 'two at once: the cap, and they did overlap');
    assert.ok(new Set(all.map((r) => r.pid)).size <= 2);
    assert.ok(budget.used <= 2);
    // A second plugin on the same budget still gets its first worker.
    const second = await bed(t, { budget });
    assert.ok((await within(second.host.load(), 30_000, 'second load')).ok);
    assert.equal((await run(second.host, 9, 'fine', 49)).outcome, 'ok');
    assert.equal(second.host.workerPids.length, 1);
  });

  it('ends idle workers beyond the first after workerIdleMs, giving their slots back', async (t) => {
    const budget = new PythonProcessBudget(4);
    const { host } = await bed(t, { env: { PY_CONC_MEET: '3' }, budget, idleMs: 200 });
    assert.ok((await within(host.load(), 30_000, 'load')).ok);
    const rs = await within(Promise.all([1, 2, 3].map((i) => run(host, i, 'meet', 80 + i))), 60_000, 'three keys');
    assert.deepEqual(rs.map((r) => r.outcome), ['ok', 'ok', 'ok']);
    await waitFor(() => host.workerPids.length === 1 && budget.used === 1, 'the extra workers to end');
    assert.equal((await run(host, 4, 'fine', 84)).outcome, 'ok');
  });

  it('a hanging callback kills only its worker after callbackTimeoutMs; other keys go on meanwhile', async (t) => {
    const { host, records } = await bed(t, { callbackTimeoutMs: 2000 });
    assert.ok((await within(host.load(), 30_000, 'load')).ok);
    let hungDone = false;
    const hung = run(host, 1, 'hang', 51).finally(() => { hungDone = true; });
    await waitFor(async () => (await records()).some((r) => r.id === 1 && r.what === 'start'), 'the hanging callback to start');
    const hungPid = (await records()).find((r) => r.id === 1)?.pid;
    for (const id of [2, 3, 4]) assert.equal((await run(host, id, 'fine', 52)).outcome, 'ok');
    assert.equal(hungDone, false, 'project 52 finished while project 51 still hung');
    const r = await within(hung, 30_000, 'the timeout');
    assert.ok(r.outcome === 'deactivate' && r.error.code === 'PLUGIN_CALLBACK_TIMEOUT', JSON.stringify(r));
    await waitFor(() => !running(hungPid), 'the hung worker to be gone');
    const others = (await records()).filter((x) => x.project === '52').map((x) => x.pid);
    assert.ok(others.every((p) => running(p)), 'the other worker lives on');
    assert.ok(running(host.pid), 'the plugin process lives on');
    // The key gets a new worker.
    assert.equal((await run(host, 5, 'fine', 51)).outcome, 'ok');
  });

  it('a worker that dies fails only its event (PLUGIN_WORKER_DIED); past daemon.restartBudget the plugin is deactivated', async (t) => {
    const { host, records } = await bed(t, { restartBudget: { count: 1, windowMs: 600_000 } });
    assert.ok((await within(host.load(), 30_000, 'load')).ok);
    const first = await within(run(host, 1, 'exit', 91), 30_000, 'the first crash');
    assert.ok(first.outcome === 'deactivate' && first.error.code === 'PLUGIN_WORKER_DIED', JSON.stringify(first));
    assert.equal((await run(host, 2, 'fine', 92)).outcome, 'ok', 'another key runs on');
    const second = await within(run(host, 3, 'exit', 93), 30_000, 'the second crash');
    assert.ok(second.outcome === 'deactivate' && second.error.code === 'PLUGIN_WORKER_DIED', JSON.stringify(second));
    const spent = await run(host, 4, 'fine', 94);
    assert.ok(spent.outcome === 'deactivate' && spent.error.code === 'PLUGIN_RESTART_BUDGET', JSON.stringify(spent));
    assert.ok(!(await records()).some((r) => r.id === 4));
    // A load resets the budget.
    assert.ok((await within(host.load(), 30_000, 'reload')).ok);
    assert.equal((await run(host, 5, 'fine', 94)).outcome, 'ok');
  });

  it('maxMemoryMb bounds each worker: one that grows is killed (PLUGIN_MEMORY_LIMIT), the others live on', { skip: process.platform !== 'linux' && 'RSS is sampled from /proc on Linux only' }, async (t) => {
    const { host, records } = await bed(t, { maxMemoryMb: 150 });
    assert.ok((await within(host.load(), 30_000, 'load')).ok);
    // Project 101's worker is busy (its callback hangs) while project 102's worker grows.
    const busy = run(host, 1, 'hang', 101);
    await waitFor(async () => (await records()).some((r) => r.id === 1), 'the busy callback to start');
    const steady = (await records()).find((r) => r.id === 1)?.pid;
    const r = await within(run(host, 2, 'grow', 102), 60_000, 'the memory kill');
    assert.ok(r.outcome === 'deactivate' && r.error.code === 'PLUGIN_MEMORY_LIMIT', JSON.stringify(r));
    const grew = (await records()).find((x) => x.id === 2)?.pid;
    assert.notEqual(grew, steady);
    await waitFor(() => !running(grew), 'the grown worker to be gone');
    assert.ok(running(steady), 'the other worker lives on');
    host.cancel(1);
    assert.equal((await within(busy, 30_000, 'the cancel')).outcome, 'aborted');
    assert.equal((await run(host, 3, 'fine', 101)).outcome, 'ok');
  });

  it('when the plugin process dies its workers exit by themselves, and the next event starts it again', async (t) => {
    const { host } = await bed(t);
    assert.ok((await within(host.load(), 30_000, 'load')).ok);
    assert.equal((await run(host, 1, 'fine', 111)).outcome, 'ok');
    const [worker] = host.workerPids;
    const plugin = host.pid;
    assert.ok(worker !== undefined && plugin !== undefined);
    process.kill(plugin, 'SIGKILL');
    await waitFor(() => !running(worker), 'the orphaned worker to exit');
    assert.equal((await within(run(host, 2, 'fine', 112), 30_000, 'the next event')).outcome, 'ok');
    assert.notEqual(host.pid, plugin);
    assert.equal(host.workerPids.length, 1);
  });

  it('cancel ends only the worker running the event (aborted); close ends every worker', async (t) => {
    const { host, records } = await bed(t);
    assert.ok((await within(host.load(), 30_000, 'load')).ok);
    const hung = run(host, 1, 'hang', 61);
    const other = run(host, 2, 'hang', 62);
    await waitFor(async () => (await records()).filter((r) => r.what === 'start').length === 2, 'both callbacks to start');
    // By event: the two workers may write their start lines in either order.
    const starts = (await records()).filter((r) => r.what === 'start');
    const pids = [starts.find((r) => r.id === 1)?.pid, starts.find((r) => r.id === 2)?.pid];
    host.cancel(1);
    const r = await within(hung, 30_000, 'the cancel');
    assert.equal(r.outcome, 'aborted');
    await waitFor(() => !running(pids[0]), 'the cancelled worker to be gone');
    assert.ok(running(pids[1]));
    const plugin = host.pid;
    await within(host.close(), 30_000, 'close');
    const o = await within(other, 30_000, 'the other event');
    assert.ok(o.outcome === 'aborted' && o.error.code === 'PLUGIN_HOST_STATE', JSON.stringify(o));
    await waitFor(() => !running(pids[1]) && !running(plugin), 'every process to be gone');
  });

  it('the config wins over SGEVENTD_CONCURRENCY: by none runs in the plugin process, one event at a time', async (t) => {
    const { host, records } = await bed(t, { concurrency: { by: 'none', max: 1 } });
    const loaded = await within(host.load(), 30_000, 'load');
    assert.ok(loaded.ok);
    assert.deepEqual(loaded.concurrency, { by: 'project', max: 4 }, 'what the module declared is still reported');
    assert.equal(host.capacity, 1);
    assert.equal((await run(host, 1, 'fine', 71)).outcome, 'ok');
    assert.deepEqual((await records()).map((r) => r.pid), [host.pid, host.pid]);
    assert.deepEqual(host.workerPids, []);
  });

  it('a bad SGEVENTD_CONCURRENCY fails the load with PLUGIN_BAD_CONCURRENCY', async (t) => {
    const { host } = await bed(t, { file: 'py_bad_concurrency.py' });
    const loaded = await within(host.load(), 30_000, 'load');
    assert.ok(!loaded.ok && loaded.error.code === 'PLUGIN_BAD_CONCURRENCY', JSON.stringify(loaded));
  });

  it('a plugin that starts threads at import is not forked: PLUGIN_FORK_UNSAFE at load', async (t) => {
    const { host } = await bed(t, { file: 'py_thread_at_import.py' });
    const loaded = await within(host.load(), 30_000, 'load');
    assert.ok(!loaded.ok && loaded.error.code === 'PLUGIN_FORK_UNSAFE', JSON.stringify(loaded));
  });
});
