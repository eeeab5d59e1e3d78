// WorkerPluginHost.processBatch: many events per trip to the plugin's thread. The
// fixture (fixtures/plugins/batch.ts) appends a line per callback run to a
// file, so each test checks what the thread really ran, not only what the
// host reported.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { WorkerPluginHost, WorkerHostOptions, ProcessResult } from '../../../src/hosts/index.ts';
import type { EventLogEntry } from '../../../src/index.ts';
import { captureLogger, fixtureHost, makeEvent, within, type LogRecord } from './helpers.ts';

/** One line of the fixture's run file. */
interface Run {
  callback: string;
  id: number;
  attempt: number;
  replay: boolean;
  thread: number;
}

interface Setup {
  host: WorkerPluginHost;
  records: LogRecord[];
  /** The callback runs recorded so far, in order. */
  runs: () => Promise<Run[]>;
}

/** A loaded host on batch.ts writing to a run file in a temp dir; closed and removed when the test ends. */
async function start(t: TestContext, options: Partial<WorkerHostOptions> & { stopOnError?: boolean } = {}): Promise<Setup> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sgeventd-batch-'));
  const file = path.join(dir, 'runs.jsonl');
  await writeFile(file, '');
  const { logger, records } = captureLogger();
  const { stopOnError = true, ...rest } = options;
  const host = fixtureHost('batch.ts', {
    logger,
    env: { ...process.env, BATCH_LOG: file, STOP_ON_ERROR: stopOnError ? '1' : '0' },
    ...rest,
  });
  t.after(async () => {
    await host.close();
    await rm(dir, { recursive: true, force: true });
  });
  const loaded = await within(host.load(), 20_000, 'load');
  assert.ok(loaded.ok, 'the fixture loads');
  assert.deepEqual(loaded.callbacks.map((c) => [c.index, c.name, c.stopOnError]), [[0, 'record', stopOnError], [1, 'after', true]]);
  const runs = async (): Promise<Run[]> => (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Run);
  return { host, records, runs };
}

/** Events with ids from `first`, one per type. */
function events(first: number, ...types: string[]): EventLogEntry[] {
  return types.map((type, i) => makeEvent(first + i, type));
}

/** `callback:id` for each run, in order. */
function ran(runs: readonly Run[]): string[] {
  return runs.map((r) => `${r.callback}:${r.id}`);
}

/** A clean `ok` whose timing entries name `callbacks` (with their indexes) in order. */
function assertCleanOk(result: ProcessResult | undefined, callbacks: readonly string[], what: string): void {
  assert.ok(result !== undefined, `${what}: a result`);
  assert.equal(result.outcome, 'ok', `${what}: outcome`);
  assert.deepEqual(result.failures, [], `${what}: no failures`);
  assertTimings(result, callbacks, what);
  for (const r of result.results) assert.equal(r.error, undefined, `${what}: ${r.callback} has no error`);
}

function assertTimings(result: ProcessResult, callbacks: readonly string[], what: string): void {
  const index: Record<string, number> = { record: 0, after: 1 };
  assert.deepEqual(result.results.map((r) => [r.callback, r.index]), callbacks.map((c) => [c, index[c]]), `${what}: timing entries`);
  for (const r of result.results) {
    assert.ok(r.startedAt instanceof Date && !Number.isNaN(r.startedAt.getTime()), `${what}: ${r.callback} startedAt is a Date`);
    assert.equal(typeof r.durationMs, 'number');
    assert.ok(r.durationMs >= 0, `${what}: ${r.callback} durationMs >= 0`);
  }
}

describe('processBatch: results in order', () => {
  it('returns one clean ok per event, in order, and the thread runs each event once', async (t) => {
    const { host, runs } = await start(t);
    const results = await within(host.processBatch(events(1, 'fine', 'fine', 'fine', 'fine')), 20_000, 'batch');
    assert.equal(results.length, 4);
    results.forEach((r, i) => assertCleanOk(r, ['record', 'after'], `event ${i + 1}`));
    assert.deepEqual(ran(await runs()), ['record:1', 'after:1', 'record:2', 'after:2', 'record:3', 'after:3', 'record:4', 'after:4']);
    // Both callbacks of one event ran in the same thread, and callbacks start in order.
    const starts = results.flatMap((r) => r.results.map((c) => c.startedAt.getTime()));
    assert.deepEqual(starts, [...starts].sort((a, b) => a - b));
    assert.equal(host.state, 'ready');
  });

  it('process() is processBatch() of one event', async (t) => {
    const { host, runs } = await start(t);
    assertCleanOk(await within(host.process(makeEvent(5, 'fine')), 20_000, 'process'), ['record', 'after'], 'process');
    assert.deepEqual(ran(await runs()), ['record:5', 'after:5']);
  });
});

describe('processBatch: a failing callback ends the batch', () => {
  for (const k of [0, 2, 4]) {
    it(`stopOnError=true, failure at event ${k} of 5: ${k + 1} results, the last deactivates, later events never run`, async (t) => {
      const { host, runs } = await start(t);
      const types = ['fine', 'fine', 'fine', 'fine', 'fine'];
      types[k] = 'boom';
      const results = await within(host.processBatch(events(10, ...types)), 20_000, 'batch');
      assert.equal(results.length, k + 1);
      for (let i = 0; i < k; i++) assertCleanOk(results[i], ['record', 'after'], `event ${i}`);
      const last = results[k];
      assert.ok(last !== undefined && last.outcome === 'deactivate', `last outcome is deactivate, got ${last?.outcome}`);
      assert.equal(last.callback, 'record');
      assert.equal(last.error.code, 'PLUGIN_CALLBACK_ERROR');
      assert.equal(last.error.name, 'Error');
      assertTimings(last, ['record'], 'failed event');
      assert.equal(last.results[0]?.error?.code, 'PLUGIN_CALLBACK_ERROR');
      assert.deepEqual(last.failures, []);
      // The thread stopped at the failure: `after` never ran for it, nothing after it ran.
      const expected = [...Array.from({ length: k }, (_v, i) => [`record:${10 + i}`, `after:${10 + i}`]).flat(), `record:${10 + k}`];
      assert.deepEqual(ran(await runs()), expected);
      // Deactivation is the caller's decision: the host takes the next batch.
      assert.equal(host.state, 'ready');
      const next = await within(host.processBatch(events(20, 'fine')), 20_000, 'next batch');
      assertCleanOk(next[0], ['record', 'after'], 'next batch');
    });
  }

  it('stopOnError=false: the other callbacks of the failed event run, the result is ok with the failure, later events never run', async (t) => {
    const { host, runs } = await start(t, { stopOnError: false });
    const results = await within(host.processBatch(events(30, 'fine', 'boom', 'fine', 'fine')), 20_000, 'batch');
    assert.equal(results.length, 2);
    assertCleanOk(results[0], ['record', 'after'], 'event 30');
    const last = results[1];
    assert.ok(last !== undefined && last.outcome === 'ok', `last outcome is ok, got ${last?.outcome}`);
    assert.deepEqual(last.failures.map((f) => [f.callback, f.error.code]), [['record', 'PLUGIN_CALLBACK_ERROR']]);
    assertTimings(last, ['record', 'after'], 'event 31');
    assert.equal(last.results[0]?.error?.code, 'PLUGIN_CALLBACK_ERROR');
    assert.equal(last.results[1]?.error, undefined);
    assert.deepEqual(ran(await runs()), ['record:30', 'after:30', 'record:31', 'after:31']);
    const next = await within(host.processBatch(events(32, 'fine', 'fine')), 20_000, 'the rest');
    assert.equal(next.length, 2);
    assert.deepEqual(ran(await runs()).slice(4), ['record:32', 'after:32', 'record:33', 'after:33']);
  });
});

describe('processBatch: lost threads inside a batch', () => {
  it('a callback hanging on the 3rd event of 5 (stopOnError=true): two clean results, then a timeout deactivation; the host works again', async (t) => {
    const { host, runs, records } = await start(t, { callbackTimeoutMs: 500 });
    const results = await within(host.processBatch(events(40, 'fine', 'fine', 'hang', 'fine', 'fine')), 30_000, 'batch with a hang');
    assert.equal(results.length, 3);
    assertCleanOk(results[0], ['record', 'after'], 'event 40');
    assertCleanOk(results[1], ['record', 'after'], 'event 41');
    const third = results[2];
    assert.ok(third !== undefined && third.outcome === 'deactivate', `third outcome is deactivate, got ${third?.outcome}`);
    assert.equal(third.callback, 'record');
    assert.equal(third.error.code, 'PLUGIN_CALLBACK_TIMEOUT');
    assert.equal(third.error.details?.eventId, 42);
    assert.deepEqual(third.results, [], 'the hung callback never finished');
    assert.ok(records.some((r) => r.msg === 'callback timed out; terminating the plugin thread' && r.eventId === 42));
    assert.deepEqual(ran(await runs()), ['record:40', 'after:40', 'record:41', 'after:41', 'record:42']);
    assert.equal(host.state, 'ready');

    // A following batch gets a new thread and runs.
    const next = await within(host.processBatch(events(43, 'fine', 'fine')), 30_000, 'batch after the timeout');
    assert.equal(next.length, 2);
    next.forEach((r, i) => assertCleanOk(r, ['record', 'after'], `event ${43 + i}`));
    const all = await runs();
    assert.deepEqual(ran(all).slice(5), ['record:43', 'after:43', 'record:44', 'after:44']);
    assert.notEqual(all[5]?.thread, all[0]?.thread, 'the next batch ran in a new thread');
  });

  it('a callback hanging on the 3rd event of 5 (stopOnError=false): the next callback of that event runs in a restarted thread', async (t) => {
    const { host, runs } = await start(t, { callbackTimeoutMs: 500, stopOnError: false });
    const results = await within(host.processBatch(events(50, 'fine', 'fine', 'hang', 'fine', 'fine'), { attempt: 2 }), 30_000, 'batch with a hang');
    assert.equal(results.length, 3);
    assertCleanOk(results[0], ['record', 'after'], 'event 50');
    assertCleanOk(results[1], ['record', 'after'], 'event 51');
    const third = results[2];
    assert.ok(third !== undefined && third.outcome === 'ok', `third outcome is ok, got ${third?.outcome}`);
    assert.deepEqual(third.failures.map((f) => [f.callback, f.error.code]), [['record', 'PLUGIN_CALLBACK_TIMEOUT']]);
    assertTimings(third, ['after'], 'event 52');
    assert.equal(third.results[0]?.error, undefined);

    const all = await runs();
    assert.deepEqual(ran(all), ['record:50', 'after:50', 'record:51', 'after:51', 'record:52', 'after:52']);
    const hung = all[4];
    const resumed = all[5];
    assert.ok(hung !== undefined && resumed !== undefined);
    assert.notEqual(resumed.thread, hung.thread, '`after` ran in a restarted thread');
    assert.equal(resumed.attempt, 2, 'the restarted thread gets the batch options');
    assert.equal(host.state, 'ready');

    const next = await within(host.processBatch(events(53, 'fine', 'fine')), 30_000, 'the rest');
    assert.equal(next.length, 2);
    next.forEach((r, i) => assertCleanOk(r, ['record', 'after'], `event ${53 + i}`));
    assert.deepEqual(ran(await runs()).slice(6), ['record:53', 'after:53', 'record:54', 'after:54']);
  });

  it('process.exit(3) on the 2nd event: the 1st is ok, the 2nd deactivates with PLUGIN_WORKER_DIED, the host recovers', async (t) => {
    const { host, runs } = await start(t);
    const results = await within(host.processBatch(events(60, 'fine', 'exit', 'fine')), 30_000, 'batch with an exit');
    assert.equal(results.length, 2);
    assertCleanOk(results[0], ['record', 'after'], 'event 60');
    const second = results[1];
    assert.ok(second !== undefined && second.outcome === 'deactivate', `second outcome is deactivate, got ${second?.outcome}`);
    assert.equal(second.callback, 'record');
    assert.equal(second.error.code, 'PLUGIN_WORKER_DIED');
    assert.equal(second.error.details?.exitCode, 3);
    assert.equal(second.error.details?.eventId, 61);
    assert.deepEqual(ran(await runs()), ['record:60', 'after:60', 'record:61']);
    assert.equal(host.state, 'ready');

    const next = await within(host.processBatch(events(62, 'fine')), 30_000, 'batch after the exit');
    assert.equal(next.length, 1);
    assertCleanOk(next[0], ['record', 'after'], 'event 62');
    assert.deepEqual(ran(await runs()).slice(3), ['record:62', 'after:62']);
  });
});

describe('processBatch: time budget', () => {
  it('ends a batch once batchBudgetMs is spent; sending the rest again handles every event exactly once, in order', async (t) => {
    const { host, runs } = await start(t, { batchBudgetMs: 1 });
    const all = events(70, 'slow', 'slow', 'slow', 'slow', 'slow');
    const first = await within(host.processBatch(all), 20_000, 'first batch');
    assert.ok(first.length >= 1 && first.length < 5, `the budget cut the batch short (got ${first.length} results)`);
    first.forEach((r, i) => assertCleanOk(r, ['record', 'after'], `event ${70 + i}`));

    let handled = first.length;
    for (let calls = 1; handled < all.length; calls++) {
      assert.ok(calls < all.length, 'every call handles at least one event');
      const more = await within(host.processBatch(all.slice(handled)), 20_000, 'the rest');
      assert.ok(more.length >= 1, 'a call with events left handles at least one');
      more.forEach((r, i) => assertCleanOk(r, ['record', 'after'], `event ${70 + handled + i}`));
      handled += more.length;
    }
    assert.equal(handled, 5);
    assert.deepEqual(ran(await runs()), [70, 71, 72, 73, 74].flatMap((id) => [`record:${id}`, `after:${id}`]));
  });

  it('a batchBudgetMs that is not a positive number is refused when the host is made', () => {
    const { logger } = captureLogger();
    for (const batchBudgetMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => fixtureHost('batch.ts', { logger, batchBudgetMs }), (err: unknown) => (err as { code?: unknown }).code === 'PLUGIN_HOST_STATE', `batchBudgetMs ${batchBudgetMs}`);
    }
  });
});

describe('processBatch: events no callback matches', () => {
  it('are ok with no timing entries and never reach the thread', async (t) => {
    const { host, runs } = await start(t);
    const results = await within(host.processBatch(events(80, 'other', 'other')), 20_000, 'unmatched batch');
    assert.equal(results.length, 2);
    results.forEach((r, i) => assertCleanOk(r, [], `event ${80 + i}`));
    assert.deepEqual(await runs(), []);
  });

  it('a batch mixing matched and unmatched events returns one result per event', async (t) => {
    const { host, runs } = await start(t);
    const types = ['other', 'fine', 'other', 'other', 'fine', 'other'];
    const results = await within(host.processBatch(events(90, ...types)), 20_000, 'mixed batch');
    assert.equal(results.length, types.length);
    results.forEach((r, i) => assertCleanOk(r, types[i] === 'fine' ? ['record', 'after'] : [], `event ${90 + i}`));
    assert.deepEqual(ran(await runs()), ['record:91', 'after:91', 'record:94', 'after:94']);
  });

  it('an unmatched event after a failed one is not reported', async (t) => {
    const { host, runs } = await start(t);
    const results = await within(host.processBatch(events(100, 'other', 'boom', 'other', 'fine')), 20_000, 'batch');
    assert.deepEqual(results.map((r) => r.outcome), ['ok', 'deactivate']);
    assert.deepEqual(ran(await runs()), ['record:101']);
  });
});

describe('processBatch: misuse', () => {
  it('an empty batch returns no results', async (t) => {
    const { host, runs } = await start(t);
    assert.deepEqual(await within(host.processBatch([]), 20_000, 'empty batch'), []);
    assert.equal(host.state, 'ready');
    assert.deepEqual(await runs(), []);
  });

  it('rejects a batch holding a non-event with PLUGIN_PROTOCOL, running none of it', async (t) => {
    const { host, runs } = await start(t);
    const bad: unknown[] = [
      {},
      null,
      { ...makeEvent(1, 'fine'), id: 'one' },
      { ...makeEvent(1, 'fine'), id: 1.5 },
      { ...makeEvent(1, 'fine'), event_type: undefined },
    ];
    for (const b of bad) {
      await assert.rejects(host.processBatch([makeEvent(110, 'fine'), b as EventLogEntry]), { code: 'PLUGIN_PROTOCOL' }, `rejects ${JSON.stringify(b)}`);
      assert.equal(host.state, 'ready');
    }
    assert.deepEqual(await runs(), [], 'the valid event before the bad one did not run');
    assert.equal((await within(host.processBatch(events(111, 'fine')), 20_000, 'valid batch')).length, 1);
  });

  it('rejects a batch sent while another runs with PLUGIN_HOST_STATE', async (t) => {
    const { host, runs } = await start(t, { callbackTimeoutMs: 60_000 });
    const running = host.processBatch(events(120, 'fine', 'hang', 'fine'));
    assert.equal(host.state, 'busy');
    await assert.rejects(host.processBatch(events(130, 'fine')), { code: 'PLUGIN_HOST_STATE' });
    await assert.rejects(host.process(makeEvent(131, 'fine')), { code: 'PLUGIN_HOST_STATE' });
    await host.close();
    const results = await within(running, 20_000, 'aborted batch');
    assert.equal(results.at(-1)?.outcome, 'aborted');
    assert.ok(!ran(await runs()).some((r) => r.endsWith(':122') || r.endsWith(':130') || r.endsWith(':131')));
  });

  // Fails today: host.ts (processBatch, the isClosed() branch after #runBatch)
  // returns a single `aborted` result carrying the timings of the first,
  // finished event, and drops that event's `ok`.
  it('close() during a batch: finished events stay ok, the running one is aborted', async (t) => {
    const { host, runs } = await start(t, { callbackTimeoutMs: 60_000 });
    const running = host.processBatch(events(125, 'fine', 'hang', 'fine'));
    // Wait (bounded) until the thread is inside the hanging callback, then close.
    const deadline = Date.now() + 20_000;
    while (!ran(await runs()).includes('record:126') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await host.close();
    const results = await within(running, 20_000, 'aborted batch');
    assert.deepEqual(ran(await runs()), ['record:125', 'after:125', 'record:126']);
    assert.deepEqual(results.map((r) => r.outcome), ['ok', 'aborted']);
    assertCleanOk(results[0], ['record', 'after'], 'event 125');
    assert.deepEqual(results[1]?.results, []);
  });
});

describe('processBatch: attempt and replay', () => {
  it('reach the context of every callback of every event', async (t) => {
    const { host, runs } = await start(t);
    const results = await within(host.processBatch(events(140, 'fine', 'fine', 'fine'), { attempt: 3, replay: true }), 20_000, 'batch');
    assert.equal(results.length, 3);
    const first = await runs();
    assert.equal(first.length, 6);
    assert.deepEqual(first.map((r) => [r.attempt, r.replay]), Array.from({ length: 6 }, () => [3, true]));

    await within(host.processBatch(events(150, 'fine', 'fine')), 20_000, 'batch with defaults');
    const second = (await runs()).slice(6);
    assert.equal(second.length, 4);
    assert.deepEqual(second.map((r) => [r.attempt, r.replay]), Array.from({ length: 4 }, () => [1, false]));
  });

  it('rejects an attempt that is not a whole number from 1 with PLUGIN_PROTOCOL', async (t) => {
    const { host, runs } = await start(t);
    for (const attempt of [0, -1, 1.5]) {
      await assert.rejects(host.processBatch(events(160, 'fine'), { attempt }), { code: 'PLUGIN_PROTOCOL' });
    }
    assert.deepEqual(await runs(), []);
  });
});
