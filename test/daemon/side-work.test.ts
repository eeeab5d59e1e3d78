// The start's side work (log files, the servers' modules) waits for every
// plugin started to end a callback, or for a set time after the first one
// began starting; it runs once, in the turn after the one that let it begin.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { StartSideWork } from '../../src/daemon/side-work.ts';

function counted(afterMs = 60_000): { work: StartSideWork; runs: () => number } {
  let n = 0;
  const work = new StartSideWork(() => {
    n++;
  }, afterMs);
  return { work, runs: () => n };
}

describe('the start\'s side work', () => {
  it('waits for every plugin started to end a callback, then runs once', async () => {
    const { work, runs } = counted();
    work.arm('js');
    work.arm('py');
    assert.equal(work.armed, true);
    work.served('py');
    work.served('py');
    await nextTurn();
    assert.equal(runs(), 0, 'the JS plugin has not ended a callback yet');
    work.served('js');
    assert.equal(runs(), 0, 'it runs in the next turn, after the caller\'s own work');
    await work.begun;
    assert.equal(runs(), 1);
    work.arm('later');
    work.served('later');
    work.begin();
    await nextTurn();
    assert.equal(runs(), 1, 'once only');
  });

  it('begins at the latest afterMs after the first plugin began starting', async () => {
    const { work, runs } = counted(30);
    work.arm('silent');
    await work.begun;
    assert.equal(runs(), 1);
  });

  it('is not due before a plugin starts, and begins when asked', async () => {
    const { work, runs } = counted(10);
    assert.equal(work.armed, false);
    await sleep(30);
    assert.equal(runs(), 0, 'no timer before a plugin starts');
    work.begin();
    await work.begun;
    assert.equal(runs(), 1);
  });

  it('a callback of a plugin it never waited for does not start it', async () => {
    const { work, runs } = counted();
    work.arm('a');
    work.served('b');
    await nextTurn();
    await nextTurn();
    assert.equal(runs(), 0);
    work.begin();
    await work.begun;
    assert.equal(runs(), 1);
  });
});
