// A spread plugin's project lane hands its next event out when the one before
// ends, not when the cursor is next committed: commits run on their own timer
// (`cluster.commitMs`, here longer than the test). How soon, in ms, is the
// capacity bench's "lane gap" (benches time, tests do not).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../support/index.ts';
import { natsSkip } from '../support/nats.ts';
import { clusterBed } from './cluster-bed.ts';

const EVENTS = 12;

describe('a spread plugin\'s lane', natsSkip(), () => {
  it('runs a project\'s events one after another without waiting for a cursor commit', async (t) => {
    const bed = await clusterBed(t, {
      plugins: ['keyed'], nodes: 1, workMs: 100,
      // No commit on the timer while the test runs: an event waiting for one would never start.
      cluster: { partitions: 4, commitMs: 600_000 },
    });
    await bed.allHeld();
    const project = await bed.site.firstProject();
    await bed.site.sg.batch(Array.from({ length: EVENTS }, (_, i) => ({
      request_type: 'create' as const, entity_type: 'Shot', data: { code: `lane-${i}`, project },
    })));
    const key = `p${project.id}`;
    const mine = await waitFor(() => {
      const lines = bed.lines().filter((l) => l.plugin === 'keyed' && l.key === key);
      return lines.filter((l) => l.what === 'end').length >= EVENTS ? lines : null;
    }, `${EVENTS} events of ${key} ran`, 120_000);
    // One lane: each event starts after the one before ended, in event order.
    const starts = mine.filter((l) => l.what === 'start').map((l) => l.id);
    assert.deepEqual(starts, [...starts].sort((a, b) => a - b));
    assert.equal(new Set(starts).size, starts.length);
    for (let i = 1; i < mine.length; i++) assert.notEqual(mine[i]?.what, mine[i - 1]?.what, `start and end alternate in the lane: ${JSON.stringify(mine)}`);
  });
});
