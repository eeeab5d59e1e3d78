// What a cluster node shows of the cluster: `/api/status`, the status page's
// cluster section and `sgeventd cluster status`: the nodes that answer, the
// poller's and each plugin's holder, per plugin cursor, lag and in flight.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../support/index.ts';
import { natsSkip } from '../support/nats.ts';
import { clusterBed } from './cluster-bed.ts';

describe('cluster status', natsSkip(), () => {
  it('every node shows the nodes, lease holders and each plugin\'s cursor, on /api/status, the page and the CLI', async (t) => {
    const bed = await clusterBed(t, { plugins: ['serial', 'keyed'], nodes: 2 });
    await bed.allHeld();
    const last = await bed.createEvents(5);
    const view = await waitFor(async () => {
      const v = await bed.view(1);
      // Whoever holds a plugin's lease lists it among the plugins it holds (asked at the next lease check).
      const listed = v?.plugins.every((p) => v.nodes?.find((n) => n.nodeId === p.holder)?.active.includes(p.name) === true) === true;
      return v !== null && listed && v.nodes?.length === 2 && v.plugins.every((p) => p.highId === last && p.pending === 0 && p.lag === 0) ? v : null;
    }, `node n2 sees both nodes, each plugin on its holder and at event ${last}`, 90_000);
    for (const p of view.plugins) {
      assert.ok(p.holder !== null && bed.nodeIds.includes(p.holder));
      assert.equal(p.inFlight, 0);
      assert.ok((p.highSeq ?? 0) > 0);
    }
    assert.ok(view.pollerHolder !== null && bed.nodeIds.includes(view.pollerHolder));

    const url = readFileSync(join(bed.dir, 'n2.pid.url'), 'utf8').trim();
    const page = await (await fetch(`${url}/`)).text();
    assert.match(page, /data-testid="cluster-nodes"/);
    assert.match(page, /data-testid="cluster-plugins"/);
    for (const id of bed.nodeIds) assert.ok(page.includes(`<strong>${id}</strong>`), `the page lists node ${id}`);

    const json = await bed.cli(1, ['cluster', 'status', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const doc = JSON.parse(json.stdout) as { nodeId: string; nodes: Array<{ nodeId: string }>; plugins: Array<{ name: string; highId: number }> };
    assert.equal(doc.nodeId, 'n2');
    assert.deepEqual(doc.nodes.map((n) => n.nodeId), bed.nodeIds);
    assert.deepEqual(doc.plugins.map((p) => [p.name, p.highId]).sort(), [['keyed', last], ['serial', last]]);
    const text = await bed.cli(1, ['cluster', 'status']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^NODE\tHOST/m);
    assert.match(text.stdout, /^PLUGIN\tHOLDER/m);
  });
});
