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
  /**
   * Partitions whose earlier choice of node holds until it is carried out
   * (PlacementMemory): a free one until it is claimed, one moving until its
   * holder handed it over. Counted on that node, never moved meanwhile.
   */
  readonly pinned?: ReadonlyMap<number, string>;
  /** Nodes each partition left recently: it is not moved back there (nor placed there while another node can take it). */
  readonly barred?: ReadonlyMap<number, ReadonlySet<string>>;
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
 * 1. a pinned partition goes to the node chosen for it earlier; any other
 *    stays with its live owner (sticky: its projects' runtimes stay warm);
 * 2. the others go, heaviest first, to the least loaded node (idle
 *    partitions to the node with the fewest partitions), avoiding the nodes
 *    each left recently;
 * 3. only when nothing is pinned or free (no takeover or move under way:
 *    the loads are not yet what they will be): while the heaviest
 *    node carries more than the lightest by the tolerance, the partition that
 *    best evens the two moves from one to the other, never back to a node it
 *    left recently; idle partitions even out by count likewise.
 */
export function placePartitions(input: PlacementInput): Placement {
  const nodes = [...new Set(input.nodes)].sort();
  const owner = new Map<number, string>();
  const load = new Map<string, number>(nodes.map((n) => [n, 0]));
  const count = new Map<string, number>(nodes.map((n) => [n, 0]));
  if (nodes.length === 0) return { owner, load };
  const weights = partitionWeights(input.work);
  const weight = (p: number): number => weights.get(p) ?? 0;
  const barred = (p: number, node: string): boolean => input.barred?.get(p)?.has(node) === true;
  const give = (p: number, node: string, sign = 1): void => {
    load.set(node, (load.get(node) ?? 0) + sign * weight(p));
    count.set(node, (count.get(node) ?? 0) + sign);
  };
  const free: number[] = [];
  /** Partitions still on their way to a node (pinned, or free): while there are any, nothing is rebalanced. */
  let settling = 0;
  for (let p = 0; p < input.partitions; p++) {
    const o = input.owners.get(p);
    const pin = input.pinned?.get(p);
    if (pin !== undefined && load.has(pin)) {
      owner.set(p, pin);
      give(p, pin);
      if (pin !== o) settling++;
    } else if (o !== undefined && load.has(o)) {
      owner.set(p, o);
      give(p, o);
    } else free.push(p);
  }
  settling += free.length;
  free.sort((a, b) => weight(b) - weight(a) || a - b);
  for (const p of free) {
    const byLoad = (a: string, b: string): number => (load.get(a) ?? 0) - (load.get(b) ?? 0) || (count.get(a) ?? 0) - (count.get(b) ?? 0) || a.localeCompare(b);
    const byCount = (a: string, b: string): number => (count.get(a) ?? 0) - (count.get(b) ?? 0) || (load.get(a) ?? 0) - (load.get(b) ?? 0) || a.localeCompare(b);
    const open = nodes.filter((n) => !barred(p, n));
    const node = (open.length > 0 ? open : nodes).sort(weight(p) > 0 ? byLoad : byCount)[0] as string;
    owner.set(p, node);
    give(p, node);
  }
  // A takeover or a move under way: the loads are not yet what they will be, and a choice made is kept until carried out.
  if (settling > 0) return { owner, load };
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
      if (o !== heavy || w <= 0 || w >= gap || barred(p, light)) continue;
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
    const idle = [...owner].filter(([p, o]) => o === many && weight(p) === 0 && !barred(p, few)).map(([p]) => p).sort((a, b) => a - b)[0];
    if (idle === undefined) break;
    give(idle, many, -1);
    owner.set(idle, few);
    give(idle, few);
  }
  return { owner, load };
}

/**
 * A partition is not moved back to a node it left for this many placement
 * windows: with a bar of one window, a rebalance on a loaded machine still
 * moved a partition back and forth every 15-18 s (window 6 s) after a kill,
 * as loads settled and leases were lost and taken again.
 */
export const RETURN_WINDOWS = 3;

export interface PlacementMemoryOptions {
  /** placement.windowMs: a gone owner's work fades over it; a node a partition left stays barred to it RETURN_WINDOWS times it. */
  readonly windowMs: number;
  /** placement.holdMs: a holder keeps a partition this long before it hands it over. */
  readonly holdMs: number;
  /** How long a node placed with a free partition has to claim it (a dead holder's lease must age ttlMs first). */
  readonly claimMs: number;
}

/**
 * What one node remembers between placements, so the placement after a
 * death or a move holds still until it is carried out (docs/ARCHITECTURE.md,
 * "Scale-out"):
 * - a free partition keeps the node chosen for it until it is claimed (or
 *   `claimMs` passed: that node did not take it, so it is placed again), and a
 *   partition moving keeps its new node until its holder handed it over
 *   (`holdMs + claimMs`). A dead node's partitions are therefore given out
 *   once, in one pass, not again at each heartbeat read as loads change;
 * - a partition is not moved back to a node it left within `RETURN_WINDOWS` windows;
 * - a gone node's recent work on a partition it held counts whole until the
 *   partition is claimed, then fades over `windowMs` as the new owner's own
 *   count grows (waiting events are work; an unclaimed partition is not idle).
 */
export class PlacementMemory {
  readonly #opts: PlacementMemoryOptions;
  /** The node each partition was last placed on, and since when. */
  readonly #chosen = new Map<number, { node: string; at: number }>();
  /** When each partition with no live owner was first seen so (or last placed again). */
  readonly #freeSince = new Map<number, number>();
  /** The last live owner seen, and since when. */
  readonly #owner = new Map<number, { node: string; at: number }>();
  /** Partition → node it left → when. */
  readonly #left = new Map<number, Map<string, number>>();

  constructor(opts: PlacementMemoryOptions) {
    this.#opts = opts;
  }

  /**
   * Takes in who owns what now; returns the pins and bars for the next
   * placement. `moving`: the moves holders announce (partition → new node);
   * a holder's own choice decides its partition's move, so every node pins
   * what the holder announced rather than its own view of the loads.
   */
  observe(input: { partitions: number; self: string; owners: ReadonlyMap<number, string>; live: ReadonlySet<string>; moving: ReadonlyMap<number, string>; now: number }): {
    pinned: Map<number, string>; barred: Map<number, Set<string>>;
  } {
    const { partitions, self, owners, live, moving, now } = input;
    const { windowMs, holdMs, claimMs } = this.#opts;
    const pinned = new Map<number, string>();
    const barred = new Map<number, Set<string>>();
    for (let p = 0; p < partitions; p++) {
      const o = owners.get(p);
      const last = this.#owner.get(p);
      if (o !== undefined) {
        this.#freeSince.delete(p);
        if (last?.node !== o) {
          if (last !== undefined) this.#leave(p, last.node, now);
          this.#owner.set(p, { node: o, at: now });
        }
      } else if (!this.#freeSince.has(p)) {
        this.#freeSince.set(p, now);
        // Its holder gone (dead or leaving, no move announced): placed afresh, in one pass with the others it held, not
        // where an earlier view of the loads put it. A live holder's release (a reload) keeps it where it was.
        if (moving.get(p) === undefined && (last === undefined || !live.has(last.node))) this.#chosen.delete(p);
      }
      const left = this.#left.get(p);
      for (const [node, at] of left ?? []) if (now - at >= RETURN_WINDOWS * windowMs) left?.delete(node);
      if (left !== undefined && left.size > 0) barred.set(p, new Set(left.keys()));
      else this.#left.delete(p);
      const announced = moving.get(p);
      if (announced !== undefined && live.has(announced) && announced !== o && (o === undefined || o !== self)) {
        pinned.set(p, announced);
        continue;
      }
      const chosen = this.#chosen.get(p);
      if (chosen === undefined || chosen.node === o || !live.has(chosen.node)) continue;
      if (o === undefined) {
        const since = Math.max(chosen.at, this.#freeSince.get(p) ?? now);
        if (now - since < claimMs) pinned.set(p, chosen.node);
        // Not claimed in time: placed again (and given a new time to be claimed).
        else this.#freeSince.set(p, now);
      } else if (o === self && now - chosen.at < holdMs + claimMs) pinned.set(p, chosen.node);
    }
    return { pinned, barred };
  }

  /** The moves this node announces: partitions it holds (or last held) that are placed on another node. */
  moving(self: string, placement: ReadonlyMap<number, string>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [p, node] of placement) if (node !== self && this.#owner.get(p)?.node === self) out[String(p)] = node;
    return out;
  }

  /** Takes in the placement just computed. */
  chose(owner: ReadonlyMap<number, string>, now: number): void {
    for (const [p, node] of owner) if (this.#chosen.get(p)?.node !== node) this.#chosen.set(p, { node, at: now });
  }

  /** How much of a gone node's announced work on `partition` still counts (0..1). */
  goneShare(node: string, ageMs: number, partition: number, now: number): number {
    const { windowMs } = this.#opts;
    const owner = this.#owner.get(partition);
    const fade = (since: number): number => Math.min(1, Math.max(0, 1 - since / windowMs));
    // Its own partition, not claimed yet: its events wait, so it weighs what it did.
    if (owner?.node === node && this.#freeSince.has(partition)) return 1;
    // Claimed from it: fades as the new owner's count grows.
    const leftAt = this.#left.get(partition)?.get(node);
    if (leftAt !== undefined) return fade(now - leftAt);
    return fade(ageMs);
  }

  #leave(p: number, node: string, now: number): void {
    const left = this.#left.get(p) ?? new Map<string, number>();
    this.#left.set(p, left);
    left.set(node, now);
  }
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
