// The shapes of a fenced lease (fence.ts) and of one holding of it
// (lease-tenure.ts). docs/ARCHITECTURE.md, "Cluster mode".
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { ClusterLeaseOptions } from '../config/index.ts';
import type { ClusterConnection } from './connect.ts';
import type { ClusterNames } from './names.ts';

/** One message of a lease stream. */
export interface LeaseRecord<T> {
  readonly format: number;
  /** The node holding the lease; null once released. */
  readonly holder: string | null;
  /** Raised by one at every claim: a tenure is (holder, epoch). */
  readonly epoch: number;
  readonly state: T;
  readonly released?: true;
}

/** Logging used by the fence and the poller (pino's shape). */
export type ClusterLogger = Pick<Logger, 'info' | 'warn' | 'debug' | 'error'>;

export interface FencedLeaseOptions<T> {
  readonly conn: Pick<ClusterConnection, 'nc' | 'js' | 'jsm'>;
  readonly names: ClusterNames;
  /** `poller`, `plugin.<pluginId>`, ... */
  readonly key: string;
  readonly nodeId: string;
  readonly timing: ClusterLeaseOptions;
  readonly replicas: number;
  /** The state carried in every record (parsed on read: a wire boundary). */
  readonly state: z.ZodType<T>;
  /** The state of a lease nobody ever held. */
  readonly initial: T;
  /** Records the lease stream keeps (for inspection; only the last one matters). Default 16. */
  readonly history?: number;
  readonly logger?: ClusterLogger;
}

/** One holding of the lease by this node, from its claim to its loss. */
export interface LeaseTenure<T> {
  readonly key: string;
  readonly epoch: number;
  /** The state as last written (or as found when claimed). */
  readonly state: T;
  /**
   * True while the lease is held: no fenced write has failed and the last
   * confirmed renewal was sent less than ttl - margin ago (monotonic clock).
   * Check it before every action that only the holder may take.
   */
  readonly held: boolean;
  /** Aborted when the tenure ends; the reason is a LeaseLostError. */
  readonly signal: AbortSignal;
  /** A fenced write of `state` (also a renewal). Throws CLUSTER_LEASE_LOST when a successor's claim came first. */
  write(state: T): Promise<void>;
  /** Hands the lease over at once: writes `{ holder: null, released: true }` with the state. */
  release(state?: T): Promise<void>;
  /**
   * Ends the tenure without a release (as a crash would): the others take
   * over after the TTL. `superseded`: the holder found out by other means
   * (a fenced publish elsewhere failed) that a successor took over.
   */
  abandon(reason?: 'closed' | 'superseded', cause?: unknown): void;
}

/** The last record of a lease stream and its sequence. */
export interface LeaseSnapshot<T> {
  readonly seq: number;
  readonly record: LeaseRecord<T>;
}

/** A lease while this node holds it (what `FencedLease` hands out). */
export interface HeldLease<T> {
  /** The state stored with the lease when it was claimed (the lease's initial state for a key never written). */
  readonly state: T;
  /** Aborted the moment the lease is lost (a fenced write failed, or renewals are too old), or released. */
  readonly signal: AbortSignal;
  /** A fenced write of the state; rejects when the lease is lost. */
  write(state: T): Promise<void>;
  /** Hands the lease over (`released: true`), with the final state. */
  release(state?: T): Promise<void>;
}
