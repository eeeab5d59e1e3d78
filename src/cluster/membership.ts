// Which nodes are in the cluster: each node writes a heartbeat to one KV
// bucket (its own key) every renewMs, with what it holds and its recent work;
// readers judge a heartbeat's age on their own monotonic clock (2.9.10 has no
// per-key TTL and no expiry events, and clocks of machines differ).
import { Kvm, type KV } from '@nats-io/kv';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { ClusterLeaseOptions } from '../config/index.ts';
import { SgeventdError, sleepLong } from '../shared/index.ts';
import type { ClusterConnection } from './connect.ts';
import { CLUSTER_FORMAT, checkFormat } from './format.ts';
import { kvKeys } from './kv-keys.ts';
import type { ClusterNames } from './names.ts';

const count = z.number().int().nonnegative();

/** One (plugin, partition) this node holds, as it announces it. */
export const heldPartitionSchema = z.object({
  highSeq: count,
  highId: count,
  pending: count,
  inFlight: count,
});
export type HeldPartition = z.output<typeof heldPartitionSchema>;

/** A node's heartbeat (a wire boundary: parsed with zod). */
export const nodeReportSchema = z.object({
  format: z.number(),
  nodeId: z.string(),
  /** Raised by one at every beat. */
  beat: count,
  /** Set by a node stopping gracefully: placement leaves it out while it hands over. */
  leaving: z.boolean(),
  /** pluginId → partition → cursor, for the partitions this node holds. */
  held: z.record(z.string(), z.record(z.string(), heldPartitionSchema)),
  /** partition → project id → events handed out in the placement window. */
  work: z.record(z.string(), z.record(z.string(), count)),
  /** Callbacks running on the node, over every plugin. */
  inFlight: count,
  /** Partitions this node holds (or just handed over) that its placement moves: partition → new node. Every node follows the holder's choice. */
  moving: z.record(z.string(), z.string()).optional(),
  /** Warm Toolkit runtimes on the node (`toolkit ps` of this node), when it reports them. */
  runtimes: z.array(z.object({ project: count, state: z.string() })).optional(),
});
export type NodeReport = z.output<typeof nodeReportSchema>;

/** What a node says of itself at each beat (the rest is filled in here). */
export type NodeAnnouncement = Omit<NodeReport, 'format' | 'nodeId' | 'beat' | 'leaving'>;

/** A node as this node sees it. */
export interface MemberView {
  readonly report: NodeReport;
  /** Its heartbeat moved within the TTL (on this node's clock) and it is not leaving. */
  readonly alive: boolean;
  /** Milliseconds since its heartbeat last moved, on this node's clock. */
  readonly ageMs: number;
}

export interface MembershipOptions {
  readonly conn: Pick<ClusterConnection, 'js' | 'jsm'>;
  readonly names: ClusterNames;
  readonly nodeId: string;
  readonly replicas: number;
  readonly timing: ClusterLeaseOptions;
  readonly logger: Pick<Logger, 'warn' | 'info' | 'debug'>;
}

interface Seen {
  revision: number;
  /** performance.now() when the revision last changed. */
  at: number;
  report: NodeReport;
}

/**
 * Heartbeats of every node. `start(announce)` beats every renewMs and reads
 * the others after each beat; `members()` answers from the last read.
 */
export class Membership {
  readonly #opts: MembershipOptions;
  readonly #kv: KV;
  readonly #seen = new Map<string, Seen>();
  readonly #stop = new AbortController();
  readonly #listeners = new Set<() => void>();
  #beat = 0;
  #leaving = false;
  #running: Promise<void> | null = null;
  #reads = 0;

  private constructor(opts: MembershipOptions, kv: KV) {
    this.#opts = opts;
    this.#kv = kv;
  }

  /** Opens (or creates) the heartbeat bucket; every node may call it at once. */
  static async open(opts: MembershipOptions): Promise<Membership> {
    const kvm = new Kvm(opts.conn.js);
    // Nodes starting together may time out on a parallel create (nats-server #3880; seen on a loaded machine): tried again.
    for (let attempt = 1; ; attempt++) {
      try {
        // A key left by a node that died is removed after an hour; until then its age says it is gone.
        return new Membership(opts, await kvm.create(opts.names.nodesBucket, { replicas: opts.replicas, history: 1, ttl: 3_600_000 }));
      } catch (err) {
        if (attempt >= 4) {
          throw new SgeventdError('CLUSTER_NODES_UNAVAILABLE', `the node heartbeat bucket ${opts.names.nodesBucket} could not be opened`, { cause: err, details: { bucket: opts.names.nodesBucket } });
        }
        opts.logger.warn({ err, attempt }, 'opening the node heartbeat bucket failed; trying again');
      }
    }
  }

  /** The lease timing heartbeats are judged by. */
  get timing(): ClusterLeaseOptions {
    return this.#opts.timing;
  }

  /** Reads done so far (a node places nothing before it has read the others once). */
  get reads(): number {
    return this.#reads;
  }

  start(announce: () => NodeAnnouncement): void {
    this.#running ??= this.#loop(announce);
  }

  /** Called after every read of the others. */
  onRead(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Every node seen, this one included. */
  members(now = performance.now()): Map<string, MemberView> {
    const out = new Map<string, MemberView>();
    for (const [id, s] of this.#seen) {
      const ageMs = now - s.at;
      const alive = id === this.#opts.nodeId ? !this.#leaving : ageMs < this.#opts.timing.ttlMs && !s.report.leaving;
      out.set(id, { report: s.report, alive, ageMs });
    }
    return out;
  }

  /** Live node ids (this one while it is not leaving), sorted. */
  live(): string[] {
    return [...this.members()].filter(([, m]) => m.alive).map(([id]) => id).sort();
  }

  /** Announces that this node is leaving (placement hands its partitions to the others); keeps beating. */
  async leave(announce: () => NodeAnnouncement): Promise<void> {
    this.#leaving = true;
    await this.#put(announce()).catch((err: unknown) => this.#opts.logger.warn({ err }, 'announcing this node\'s departure failed'));
  }

  /** Stops beating and removes this node's heartbeat. */
  async close(): Promise<void> {
    this.#stop.abort();
    await this.#running;
    await this.#kv.delete(this.#opts.nodeId).catch((err: unknown) => this.#opts.logger.debug({ err }, 'removing this node\'s heartbeat failed; it ages out'));
  }

  async #loop(announce: () => NodeAnnouncement): Promise<void> {
    const stop = this.#stop.signal;
    while (!stop.aborted) {
      try {
        await this.#put(announce());
        await this.#read();
        this.#reads++;
        for (const listener of this.#listeners) listener();
      } catch (err) {
        if (!stop.aborted) this.#opts.logger.warn({ err }, 'cluster heartbeat failed; trying again');
      }
      await sleepLong(this.#opts.timing.renewMs, { signal: stop }).catch(() => undefined);
    }
  }

  async #put(a: NodeAnnouncement): Promise<void> {
    const report: NodeReport = { format: CLUSTER_FORMAT, nodeId: this.#opts.nodeId, beat: ++this.#beat, leaving: this.#leaving, ...a };
    const revision = await this.#kv.put(this.#opts.nodeId, JSON.stringify(report));
    // This node knows its own heartbeat: it never depends on reading it back.
    this.#seen.set(this.#opts.nodeId, { revision, at: performance.now(), report });
  }

  async #read(): Promise<void> {
    const keys = await this.#keys();
    const now = performance.now();
    const present = new Set<string>();
    for (const key of keys) {
      if (key === this.#opts.nodeId) continue;
      const e = await this.#kv.get(key);
      if (e === null || e.operation !== 'PUT') continue;
      let report: NodeReport;
      try {
        report = nodeReportSchema.parse(e.json());
        checkFormat(report.format, `heartbeat of node ${key}`);
      } catch (err) {
        this.#opts.logger.warn({ err, node: key }, 'unreadable node heartbeat; ignored');
        continue;
      }
      present.add(key);
      const before = this.#seen.get(key);
      if (before?.revision === e.revision) continue;
      // First sight: its age is judged from the server's timestamp (once; after that, on this node's clock).
      const at = before === undefined ? now - Math.max(0, Date.now() - e.created.getTime()) : now;
      this.#seen.set(key, { revision: e.revision, at, report });
    }
    // A key missing from one listing is not a node gone (a listing on a loaded cluster came back without keys, and the
    // node then saw no one alive, itself included, and let all its partitions go): forgotten once its age says so, or
    // at once when the key itself reads as deleted (a node that stopped gracefully removes its heartbeat: a reader that
    // missed its `leaving` beat would otherwise keep it alive, and its partitions placed on it, for a whole TTL).
    for (const [key, seen] of this.#seen) {
      if (key === this.#opts.nodeId || present.has(key)) continue;
      if (now - seen.at >= this.#opts.timing.ttlMs || await this.#removed(key)) this.#seen.delete(key);
    }
  }

  /** The bucket's keys, deleted ones included (kv-keys.ts: one bounded request, not `kv.keys()`). */
  #keys(): Promise<string[]> {
    return kvKeys(this.#opts.conn.jsm, this.#opts.names.nodesBucket);
  }

  /** True when `key`'s last entry is a delete (the node removed its heartbeat); false when it is there or unknown. */
  async #removed(key: string): Promise<boolean> {
    const e = await this.#kv.get(key).catch(() => null);
    return e !== null && e.operation !== 'PUT';
  }
}
