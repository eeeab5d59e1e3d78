// Placement of partitions over nodes (cluster/placement.ts): balanced by
// weighted active projects, sticky, and the same on every node.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { partitionOf } from '../../src/cluster/index.ts';
import { partitionWeights, placePartitions, PlacementMemory, RETURN_WINDOWS, WorkWindow, type ProjectWork } from '../../src/cluster/placement.ts';

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

describe('placement while partitions change hands', () => {
  const nodes = ['n1', 'n2', 'n3'];

  it('keeps a pinned partition on its node and moves nothing else while one is pinned or free', () => {
    const work = workOf(range(30));
    const first = placePartitions({ nodes, partitions: P, owners: new Map(), work, tolerance: 0.1 });
    // Everything on n1 but one partition pinned to n2: far from balanced, yet nothing moves until the pin is carried out.
    const owners = new Map([...first.owner].map(([p]) => [p, 'n1']));
    const pinnedP = [...owners.keys()][0] as number;
    const pinned = new Map([[pinnedP, 'n2']]);
    const held = placePartitions({ nodes, partitions: P, owners, work, tolerance: 0.1, pinned });
    assert.equal(held.owner.get(pinnedP), 'n2');
    for (const [p, node] of held.owner) if (p !== pinnedP) assert.equal(node, 'n1', `partition ${p} stays while a move is under way`);
    // Once carried out (n2 owns it, nothing pinned), the rebalance runs.
    const after = placePartitions({ nodes, partitions: P, owners: new Map([...owners, [pinnedP, 'n2']]), work, tolerance: 0.1 });
    assert.deepEqual([...projectsOn(after.owner, work).values()].sort(), [10, 10, 10]);
  });

  it('never moves a partition back to a node it left recently, nor places a free one there while another node can take it', () => {
    const work = workOf(range(30));
    const two = placePartitions({ nodes: ['n1', 'n2'], partitions: P, owners: new Map(), work, tolerance: 0.1 });
    const barred = new Map<number, Set<string>>();
    for (const p of two.owner.keys()) barred.set(p, new Set(['n3']));
    const three = placePartitions({ nodes, partitions: P, owners: two.owner, work, tolerance: 0.1, barred });
    assert.deepEqual(three.owner, two.owner, 'n3 gets none of the partitions that left it');
    const free = placePartitions({ nodes, partitions: P, owners: new Map(), work, tolerance: 0.1, barred });
    assert.ok([...free.owner.values()].every((n) => n !== 'n3'), 'free partitions avoid the node they left');
    const all = new Map([...barred.keys()].map((p) => [p, new Set(nodes)]));
    assert.equal(placePartitions({ nodes, partitions: P, owners: new Map(), work, tolerance: 0.1, barred: all }).owner.size, P, 'placed anyway when every node is barred');
  });

  it('gives a dead node\'s partitions out once and keeps that choice until they are claimed, however the loads move meanwhile', () => {
    const memory = new PlacementMemory({ windowMs: 6000, holdMs: 2000, claimMs: 9000 });
    const work = workOf(range(30));
    const three = placePartitions({ nodes, partitions: P, owners: new Map(), work, tolerance: 0.1 });
    memory.observe({ partitions: P, self: 'n1', owners: three.owner, live: new Set(nodes), moving: new Map(), now: 0 });
    memory.chose(three.owner, 0);
    // n2 dies: its partitions are free.
    const owners = new Map([...three.owner].filter(([, n]) => n !== 'n2'));
    const live = new Set(['n1', 'n3']);
    const first = memory.observe({ partitions: P, self: 'n1', owners, live, moving: new Map(), now: 5000 });
    assert.equal(first.pinned.size, 0, 'nothing pinned to the dead node');
    const given = placePartitions({ nodes: [...live], partitions: P, owners, work, tolerance: 0.1, ...first });
    memory.chose(given.owner, 5000);
    // At every later read before the claim, the loads differ (here: every project busy in turn), the choice does not.
    for (let turn = 1; turn <= 8; turn++) {
      const now = 5000 + turn * 1000;
      const noisy = workOf(range(30), (id) => (id % 8 === turn % 8 ? 100 : 1 + ((id * turn) % 5)));
      const again = memory.observe({ partitions: P, self: 'n1', owners, live, moving: new Map(), now });
      const placed = placePartitions({ nodes: [...live], partitions: P, owners, work: noisy, tolerance: 0.1, ...again });
      memory.chose(placed.owner, now);
      assert.deepEqual(placed.owner, given.owner, `read ${turn}: the dead node's partitions stay where they were given`);
    }
    // Not claimed within claimMs: placed again.
    const late = memory.observe({ partitions: P, self: 'n1', owners, live, moving: new Map(), now: 5000 + 9000 });
    assert.equal(late.pinned.size, 0, 'the choice lapses when its node did not claim in time');
  });

  it('follows the move a holder announces, and counts a dead node\'s work whole until its partition is claimed', () => {
    const memory = new PlacementMemory({ windowMs: 6000, holdMs: 2000, claimMs: 9000 });
    const owners = new Map([[1, 'n1'], [2, 'n2']]);
    const r = memory.observe({ partitions: 3, self: 'n3', owners, live: new Set(nodes), moving: new Map([[1, 'n3']]), now: 0 });
    assert.equal(r.pinned.get(1), 'n3', 'n1 announced it moves partition 1 to n3');
    // n2 dies holding partition 2: its work counts whole while 2 waits, then fades once n3 claims it.
    memory.observe({ partitions: 3, self: 'n3', owners: new Map([[1, 'n1']]), live: new Set(['n1', 'n3']), moving: new Map(), now: 6000 });
    assert.equal(memory.goneShare('n2', 6000, 2, 9000), 1);
    memory.observe({ partitions: 3, self: 'n3', owners: new Map([[1, 'n1'], [2, 'n3']]), live: new Set(['n1', 'n3']), moving: new Map(), now: 10_000 });
    assert.equal(memory.goneShare('n2', 10_000, 2, 13_000), 0.5);
    const back = memory.observe({ partitions: 3, self: 'n3', owners: new Map([[1, 'n1'], [2, 'n3']]), live: new Set(['n1', 'n2', 'n3']), moving: new Map(), now: 11_000 });
    assert.ok(back.barred.get(2)?.has('n2'), 'partition 2 is not moved back to n2 within the window');
    assert.ok(memory.observe({ partitions: 3, self: 'n3', owners: new Map([[2, 'n3']]), live: new Set(nodes), moving: new Map(), now: 16_000 }).barred.get(2)?.has('n2'), 'still barred a window later');
    assert.equal(memory.observe({ partitions: 3, self: 'n3', owners: new Map([[2, 'n3']]), live: new Set(nodes), moving: new Map(), now: 10_000 + RETURN_WINDOWS * 6000 }).barred.size, 0, 'the bar lapses after RETURN_WINDOWS windows');
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
