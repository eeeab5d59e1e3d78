import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventLog } from '../../src/source/index.ts';
import { MemorySource } from '../support/memory-source.ts';

const logger = { debug() {}, info() {}, warn() {}, error() {} };

async function drain(log: EventLog, from: number, until: number, limit = 50): Promise<number[]> {
  const seen: number[] = [];
  let pos = from;
  const signal = AbortSignal.timeout(5000);
  while (pos < until) {
    const slice = await log.next(pos, limit, signal);
    assert.ok(!signal.aborted, `timed out at ${pos}`);
    for (const e of slice.events) seen.push(e.id);
    assert.ok(slice.upTo >= pos, 'position never moves back');
    pos = slice.upTo;
  }
  return seen;
}

describe('EventLog', () => {
  it('serves cursors behind the frontier in order and shares their reads', async () => {
    const src = new MemorySource();
    src.append(1000);
    const log = new EventLog(src, { batchSize: 100, fetchIntervalMs: 10, maxCachedEvents: 10_000, logger });
    assert.equal(await log.start(), 1000);
    const [a, b] = await Promise.all([drain(log, 0, 1000), drain(log, 0, 1000)]);
    const expected = Array.from({ length: 1000 }, (_, i) => i + 1);
    assert.deepEqual(a, expected);
    assert.deepEqual(b, expected);
    assert.ok(src.calls.readAfter <= 12, `two cursors at one position share reads (${src.calls.readAfter} reads)`);
    log.close();
  });

  it('waits at the frontier and delivers new events after the next poll', async () => {
    const src = new MemorySource();
    src.append(5);
    const log = new EventLog(src, { batchSize: 100, fetchIntervalMs: 5, maxCachedEvents: 1000, logger });
    await log.start();
    const pending = drain(log, 5, 8);
    setTimeout(() => src.append(3), 20);
    assert.deepEqual(await pending, [6, 7, 8]);
    assert.equal(log.frontier, 8);
    log.close();
  });

  it('keeps memory bounded and still delivers everything to a cursor far behind', async () => {
    const src = new MemorySource();
    src.append(3000);
    const log = new EventLog(src, { batchSize: 100, fetchIntervalMs: 5, maxCachedEvents: 250, logger });
    await log.start();
    const fast = drain(log, 2500, 3000);
    const slow = drain(log, 0, 3000, 20);
    const [f, s] = await Promise.all([fast, slow]);
    assert.equal(f.length, 500);
    assert.deepEqual(s, Array.from({ length: 3000 }, (_, i) => i + 1));
    assert.ok(log.cachedEvents <= 250, `cache holds ${log.cachedEvents}`);
    log.close();
  });

  it('does not deliver hidden ids, and finds them by lookup once visible', async () => {
    const src = new MemorySource();
    src.append(10);
    src.hold(4);
    const log = new EventLog(src, { batchSize: 100, fetchIntervalMs: 5, maxCachedEvents: 1000, logger });
    await log.start();
    assert.deepEqual(await drain(log, 0, 10), [1, 2, 3, 5, 6, 7, 8, 9, 10]);
    const [none, alsoNone] = await Promise.all([log.lookup([4]), log.lookup([4])]);
    assert.equal(none.size, 0);
    assert.equal(alsoNone.size, 0);
    assert.equal(src.calls.readIds, 1, 'lookups in one tick are merged');
    src.release(4);
    const found = await log.lookup([4]);
    assert.equal(found.get(4)?.id, 4);
    log.close();
  });

  it('returns nothing and stops waiting when the signal aborts', async () => {
    const src = new MemorySource();
    const log = new EventLog(src, { batchSize: 100, fetchIntervalMs: 60_000, maxCachedEvents: 1000, logger });
    await log.start();
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 20);
    const slice = await log.next(0, 10, ac.signal);
    assert.deepEqual(slice.events, []);
    log.close();
  });
});
