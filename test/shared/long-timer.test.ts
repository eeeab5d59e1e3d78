import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_TIMER_MS, setLongTimeout, sleepLong } from '../../src/shared/index.ts';

function fired(): { done: Promise<number>; fire: () => void } {
  let fire!: () => void;
  const started = Date.now();
  const done = new Promise<number>((resolve) => { fire = () => resolve(Date.now() - started); });
  return { done, fire };
}

describe('setLongTimeout', () => {
  it('waits the whole span when it is longer than one platform timer, re-arming in chunks', async () => {
    const f = fired();
    setLongTimeout(f.fire, 250, 60);
    assert.ok((await f.done) >= 249);
  });

  it('never fires early for a span past 2^31-1 ms (a bare setTimeout would fire after 1 ms)', async () => {
    let early = false;
    const timer = setLongTimeout(() => { early = true; }, MAX_TIMER_MS + 1000);
    const bare = fired();
    // The reference: what Node does with the same span (it warns and fires after 1 ms).
    const warned = new Promise<void>((resolve) => process.once('warning', () => resolve()));
    setTimeout(bare.fire, MAX_TIMER_MS + 1000);
    await bare.done;
    await warned;
    await sleepLong(50);
    timer.clear();
    assert.equal(early, false);
  });

  it('cleared, it never fires; unref lets the process end', async () => {
    let ran = false;
    const timer = setLongTimeout(() => { ran = true; }, 20, 10).unref();
    timer.clear();
    await sleepLong(60);
    assert.equal(ran, false);
  });

  it('sleepLong rejects with an AbortError when its signal aborts', async () => {
    const ac = new AbortController();
    const p = sleepLong(MAX_TIMER_MS * 2, { signal: ac.signal });
    ac.abort(new Error('stop'));
    await assert.rejects(p, (e: unknown) => (e as { name?: string }).name === 'AbortError');
  });
});
