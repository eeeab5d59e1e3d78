// Placement of partitions over nodes (cluster/placement.ts): balanced by
// weighted active projects, sticky, and the same on every node.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { partitionOf } from '../../src/cluster/index.ts';
import { partitionWeights, placePartitions, WorkWindow, type ProjectWork } from '../../src/cluster/placement.ts';

const P = 32;

/** Work of `projects` projects (ids 1..n), `events` each, by partition. */
function workOf(projects: number[], events: (project: number) => number = () => 10): Map<number, ProjectWork> {
  const work = new Map<number, Map<number, number>>();
  for (const id of projects) {
    const p = partitionOf(id, P);
    const m = work.get(p) ?? new Map<number, number>();
    work.set(p, m);
    m.set(id, events(id));
  }
  return work;
}

function projectsOn(owner: ReadonlyMap<number, string>, work: ReadonlyMap<number, ProjectWork>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [p, node] of owner) out.set(node, (out.get(node) ?? 0) + (work.get(p)?.size ?? 0));
  return out;
}

const range = (n: number, from = 1): number[] => Array.from({ length: n }, (_, i) => from + i);

describe('partition placement', () => {
  it('spreads 30 equally busy projects 10/10/10 over 3 nodes, though the partitions they hash into are uneven', () => {
    const work = workOf(range(30));
    const sizes = [...work.values()].map((m) => m.size);
    assert.ok(sizes.some((s) => s > 1), 'some partition holds more than one project (the case a count of partitions gets wrong)');
    const { owner } = placePartitions({ nodes: ['n1', 'n2', 'n3'], partitions: P, owners: new Map(), work, tolerance: 0.1 });
    assert.equal(owner.size, P, 'every partition placed');
    assert.deepEqual([...projectsOn(owner, work).values()].sort(), [10, 10, 10]);
  });

  it('is the same on every node: the order nodes are listed in changes nothing', () => {
    const work = workOf(range(30), (id) => id);
    const a = placePartitions({ nodes: ['n1', 'n2', 'n3'], partitions: P, owners: new Map(), work, tolerance: 0.1 });
    const b = placePartitions({ nodes: ['n3', 'n1', 'n2'], partitions: P, owners: new Map(), work, tolerance: 0.1 });
    assert.deepEqual([...a.owner].sort((x, y) => x[0] - y[0]), [...b.owner].sort((x, y) => x[0] - y[0]));
  });

  it('is sticky: with the load balanced, every partition stays with its owner', () => {
    const work = workOf(range(30));
    const first = placePartitions({ nodes: ['n1', 'n2', 'n3'], partitions: P, owners: new Map(), work, tolerance: 0.1 });
    // Work drifts a little (a project twice as busy as the others): nothing moves.
    const drift = workOf(range(30), (id) => (id === 7 ? 14 : 10));
    const again = placePartitions({ nodes: ['n1', 'n2', 'n3'], partitions: P, owners: first.owner, work: drift, tolerance: 0.1 });
    assert.deepEqual(again.owner, first.owner);
  });

  it('is sticky under noisy work: events per project that move with bursts and node speed (within twice the mean) move nothing', () => {
    const work = workOf(range(30));
    const first = placePartitions({ nodes: ['n1', 'n2', 'n3'], partitions: P, owners: new Map(), work, tolerance: 0.1 });
    for (let turn = 0; turn < 20; turn++) {
      // Each project between 5 and 19 events in the window, changing every turn.
      const noisy = workOf(range(30), (id) => 5 + ((id * 7 + turn * 13) % 15));
      const again = placePartitions({ nodes: ['n1', 'n2', 'n3'], partitions: P, owners: first.owner, work: noisy, tolerance: 0.1 });
      assert.deepEqual(again.owner, first.owner, `turn ${turn}: nothing moved`);
    }
  });

  it('a node joining takes a third of the projects; the others keep theirs (only moved partitions change hands)', () => {
    const work = workOf(range(30));
    const two = placePartitions({ nodes: ['n1', 'n2'], partitions: P, owners: new Map(), work, tolerance: 0.1 });
    assert.deepEqual([...projectsOn(two.owner, work).values()].sort(), [15, 15]);
    const three = placePartitions({ nodes: ['n1', 'n2', 'n3'], partitions: P, owners: two.owner, work, tolerance: 0.1 });
    const counts = projectsOn(three.owner, work);
    assert.ok((counts.get('n3') ?? 0) >= 9, `n3 took its share: ${JSON.stringify([...counts])}`);
    for (const [p, node] of three.owner) {
      if (node !== 'n3') assert.equal(node, two.owner.get(p), `partition ${p} stayed where it was or moved to the new node`);
    }
  });

  it('a node gone: its partitions go to the live nodes, the others stay', () => {
    const work = workOf(range(30));
    const three = placePartitions({ nodes: ['n1', 'n2', 'n3'], partitions: P, owners: new Map(), work, tolerance: 0.1 });
    const owners = new Map([...three.owner].filter(([, n]) => n !== 'n2'));
    const two = placePartitions({ nodes: ['n1', 'n3'], partitions: P, owners, work, tolerance: 0.1 });
    assert.ok([...two.owner.values()].every((n) => n === 'n1' || n === 'n3'));
    for (const [p, node] of owners) assert.equal(two.owner.get(p), node);
    assert.deepEqual([...projectsOn(two.owner, work).values()].sort(), [15, 15]);
  });

  it('weighs projects by their recent work: the node with a very busy project gets fewer projects', () => {
    const work = workOf(range(6), (id) => (id === 1 ? 100 : 10));
    const weights = partitionWeights(work);
    const busy = partitionOf(1, P);
    const quiet = [...work].find(([p, m]) => p !== busy && m.size === 1)?.[0] as number;
    assert.ok((weights.get(busy) ?? 0) > 2 * (weights.get(quiet) ?? 0), 'the busy project weighs more than two quiet ones');
    const { owner } = placePartitions({ nodes: ['n1', 'n2'], partitions: P, owners: new Map(), work, tolerance: 0 });
    const counts = projectsOn(owner, work);
    const busyNode = owner.get(busy) as string;
    const other = busyNode === 'n1' ? 'n2' : 'n1';
    assert.ok((counts.get(busyNode) ?? 0) < (counts.get(other) ?? 0), `the busy project's node holds fewer projects: ${JSON.stringify([...counts])}`);
  });

  it('no nodes: nothing placed', () => {
    assert.equal(placePartitions({ nodes: [], partitions: P, owners: new Map(), work: new Map(), tolerance: 0.1 }).owner.size, 0);
  });
});

describe('recent work window', () => {
  it('counts events per partition and project over the window, changing only when a bucket closes', () => {
    const w = new WorkWindow(6000, 6, 0);
    w.note(3, 101, 10);
    w.note(3, 101, 20);
    w.note(5, null, 30);
    assert.equal(w.snapshot(500).size, 0, 'the open bucket is not counted yet');
    const s = w.snapshot(1000);
    assert.equal(s.get(3)?.get(101), 2);
    assert.equal(s.get(5)?.get(0), 1, 'events with no project count under project 0');
    assert.equal(w.snapshot(8000).size, 0, 'gone once the window has passed');
  });
});
