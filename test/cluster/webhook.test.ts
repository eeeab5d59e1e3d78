// Webhooks in cluster mode: any node's receiver accepts a delivery and the
// node holding the poller lease reads the log at once (core NATS wake).
// `webhooks.fallbackPollMs` is 10 minutes here while `daemon.fetchIntervalMs`
// is 50 ms: the poller honours the fallback (its read count stays at the one
// wake, not one read per 50 ms), and the new event reaching the plugin within
// the wait proves the wake.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../support/index.ts';
import { freePorts, natsSkip } from '../support/nats.ts';
import { post, singleBody, SECRET } from '../webhooks/support.ts';
import { clusterBed } from './cluster-bed.ts';

describe('cluster webhooks', natsSkip(), () => {
  it('a delivery to a node without the poller makes the poller read at once', async (t) => {
    const ports = await freePorts(2);
    const bed = await clusterBed(t, {
      plugins: ['serial'],
      nodes: 2,
      daemon: { fetchIntervalMs: 50 },
      sections: (i) => ({ webhooks: { host: '127.0.0.1', port: ports[i], secrets: [SECRET], fallbackPollMs: 600_000 } }),
    });
    const held = await bed.allHeld();
    const poller = bed.holderOf(held, 'poller');
    const other = poller === 0 ? 1 : 0;
    // The poller's first round is done (it read once at the start) and it now waits out its interval.
    const before = await waitFor(async () => {
      const v = await bed.view(poller);
      return v?.poller !== null && v?.poller !== undefined && v.poller.reads >= 1 ? v.poller.reads : null;
    }, 'the poller read the log once');
    const newest = await bed.createEvents(1);

    const status = await post(`http://127.0.0.1:${ports[other] as number}/webhooks/shotgrid`, singleBody(newest), { secret: SECRET });
    assert.equal(status, 200);

    await waitFor(() => bed.lines().some((l) => l.plugin === 'serial' && l.id === newest && l.what === 'end'), `event ${newest} handled after the delivery`, 60_000);
    const after = await bed.view(poller);
    const reads = (after?.poller?.reads ?? 0) - before;
    assert.ok(reads >= 1 && reads <= 3, `the poller read ${reads} times after one delivery`);
  });
});
