// `sgeventd replay` with a cluster's config: a side run on the machine it is
// given, reading the site itself, while the nodes run the plugin: every event
// of the range reaches the plugin in the replay's own process, in id order,
// and the nodes' cursors do not move back.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DEFAULT_SCRIPT } from '../../src/site/index.ts';
import { runCli, waitFor } from '../support/index.ts';
import { natsSkip } from '../support/nats.ts';
import { clusterBed } from './cluster-bed.ts';

describe('replay on a cluster', natsSkip(), () => {
  it('replays a range through the plugin beside the running nodes; their cursor stays where it was', async (t) => {
    const bed = await clusterBed(t, { plugins: ['serial'], nodes: 2 });
    await bed.allHeld();
    const after = await bed.site.newestEventId();
    const last = await bed.createEvents(5);
    const done = await waitFor(async () => {
      const p = (await bed.anyView())?.plugins.find((x) => x.name === 'serial');
      return p?.highId === last && p.pending === 0 ? p : null;
    }, `the nodes finished event ${last}`, 120_000);
    const run = await runCli(['replay', '-c', join(bed.dir, 'n1.yaml'), '--from', String(after), '--to', String(last)], {
      PATH: process.env['PATH'], HOME: process.env['HOME'], SGEVENTD_TEST_KEY: DEFAULT_SCRIPT.key,
      SGEVENTD_TEST_RECORD: bed.record, SGEVENTD_TEST_NODE: 'replay',
    }, 120_000);
    assert.equal(run.code, 0, run.stderr);
    const replayed = bed.lines().filter((l) => l.node === 'replay' && l.what === 'end').map((l) => l.id);
    const expected = Array.from({ length: last - after }, (_, i) => after + 1 + i);
    assert.deepEqual(replayed, expected, 'every event of the range, once, in id order');
    const p = (await bed.anyView())?.plugins.find((x) => x.name === 'serial');
    assert.equal(p?.highId, done.highId, 'the cluster\'s cursor did not move');
  });
});
