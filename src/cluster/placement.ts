// Which node owns which partition, for the plugins spread over the cluster
// (`concurrency: { by: project | entity }`). Every node computes the same
// placement from the same inputs (the live nodes, who owns what now, and the
// recent work per project that owners announce), claims only the partitions
// placed on it and hands over the others. docs/ARCHITECTURE.md, "Scale-out".

/** Recent work of one project: events handed out in the placement window. */
export type ProjectWork = ReadonlyMap<number, number>;

export interface PlacementInput {
  /** Live nodes (not leaving). */
  readonly nodes: readonly string[];
  readonly partitions: number;
  /** The live node owning each partition now (absent: nobody, or its owner is gone). */
  readonly owners: ReadonlyMap<number, string>;
  /** Recent work per partition: project id → events in the window. */
  readonly work: ReadonlyMap<number, ProjectWork>;
  /**
   * A partition moves off a live owner only while the heaviest node carries
   * more than the lightest by this share of the mean load (and at least one
   * project's worth): the hysteresis that keeps runtimes warm.
   */
  readonly tolerance: number;
}

/** Partition → node, and each node's load (its weighted active projects). */
export interface Placement {
  readonly owner: ReadonlyMap<number, string>;
  readonly load: ReadonlyMap<string, number>;
}

/**
 * One active project's weight, from its share of the mean recent work: 1 up
 * to twice the mean, 2 up to four times, 3 above. In steps, not in
 * proportion: how many events a node hands out in a window moves with its
 * speed and with bursts, and weights following every such change moved
 * partitions (and cold-started their runtimes) over noise (measured:
 * BENCHMARKS.md, "scale-out"). Only a project clearly busier than the others
 * counts as more.
 */
export function projectWeight(share: number): number {
  return share < 2 ? 1 : share < 4 ? 2 : 3;
}

/**
 * The weight of each partition: its active projects, each weighed by its
 * share of the recent work (projectWeight; an idle one is not counted).
 * Active projects come first because each costs a warm runtime on its node;
 * work spreads the callbacks.
 */
export function partitionWeights(work: ReadonlyMap<number, ProjectWork>): Map<number, number> {
  const counts: number[] = [];
  for (const projects of work.values()) for (const n of projects.values()) if (n > 0) counts.push(n);
  const mean = counts.length === 0 ? 1 : counts.reduce((a, b) => a + b, 0) / counts.length;
  const weights = new Map<number, number>();
  for (const [p, projects] of work) {
    let w = 0;
    for (const n of projects.values()) if (n > 0) w += projectWeight(n / mean);
    if (w > 0) weights.set(p, w);
  }
  return weights;
}

/**
 * The placement every node computes alike (deterministic in its inputs):
 * 1. a partition stays with its live owner (sticky: its projects' runtimes
 *    stay warm);
 * 2. the others go, heaviest first, to the least loaded node (idle
 *    partitions to the node with the fewest partitions);
 * 3. while the heaviest node carries more than the lightest by the tolerance,
 *    the partition that best evens the two moves from one to the other.
 */
export function placePartitions(input: PlacementInput): Placement {
  const nodes = [...new Set(input.nodes)].sort();
  const owner = new Map<number, string>();
  const load = new Map<string, number>(nodes.map((n) => [n, 0]));
  const count = new Map<string, number>(nodes.map((n) => [n, 0]));
  if (nodes.length === 0) return { owner, load };
  const weights = partitionWeights(input.work);
  const weight = (p: number): number => weights.get(p) ?? 0;
  const give = (p: number, node: string, sign = 1): void => {
    load.set(node, (load.get(node) ?? 0) + sign * weight(p));
    count.set(node, (count.get(node) ?? 0) + sign);
  };
  const free: number[] = [];
  for (let p = 0; p < input.partitions; p++) {
    const o = input.owners.get(p);
    if (o !== undefined && load.has(o)) {
      owner.set(p, o);
      give(p, o);
    } else free.push(p);
  }
  free.sort((a, b) => weight(b) - weight(a) || a - b);
  for (const p of free) {
    const byLoad = (a: string, b: string): number => (load.get(a) ?? 0) - (load.get(b) ?? 0) || (count.get(a) ?? 0) - (count.get(b) ?? 0) || a.localeCompare(b);
    const byCount = (a: string, b: string): number => (count.get(a) ?? 0) - (count.get(b) ?? 0) || (load.get(a) ?? 0) - (load.get(b) ?? 0) || a.localeCompare(b);
    const node = [...nodes].sort(weight(p) > 0 ? byLoad : byCount)[0] as string;
    owner.set(p, node);
    give(p, node);
  }
  const total = [...load.values()].reduce((a, b) => a + b, 0);
  const threshold = Math.max(1, input.tolerance * (total / nodes.length));
  for (let moves = 0; moves < input.partitions; moves++) {
    const ranked = [...nodes].sort((a, b) => (load.get(a) ?? 0) - (load.get(b) ?? 0) || a.localeCompare(b));
    const light = ranked[0] as string;
    const heavy = ranked[ranked.length - 1] as string;
    const gap = (load.get(heavy) ?? 0) - (load.get(light) ?? 0);
    if (gap <= threshold) break;
    // The partition whose weight is closest to half the gap (a move of w < gap narrows it).
    let best: number | null = null;
    for (const [p, o] of owner) {
      const w = weight(p);
      if (o !== heavy || w <= 0 || w >= gap) continue;
      if (best === null || Math.abs(gap / 2 - w) < Math.abs(gap / 2 - weight(best)) || (Math.abs(gap / 2 - w) === Math.abs(gap / 2 - weight(best)) && p < best)) best = p;
    }
    if (best === null) break;
    give(best, heavy, -1);
    owner.set(best, light);
    give(best, light);
  }
  // Idle partitions even out by count, moving only from a node with two more than another.
  for (let moves = 0; moves < input.partitions; moves++) {
    const ranked = [...nodes].sort((a, b) => (count.get(a) ?? 0) - (count.get(b) ?? 0) || a.localeCompare(b));
    const few = ranked[0] as string;
    const many = ranked[ranked.length - 1] as string;
    if ((count.get(many) ?? 0) - (count.get(few) ?? 0) <= 2) break;
    const idle = [...owner].filter(([p, o]) => o === many && weight(p) === 0).map(([p]) => p).sort((a, b) => a - b)[0];
    if (idle === undefined) break;
    give(idle, many, -1);
    owner.set(idle, few);
    give(idle, few);
  }
  return { owner, load };
}

/**
 * Recent work per partition and project on this node: events handed out,
 * counted in `slots` buckets over `windowMs`. A snapshot changes only when a
 * bucket closes, so nodes reading each other's announcements see the same
 * figures for a while (placement agrees across nodes between bucket turns).
 */
export class WorkWindow {
  readonly #slotMs: number;
  readonly #slots: number;
  /** Closed buckets, oldest first: partition → project → events. */
  #closed: Array<Map<number, Map<number, number>>> = [];
  #open = new Map<number, Map<number, number>>();
  #openedAt: number;
  #snapshot = new Map<number, Map<number, number>>();

  constructor(windowMs: number, slots = 6, now = performance.now()) {
    this.#slots = slots;
    this.#slotMs = Math.max(1, Math.floor(windowMs / slots));
    this.#openedAt = now;
  }

  /** One event of `project` (null: no project) handed out in `partition`. */
  note(partition: number, project: number | null, now = performance.now()): void {
    this.#turn(now);
    const key = project ?? 0;
    const projects = this.#open.get(partition) ?? new Map<number, number>();
    this.#open.set(partition, projects);
    projects.set(key, (projects.get(key) ?? 0) + 1);
  }

  /** The closed buckets summed: partition → project → events. */
  snapshot(now = performance.now()): ReadonlyMap<number, ProjectWork> {
    this.#turn(now);
    return this.#snapshot;
  }

  #turn(now: number): void {
    if (now - this.#openedAt < this.#slotMs) return;
    const elapsed = Math.floor((now - this.#openedAt) / this.#slotMs);
    this.#closed.push(this.#open);
    for (let i = 1; i < Math.min(elapsed, this.#slots); i++) this.#closed.push(new Map());
    this.#closed = this.#closed.slice(-this.#slots);
    this.#open = new Map();
    this.#openedAt += elapsed * this.#slotMs;
    const sum = new Map<number, Map<number, number>>();
    for (const bucket of this.#closed) {
      for (const [p, projects] of bucket) {
        const into = sum.get(p) ?? new Map<number, number>();
        sum.set(p, into);
        for (const [project, n] of projects) into.set(project, (into.get(project) ?? 0) + n);
      }
    }
    this.#snapshot = sum;
  }
}
