// This node's part in placement: announces what it holds and its recent
// work in its heartbeat, computes the placement every node computes from the
// same heartbeats, and tells its spread plugins which partitions are theirs.
import type { Logger } from 'pino';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { ClusterPlacementOptions } from '../config/index.ts';
import type { HeldPartition, Membership, MemberView, NodeAnnouncement } from './membership.ts';
import type { ClusterNames } from './names.ts';
import { placePartitions, PlacementMemory, WorkWindow, type Placement } from './placement.ts';
import type { PartitionPlacement } from './partition-worker.ts';

/** What the coordinator asks of each spread plugin on this node. */
export interface PartitionHolder {
  readonly pluginId: string;
  readonly inFlight: number;
  held(): Record<string, HeldPartition>;
}

export interface PartitionCoordinatorOptions {
  nodeId: string;
  names: ClusterNames;
  partitions: number;
  placement: ClusterPlacementOptions;
  membership: Membership;
  jsm: JetStreamManager;
  logger: Logger;
  /** How often the last sequence of each partition is read (for the status only). */
  checkMs: number;
  /** This node's Toolkit runtimes, for the heartbeat. */
  runtimes?: () => Array<{ project: number; state: string }>;
}

/** Placement for this node's spread plugins, from the heartbeats of every node. */
export class PartitionCoordinator implements PartitionPlacement {
  readonly #opts: PartitionCoordinatorOptions;
  readonly #work: WorkWindow;
  readonly #memory: PlacementMemory;
  /** The moves this node announces (partitions it holds, placed elsewhere). */
  #moving: Record<string, string> = {};
  /** The moves in the last heartbeat sent: a partition is let go only once its move was announced. */
  #announcedMoves: ReadonlySet<number> = new Set();
  readonly #holders = new Set<PartitionHolder>();
  readonly #listeners = new Set<() => void>();
  #placement: Placement | null = null;
  /** Partition → the live node holding it, at the last placement. */
  #owners: ReadonlyMap<number, string> = new Map();
  #mine: ReadonlySet<number> = new Set();
  #lastSeqs = new Map<number, number>();
  #lastSeqsAt = -Infinity;
  #reading: Promise<void> | null = null;
  #unsubscribe: (() => void) | null = null;

  constructor(opts: PartitionCoordinatorOptions) {
    this.#opts = opts;
    this.#work = new WorkWindow(opts.placement.windowMs);
    const { ttlMs, renewMs } = opts.membership.timing;
    // A node placed with a dead holder's partition claims it once the record has not moved for ttlMs on its clock,
    // after it noticed the placement (a heartbeat read) and began to campaign (a check); twice those, for slow machines.
    const claimMs = ttlMs + 2 * (renewMs + opts.checkMs);
    this.#memory = new PlacementMemory({ windowMs: opts.placement.windowMs, holdMs: opts.placement.holdMs, claimMs });
  }

  /** A spread plugin of this node (its holdings go in the heartbeat). */
  add(holder: PartitionHolder): void {
    this.#holders.add(holder);
  }

  start(): void {
    this.#unsubscribe = this.#opts.membership.onRead(() => this.#place());
    this.#opts.membership.start(() => this.announcement());
  }

  /** Leaves placement (the others take this node's partitions as it releases them). */
  async leave(): Promise<void> {
    await this.#opts.membership.leave(() => this.announcement());
    this.#mine = new Set();
    this.#notify();
  }

  async close(): Promise<void> {
    this.#unsubscribe?.();
    await this.#reading;
    await this.#opts.membership.close();
  }

  assigned(): ReadonlySet<number> {
    return this.#mine;
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  heldByLive(partition: number): boolean {
    return this.#owners.has(partition);
  }

  note(partition: number, project: number | null): void {
    this.#work.note(partition, project);
  }

  /** This node's heartbeat: what it holds, its recent work, its callbacks in flight. */
  announcement(): NodeAnnouncement {
    const held: NodeAnnouncement['held'] = {};
    let inFlight = 0;
    for (const h of this.#holders) {
      const mine = h.held();
      if (Object.keys(mine).length > 0) held[h.pluginId] = mine;
      inFlight += h.inFlight;
    }
    const work: NodeAnnouncement['work'] = {};
    for (const [p, projects] of this.#work.snapshot()) {
      work[String(p)] = Object.fromEntries([...projects].map(([project, n]) => [String(project), n]));
    }
    this.#announcedMoves = new Set(Object.keys(this.#moving).map(Number));
    return {
      held, work, inFlight, ...(Object.keys(this.#moving).length > 0 ? { moving: this.#moving } : {}),
      ...(this.#opts.runtimes ? { runtimes: this.#opts.runtimes() } : {}),
    };
  }

  /** Every node as this node sees it. */
  members(): Map<string, MemberView> {
    return this.#opts.membership.members();
  }

  /** The last placement computed (null before it settled). */
  get placement(): Placement | null {
    return this.#placement;
  }

  /** Last stream sequence per partition (read every checkMs; for the status). */
  get lastSeqs(): ReadonlyMap<number, number> {
    return this.#lastSeqs;
  }

  #place(): void {
    const membership = this.#opts.membership;
    // A node that just started has read the others once: wait for a second read, so nodes starting together see each other.
    if (membership.reads < 2) return;
    const members = membership.members();
    const live = [...members].filter(([, m]) => m.alive).map(([id]) => id);
    const owners = ownersFrom(members);
    this.#owners = owners;
    const now = performance.now();
    const self = this.#opts.nodeId;
    const { pinned, barred } = this.#memory.observe({
      partitions: this.#opts.partitions, self, owners, live: new Set(live), moving: movesFrom(members, owners, self), now,
    });
    const work = new Map<number, Map<number, number>>();
    for (const [id, m] of members) {
      for (const [p, projects] of Object.entries(m.report.work)) {
        // A node gone (or leaving) keeps its recent work on its partitions while they wait for a claim, then fading as
        // the new owner's count grows (PlacementMemory.goneShare): dropped at once, they would look idle and be moved
        // again once their work showed; kept whole, summed with the new owner's, they would look twice as busy.
        const share = m.alive ? 1 : this.#memory.goneShare(id, m.ageMs, Number(p), now);
        if (share === 0) continue;
        const into = work.get(Number(p)) ?? new Map<number, number>();
        work.set(Number(p), into);
        for (const [project, n] of Object.entries(projects)) into.set(Number(project), (into.get(Number(project)) ?? 0) + n * share);
      }
    }
    this.#placement = placePartitions({
      nodes: live, partitions: this.#opts.partitions, owners, work, tolerance: this.#opts.placement.tolerance, pinned, barred,
    });
    this.#memory.chose(this.#placement.owner, now);
    this.#moving = this.#memory.moving(self, this.#placement.owner);
    const mine = new Set<number>();
    for (const [p, node] of this.#placement.owner) if (node === self) mine.add(p);
    // A partition this node moves elsewhere is let go once a heartbeat announced the move (the next beat): every node
    // then reads the move before it reads the partition released, and pins it where this node meant.
    for (const p of Object.keys(this.#moving).map(Number)) if (!this.#announcedMoves.has(p) && owners.get(p) === self) mine.add(p);
    if (!sameSet(mine, this.#mine)) {
      this.#opts.logger.info({ partitions: [...mine].sort((a, b) => a - b), nodes: live }, 'partitions placed on this node changed');
      this.#mine = mine;
      this.#notify();
    }
    if (performance.now() - this.#lastSeqsAt >= this.#opts.checkMs) {
      this.#lastSeqsAt = performance.now();
      this.#reading ??= this.#readLastSeqs().finally(() => {
        this.#reading = null;
      });
    }
  }

  async #readLastSeqs(): Promise<void> {
    const { jsm, names, partitions } = this.#opts;
    const next = new Map<number, number>();
    try {
      for (let p = 0; p < partitions; p++) {
        const m = await jsm.streams.getMessage(names.eventStream, { last_by_subj: names.eventSubject(p) });
        if (m !== null) next.set(p, m.seq);
      }
      this.#lastSeqs = next;
    } catch (err) {
      this.#opts.logger.debug({ err }, 'reading the partitions\' last sequences failed; the status shows the last ones read');
    }
  }

  #notify(): void {
    for (const listener of this.#listeners) listener();
  }
}

/**
 * Who owns each partition now, from live nodes' heartbeats: the node holding
 * most of its (plugin, partition) leases (during a handover two may list it;
 * ties go to the lower node id, as every node decides alike).
 */
export function ownersFrom(members: ReadonlyMap<string, MemberView>): Map<number, string> {
  const counts = new Map<number, Map<string, number>>();
  for (const [id, m] of members) {
    if (!m.alive) continue;
    for (const partitions of Object.values(m.report.held)) {
      for (const p of Object.keys(partitions)) {
        const byNode = counts.get(Number(p)) ?? new Map<string, number>();
        counts.set(Number(p), byNode);
        byNode.set(id, (byNode.get(id) ?? 0) + 1);
      }
    }
  }
  const owners = new Map<number, string>();
  for (const [p, byNode] of counts) {
    const best = [...byNode].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0];
    if (best !== undefined) owners.set(p, best[0]);
  }
  return owners;
}

/**
 * The moves live nodes announce (partition → new node): the holder's own
 * announcement first; for a partition no live node holds (just released),
 * the lowest node id's.
 */
export function movesFrom(members: ReadonlyMap<string, MemberView>, owners: ReadonlyMap<number, string>, self: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const [id, m] of [...members].sort((a, b) => a[0].localeCompare(b[0]))) {
    if (!m.alive || id === self) continue;
    for (const [p, node] of Object.entries(m.report.moving ?? {})) {
      const partition = Number(p);
      if (owners.get(partition) === id || (!out.has(partition) && owners.get(partition) === undefined)) out.set(partition, node);
    }
  }
  return out;
}

function sameSet(a: ReadonlySet<number>, b: ReadonlySet<number>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}
