// BatchProgress: the shared-memory record of a batch. The host makes it with
// a capacity; the worker wraps the same buffer. Both sides are exercised here
// on one thread: `host` and `worker` are two instances over one buffer.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BatchProgress } from '../../../src/hosts/js/progress.ts';

function pair(capacity: number): { host: BatchProgress; worker: BatchProgress } {
  const host = new BatchProgress(capacity);
  return { host, worker: new BatchProgress(host.buffer) };
}

describe('BatchProgress', () => {
  it('holds `capacity` entries, and an instance over the same buffer has the same capacity', () => {
    for (const capacity of [1, 3, 64]) {
      const { host, worker } = pair(capacity);
      assert.equal(host.capacity, capacity);
      assert.ok(host.buffer instanceof SharedArrayBuffer);
      assert.equal(worker.buffer, host.buffer);
      assert.equal(worker.capacity, capacity);
    }
  });

  it('starts empty: no entries, nothing running', () => {
    const { host, worker } = pair(4);
    for (const p of [host, worker]) {
      assert.deepEqual(p.entries(), []);
      assert.equal(p.running(), null);
    }
  });

  it('records finished callbacks in order with their fields, seen from both instances', () => {
    const { host, worker } = pair(8);
    worker.begin(0, 0, 1_700_000_000_000);
    assert.ok(worker.end(0, 0, 1_700_000_000_000, 1.25, false));
    worker.begin(0, 2, 1_700_000_000_003.5);
    assert.ok(worker.end(0, 2, 1_700_000_000_003.5, 0, true));
    worker.begin(1, 1, 1_700_000_000_010);
    assert.ok(worker.end(1, 1, 1_700_000_000_010, 42.125, false));
    const expected = [
      { event: 0, callback: 0, startedAt: 1_700_000_000_000, durationMs: 1.25, failed: false },
      { event: 0, callback: 2, startedAt: 1_700_000_000_003.5, durationMs: 0, failed: true },
      { event: 1, callback: 1, startedAt: 1_700_000_000_010, durationMs: 42.125, failed: false },
    ];
    assert.deepEqual(host.entries(), expected);
    assert.deepEqual(worker.entries(), expected);
  });

  it('running(): the begun callback while it runs, null between callbacks, `run` counting begun callbacks', () => {
    const { host, worker } = pair(8);
    worker.begin(0, 0, 1000);
    assert.deepEqual(host.running(), { run: 1, event: 0, callback: 0, startedAt: 1000 });
    assert.ok(worker.end(0, 0, 1000, 5, false));
    assert.equal(host.running(), null);

    worker.begin(0, 1, 1006);
    assert.deepEqual(host.running(), { run: 2, event: 0, callback: 1, startedAt: 1006 });
    assert.deepEqual(worker.running(), { run: 2, event: 0, callback: 1, startedAt: 1006 });
    // Entries hold only the finished callbacks.
    assert.deepEqual(host.entries().map((e) => [e.event, e.callback]), [[0, 0]]);
    assert.ok(worker.end(0, 1, 1006, 1, true));
    assert.equal(host.running(), null);

    worker.begin(3, 0, 2000);
    assert.deepEqual(host.running(), { run: 3, event: 3, callback: 0, startedAt: 2000 });
    assert.equal(host.entries().length, 2);
  });

  it('end() returns false once capacity is reached and keeps what it had', () => {
    const { host, worker } = pair(2);
    worker.begin(0, 0, 10);
    assert.equal(worker.end(0, 0, 10, 1, false), true);
    worker.begin(1, 0, 20);
    assert.equal(worker.end(1, 0, 20, 1, false), true);
    worker.begin(2, 0, 30);
    assert.equal(worker.end(2, 0, 30, 1, false), false);
    assert.equal(worker.end(3, 0, 40, 1, false), false);
    assert.deepEqual(host.entries().map((e) => [e.event, e.startedAt]), [[0, 10], [1, 20]]);
  });

  it('reset() clears entries and the running callback; the buffer is reusable afterwards', () => {
    const { host, worker } = pair(4);
    worker.begin(0, 0, 10);
    assert.ok(worker.end(0, 0, 10, 1, true));
    worker.begin(1, 1, 20);
    assert.notEqual(host.running(), null);
    host.reset();
    assert.deepEqual(host.entries(), []);
    assert.deepEqual(worker.entries(), []);
    assert.equal(host.running(), null);
    assert.equal(worker.running(), null);

    // A new batch over the same buffer starts counting from one again.
    worker.begin(0, 1, 50);
    assert.deepEqual(host.running(), { run: 1, event: 0, callback: 1, startedAt: 50 });
    assert.ok(worker.end(0, 1, 50, 2, false));
    assert.deepEqual(host.entries(), [{ event: 0, callback: 1, startedAt: 50, durationMs: 2, failed: false }]);
  });

  it('reset() after a full buffer makes room again', () => {
    const { host, worker } = pair(1);
    worker.begin(0, 0, 1);
    assert.equal(worker.end(0, 0, 1, 1, false), true);
    assert.equal(worker.end(1, 0, 2, 1, false), false);
    host.reset();
    worker.begin(5, 0, 3);
    assert.equal(worker.end(5, 0, 3, 1, false), true);
    assert.deepEqual(host.entries().map((e) => e.event), [5]);
  });
});
