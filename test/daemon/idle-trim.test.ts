// The main thread's idle trim, on this process's own V8 heap: the young
// generation grows while the thread works and shrinks once it is idle.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IdleHeapTrim, youngGenerationBytes } from '../../src/daemon/idle-trim.ts';
import { waitFor } from '../support/index.ts';

const MB = 1024 * 1024;

/** Allocates short-lived objects until V8 has grown the young generation past `bytes`. */
function growYoung(bytes: number): void {
  let keep: object[] = [];
  for (let i = 0; youngGenerationBytes() <= bytes; i++) {
    keep.push({ i, s: `x${i}` });
    if (keep.length > 50_000) keep = [];
    if (i > 100_000_000) assert.fail(`V8 did not grow the young generation past ${bytes} bytes (${youngGenerationBytes()})`);
  }
}

describe('idle heap trim', () => {
  it('shrinks the young generation at the end of an idle window, and not while the thread works', async (t) => {
    growYoung(16 * MB);
    const trims: Array<{ youngBefore: number; youngAfter: number }> = [];
    const trim = new IdleHeapTrim({ windowMs: 1000, onTrim: (x) => trims.push(x) });
    t.after(() => trim.stop());
    // Busy: the loop runs about half of each window (a 5 ms block every 10 ms), over three windows.
    let busyUntil = Date.now() + 3_500;
    const busy = setInterval(() => {
      const end = Date.now() + 5;
      while (Date.now() < end) { /* work */ }
    }, 10);
    trim.start();
    await waitFor(() => Date.now() > busyUntil, 'the busy spell to end', 20_000);
    clearInterval(busy);
    assert.equal(trim.trims, 0, 'no trim while the main thread works');
    busyUntil = 0;
    const done = await waitFor(() => trims[0], 'a trim once the thread is idle', 60_000);
    assert.ok(done.youngBefore >= 16 * MB, `the young generation was grown first (${done.youngBefore} bytes)`);
    assert.ok(done.youngAfter < done.youngBefore / 4, `shrunk from ${done.youngBefore} to ${done.youngAfter} bytes`);
    assert.ok(youngGenerationBytes() < 8 * MB);
  });

  it('trims again once the young generation grew back', async (t) => {
    const trim = new IdleHeapTrim({ windowMs: 1000 });
    t.after(() => trim.stop());
    growYoung(16 * MB);
    trim.start();
    await waitFor(() => trim.trims === 1, 'the first trim', 60_000);
    growYoung(16 * MB);
    await waitFor(() => trim.trims === 2, 'a second trim after the young generation grew again', 60_000);
  });

  it('does not trim in a window in which the daemon read or handled events, however idle the thread', async (t) => {
    growYoung(16 * MB);
    let events = 0;
    const trim = new IdleHeapTrim({ windowMs: 1000, activity: () => events });
    t.after(() => trim.stop());
    // An event now and then: the thread stays idle by utilization.
    const working = setInterval(() => events++, 100);
    const until = Date.now() + 3_500;
    trim.start();
    await waitFor(() => Date.now() > until, 'three windows with events', 20_000);
    clearInterval(working);
    assert.equal(trim.trims, 0, 'no trim while events move');
    await waitFor(() => trim.trims === 1, 'a trim once no event moves', 60_000);
  });
});
