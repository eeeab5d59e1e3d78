// The scale-out part of the status (cluster/partition-status.ts), from node
// heartbeats: a spread plugin's cursor over its partitions, partition owners
// and each node's load.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MemberView, NodeReport } from '../../src/cluster/membership.ts';
import { scaleStatus, spreadPluginStatus } from '../../src/cluster/partition-status.ts';

function member(nodeId: string, held: NodeReport['held'], alive = true, work: NodeReport['work'] = {}): [string, MemberView] {
  return [nodeId, { alive, ageMs: alive ? 100 : 60_000, report: { format: 1, nodeId, beat: 1, leaving: false, held, work, inFlight: 0 } }];
}

const at = (highSeq: number, highId: number, pending = 0) => ({ highSeq, highId, pending, inFlight: 0 });

describe('spread plugin status', () => {
  it('shows the lowest cursor of the partitions still behind, pending summed, and the node holding most partitions', () => {
    const members = new Map([
      member('n1', { k: { 0: at(10, 110), 1: at(20, 120, 2) } }),
      member('n2', { k: { 2: at(30, 130) } }),
    ]);
    // Partition 1 has messages up to 25: behind; partitions 0 and 2 caught up.
    const s = spreadPluginStatus('k', members, new Map([[0, 10], [1, 25], [2, 30]]), 3, { highSeq: 5, highId: 105 });
    assert.deepEqual(s, { holder: 'n1', highSeq: 20, highId: 120, pending: 2, lagging: 1 });
  });

  it('once every partition caught up, shows the highest cursor: the newest event handled', () => {
    const members = new Map([member('n1', { k: { 0: at(10, 110) } }), member('n2', { k: { 1: at(25, 125) } })]);
    const s = spreadPluginStatus('k', members, new Map([[0, 10], [1, 25]]), 2, { highSeq: 5, highId: 105 });
    assert.deepEqual(s, { holder: 'n1', highSeq: 25, highId: 125, pending: 0, lagging: 0 });
  });

  it('a partition with messages that nobody holds is behind from the plugin\'s origin', () => {
    const s = spreadPluginStatus('k', new Map([member('n1', { k: { 0: at(10, 110) } })]), new Map([[0, 10], [1, 8]]), 2, { highSeq: 5, highId: 105 });
    assert.equal(s.lagging, 1);
    assert.equal(s.highSeq, 5);
  });

  it('a gone node\'s last cursor counts until a live node holds the partition; the holder is a live node', () => {
    const members = new Map([member('n1', { k: { 0: at(10, 110) } }, false), member('n2', { k: { 1: at(12, 112) } })]);
    const s = spreadPluginStatus('k', members, new Map([[0, 14], [1, 12]]), 2, null);
    assert.equal(s.holder, 'n2');
    assert.equal(s.highSeq, 10, 'partition 0 is behind its last announced cursor');
  });
});

describe('scale status', () => {
  it('lists each node\'s partitions and active projects, and each partition\'s holders by plugin name', () => {
    const members = new Map([
      member('n1', { k: { 0: at(1, 1) }, e: { 0: at(1, 1) } }, true, { 0: { 101: 4, 102: 1 } }),
      member('n2', { k: { 1: at(1, 1) } }, true, { 1: { 103: 2 } }),
    ]);
    const placement = { owner: new Map([[0, 'n1'], [1, 'n2']]), load: new Map([['n1', 2], ['n2', 1]]) };
    const s = scaleStatus(members, placement, 2, new Map([['k', 'keyed'], ['e', 'entity']]));
    assert.deepEqual(s.nodes.map((n) => [n.nodeId, n.partitions, n.activeProjects, n.recentEvents, n.load]), [['n1', [0], 2, 5, 2], ['n2', [1], 1, 2, 1]]);
    assert.deepEqual(s.owners, [
      { partition: 0, placedOn: 'n1', holders: { keyed: 'n1', entity: 'n1' } },
      { partition: 1, placedOn: 'n2', holders: { keyed: 'n2' } },
    ]);
  });
});
