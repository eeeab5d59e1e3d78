// The memory watch's rules on scripted readings (a stand-in for the thread:
// what `worker.getHeapStatistics()` answers is set by the test). The real
// allocation shapes are in memory-shapes.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Worker } from 'node:worker_threads';
import { HEAP_HEADROOM, MemoryWatch, type MemoryOver } from '../../../src/hosts/js/memory-watch.ts';
import { waitFor } from '../../support/index.ts';

const MB = 1024 * 1024;

/** A thread whose heap reads `heapMb` and which counts how often it was read. */
class FakeThread extends EventEmitter {
  heapMb = 0;
  reads = 0;
  getHeapStatistics(): Promise<{ used_heap_size: number; external_memory: number }> {
    this.reads++;
    return Promise.resolve({ used_heap_size: this.heapMb * MB, external_memory: 0 });
  }
}

function watch(thread: FakeThread, limitMb: number, sampleMs: number): { over: MemoryOver[]; asked: () => number; w: MemoryWatch } {
  const over: MemoryOver[] = [];
  let asked = 0;
  const w = new MemoryWatch(thread as unknown as Worker, { limitMb, sampleMs, busyMs: 60_000, askCollect: () => asked++, onOver: (o) => over.push(o) });
  return { over, asked: () => asked, w };
}

describe('MemoryWatch', () => {
  it('a thread over its limit that does not answer is read five times as often, and ended at once at half V8\'s limit (runaway)', async (t) => {
    const thread = new FakeThread();
    const { over, asked, w } = watch(thread, 64, 200);
    t.after(() => w.stop());
    thread.heapMb = 80;
    await waitFor(() => asked() === 1, 'the thread asked to collect');
    const before = thread.reads;
    await new Promise((r) => setTimeout(r, 400));
    // Two normal readings in 400 ms; fast readings (every 40 ms) make it about ten.
    assert.ok(thread.reads - before >= 6, `${thread.reads - before} readings in 400 ms while over the limit`);
    assert.equal(over.length, 0, 'over the limit but below half V8\'s: not ended before busyMs');
    thread.heapMb = 64 * (HEAP_HEADROOM / 2);
    await waitFor(() => over.length > 0, 'the thread ended');
    assert.equal(over[0]?.seen, 'runaway');
    assert.equal(over.length, 1);
  });

  it('back under the limit, the readings slow down again; garbage collected ends nothing', async (t) => {
    const thread = new FakeThread();
    const { over, asked, w } = watch(thread, 64, 200);
    t.after(() => w.stop());
    thread.heapMb = 100;
    await waitFor(() => asked() === 1, 'the thread asked to collect');
    w.collected(30 * MB, 0);
    thread.heapMb = 30;
    await new Promise((r) => setTimeout(r, 100));
    const before = thread.reads;
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(thread.reads - before <= 4, `${thread.reads - before} readings in 500 ms under the limit (every 200 ms)`);
    assert.deepEqual(over, []);
  });

  it('over after the thread\'s own full GC: ended (collected)', async (t) => {
    const thread = new FakeThread();
    const { over, asked, w } = watch(thread, 64, 50);
    t.after(() => w.stop());
    thread.heapMb = 90;
    await waitFor(() => asked() === 1, 'the thread asked to collect');
    w.collected(90 * MB, 0);
    assert.equal(over[0]?.seen, 'collected');
  });
});
