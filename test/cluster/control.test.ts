// `toolkit ps` and `toolkit recycle` on a cluster node: every node answers
// over core NATS (`ctl.nodes`, `ctl.recycle`), so the runtime of a project
// whose plugin runs on node A is listed and recycled from node B.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeConfig } from '../fixtures/toolkit/fake-cores.ts';
import { waitFor } from '../support/index.ts';
import { natsSkip } from '../support/nats.ts';
import { clusterBed } from './cluster-bed.ts';

const TK_PROBE = fileURLToPath(new URL('../fixtures/daemon/tk_probe.mjs', import.meta.url));

describe('cluster toolkit ps / recycle', natsSkip(), () => {
  it('lists every node\'s runtimes with its node, and recycle reaches the node holding the runtime', async (t) => {
    const bed = await clusterBed(t, { plugins: [], pluginFiles: [TK_PROBE], nodes: 2 });
    const sg = bed.site.sg;
    const project = await sg.findOne('Project', [], ['id', 'tank_name'], { order: [{ field_name: 'id', direction: 'asc' }] });
    assert.ok(project);
    const pid = Number(project['id']);
    const cfgPath = writeConfig(join(bed.dir, 'configs', 'a'), { core: { localized: { version: 'v1.2.3-alpha', api3Version: '3.1.2' } }, projectId: pid });
    const pc = await sg.findOne('PipelineConfiguration', [['project', 'is', { type: 'Project', id: pid }]], ['id']);
    assert.ok(pc);
    await sg.update('PipelineConfiguration', Number(pc['id']), { linux_path: cfgPath, plugin_ids: null, descriptor: null });

    const held = await bed.allHeld();
    const owner = bed.holderOf(held, 'tk_probe');
    const other = owner === 0 ? 1 : 0;
    const ownerId = bed.nodeIds[owner] as string;
    await sg.create('Shot', { code: 'tk1', project: { type: 'Project', id: pid } });

    // Node B's status lists node A's runtime (the nodes are asked every lease check).
    const view = await waitFor(async () => {
      const v = await bed.view(other);
      return v?.nodes?.some((n) => n.nodeId === ownerId && n.runtimes.length === 1 && n.runtimes[0]?.coreVersion !== null) === true ? v : null;
    }, `node ${ownerId}'s runtime seen from the other node`, 90_000);
    const mine = view.nodes?.find((n) => n.nodeId === ownerId);
    assert.deepEqual(mine?.active, ['tk_probe']);
    assert.equal(mine?.runtimes[0]?.coreVersion, 'v1.2.3-alpha');
    assert.deepEqual(view.nodes?.find((n) => n.nodeId !== ownerId)?.runtimes, [], 'the other node runs none');

    const ps = await bed.cli(other, ['toolkit', 'ps', '--json']);
    assert.equal(ps.code, 0, ps.stderr);
    const listed = JSON.parse(ps.stdout) as Array<{ node: string; runtimes: Array<{ coreVersion: string | null }> }>;
    assert.deepEqual(listed.map((n) => [n.node, n.runtimes.map((r) => r.coreVersion)]).sort(), bed.nodeIds.map((id) => [id, id === ownerId ? ['v1.2.3-alpha'] : []]));
    const one = await bed.cli(other, ['toolkit', 'ps', '--node', 'no-such-node']);
    assert.equal(one.errorCode, 'CLUSTER_UNKNOWN_NODE');

    const recycle = await bed.cli(other, ['toolkit', 'recycle', String(project['tank_name'])]);
    assert.equal(recycle.code, 0, recycle.stderr);
    assert.match(recycle.stdout, /recycled 1 runtime/);
    await waitFor(async () => (await bed.view(other))?.nodes?.find((n) => n.nodeId === ownerId)?.runtimes.length === 0, 'the runtime on the owner to go', 60_000);
  });
});
