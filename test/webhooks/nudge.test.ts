// The poller's nudge on the real EventLog, a real plugin cursor and its real
// SQLite state, over a memory source whose reads the test counts. Polling is
// set to ten minutes, so anything a plugin gets within a test came from a nudge.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cursorBed, ScriptedPlugin } from '../support/scripted-cursor.ts';
import { waitFor } from '../support/index.ts';

const LONG = 600_000;

describe('webhook nudge', () => {
  it('a delivery wakes the poller: the event reaches the plugin without a poll falling due', async (t) => {
    const bed = await cursorBed(t, { fetchIntervalMs: LONG });
    const plugin = new ScriptedPlugin();
    bed.cursor(plugin);
    const [id] = bed.source.append(1) as [number];
    bed.log.nudge(id);
    await waitFor(() => plugin.saw(id), 'the announced event to reach the plugin');
    assert.deepEqual(plugin.ids, [id]);
    assert.equal(bed.source.calls.readAfter, 1, 'one read');
  });

  it('a forged huge id moves no cursor and costs at most three reads', async (t) => {
    const bed = await cursorBed(t, { fetchIntervalMs: LONG });
    const plugin = new ScriptedPlugin();
    bed.cursor(plugin);
    const [real] = bed.source.append(1) as [number];
    bed.log.nudge(real);
    await waitFor(() => plugin.saw(real), 'a real event first');
    const before = bed.source.calls.readAfter;

    bed.log.nudge(999_999_999);
    await waitFor(() => bed.records.some((r) => r.msg?.startsWith('a delivery announced an id the log has not shown') === true), 'the poller to give the forged id up');
    assert.equal(bed.source.calls.readAfter - before, 3, 'the read, then two re-reads');
    assert.equal(bed.log.stats.lateRereads, 2);
    assert.equal(bed.log.frontier, real);
    assert.equal((await bed.stored())?.lastEventId, real, 'the stored cursor did not move');

    // The next real delivery is read at once, as before.
    const [next] = bed.source.append(1) as [number];
    bed.log.nudge(next);
    await waitFor(() => plugin.saw(next), 'the next real event');
    assert.deepEqual(plugin.ids, [real, next]);
    assert.equal((await bed.stored())?.lastEventId, next);
  });

  it('a late-committing row announced early is delivered by the re-read', async (t) => {
    const bed = await cursorBed(t, { fetchIntervalMs: LONG });
    const plugin = new ScriptedPlugin();
    bed.cursor(plugin);
    const held = bed.source.appendHeld();
    bed.log.nudge(held);
    // The first read comes back without it; only then does the row commit.
    await waitFor(() => bed.log.stats.lateRereads >= 1, 'the first read to come back short (a re-read scheduled)');
    assert.equal(plugin.ids.length, 0);
    bed.source.release(held);
    await waitFor(() => plugin.saw(held), 'the late row to reach the plugin');
    assert.deepEqual(plugin.ids, [held]);
  });

  it('bursts coalesce: one read in flight, one queued', async (t) => {
    const bed = await cursorBed(t, { fetchIntervalMs: LONG, batchSize: 1000 });
    const plugin = new ScriptedPlugin();
    bed.cursor(plugin);
    const ids = bed.source.append(50);
    for (const id of ids) bed.log.nudge(id);
    await waitFor(() => plugin.ids.length === 50, 'every event');
    assert.ok(bed.source.calls.readAfter <= 2, `${bed.source.calls.readAfter} reads for 50 deliveries`);
  });
});
