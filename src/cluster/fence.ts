// A lease with a fence, built only on what is safe on a nats-server 2.9.10
// R3 cluster: one stream per fenced key, written only with
// `expect.lastSequence` (a KV update with a revision is not safe there: two
// writers can both succeed, #4319). docs/ARCHITECTURE.md, "Cluster mode".
import { setTimeout as sleep } from 'node:timers/promises';
import { JetStreamApiError } from '@nats-io/jetstream';
import type { Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { ClusterLeaseOptions } from '../config/index.ts';
import { describeError } from '../shared/index.ts';
import type { ClusterConnection } from './connect.ts';
import { ensureStream } from './connect.ts';
import { ClusterFormatError, ClusterRecordError, LeaseLostError, type LeaseLossReason } from './errors.ts';
import { CLUSTER_FORMAT, checkFormat } from './format.ts';
import type { ClusterNames } from './names.ts';

/** JetStream's "wrong last sequence": another write came first. */
const WRONG_LAST_SEQUENCE = 10071;

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

/**
 * A lease held by one node at a time, whose holder may write a state that a
 * deposed holder can never overwrite.
 *
 * - Holder: renews every `renewMs` with a write whose `expect.lastSequence` is
 *   its last confirmed sequence. A "wrong last sequence" means a successor
 *   claimed: lost at once. Lost too when the last confirmed renewal was sent
 *   more than `ttlMs - marginMs` ago on its own monotonic clock (a NATS
 *   election stalls writes for 4-9 s; the default TTL outlasts it).
 * - Standby: reads the last record every `checkMs` (and at once when a record
 *   is published); takes over when the sequence has not moved for `ttlMs` on
 *   its own monotonic clock, or the record says released, by a write expecting
 *   the sequence it saw: only one claimant can win.
 *
 * @example
 * const lease = await FencedLease.open({ conn, names, key: 'poller', nodeId, timing, replicas: 3, state: schema, initial });
 * const tenure = await lease.acquire(signal);
 * await tenure.write(next);   // throws CLUSTER_LEASE_LOST once deposed
 */
export class FencedLease<T> {
  readonly key: string;
  readonly stream: string;
  readonly subject: string;
  readonly #opts: FencedLeaseOptions<T>;
  readonly #recordSchema: z.ZodType<LeaseRecord<T>>;
  #tenure: Tenure<T> | undefined;
  #wake: (() => void) | undefined;
  /** A record was published since the last read began: the next pause is skipped (it may have come during that read). */
  #stirred = false;
  #sub: Subscription | undefined;

  private constructor(opts: FencedLeaseOptions<T>) {
    this.#opts = opts;
    this.key = opts.key;
    this.stream = opts.names.leaseStream(opts.key);
    this.subject = opts.names.leaseSubject(opts.key);
    this.#recordSchema = z.object({
      format: z.number(),
      holder: z.string().nullable(),
      epoch: z.number().int().nonnegative(),
      state: opts.state,
      released: z.literal(true).optional(),
    });
  }

  /** Creates the lease's stream when missing (every node may call it at once). */
  static async open<T>(opts: FencedLeaseOptions<T>): Promise<FencedLease<T>> {
    const lease = new FencedLease(opts);
    await ensureStream(opts.conn.jsm, {
      name: lease.stream,
      subjects: [lease.subject],
      retention: 'limits',
      storage: 'file',
      discard: 'old',
      max_msgs: opts.history ?? 16,
      num_replicas: opts.replicas,
      // Reads go to the stream leader: a replica may lag.
      allow_direct: false,
    });
    return lease;
  }

  /** The current tenure of this node, if it holds the lease. */
  get tenure(): LeaseTenure<T> | undefined {
    return this.#tenure?.held === true ? this.#tenure : undefined;
  }

  /**
   * The last record, read from the stream's leader; undefined for a lease
   * nobody ever claimed. Throws CLUSTER_FORMAT_MISMATCH for a record of
   * another format version.
   */
  async read(): Promise<LeaseSnapshot<T> | undefined> {
    const msg = await this.#opts.conn.jsm.streams.getMessage(this.stream, { last_by_subj: this.subject });
    if (msg === null) return undefined;
    return { seq: msg.seq, record: this.#parse(msg.data, msg.seq) };
  }

  /**
   * Waits until this node holds the lease, then returns the tenure (renewed
   * until it ends). Rejects with the signal's reason when aborted, and with
   * CLUSTER_FORMAT_MISMATCH when the lease was written by another format.
   */
  async acquire(signal?: AbortSignal): Promise<LeaseTenure<T>> {
    if (this.#tenure?.held === true) return this.#tenure;
    const { timing, nodeId, logger } = this.#opts;
    let seen: { seq: number; at: number } | undefined;
    // A claim whose answer was lost: it may have been stored.
    let pending: { epoch: number; sentAt: number } | undefined;
    this.#subscribe();
    try {
      for (;;) {
        signal?.throwIfAborted();
        let last: LeaseSnapshot<T> | undefined;
        let readOk = true;
        this.#stirred = false;
        try {
          last = await this.read();
        } catch (err) {
          if (err instanceof ClusterFormatError || err instanceof ClusterRecordError) throw err;
          readOk = false;
          logger?.warn({ lease: this.key, err: describeError(err) }, 'cluster: lease read failed, will retry');
        }
        if (readOk) {
          const now = performance.now();
          const claim = this.#claimFrom(last, now, seen, pending);
          if (claim.kind === 'adopt') return this.#begin(claim.epoch, claim.state, claim.seq, claim.sentAt);
          pending = undefined;
          seen = claim.seen;
          if (claim.kind === 'claim') {
            const record: LeaseRecord<T> = { format: CLUSTER_FORMAT, holder: nodeId, epoch: claim.epoch, state: claim.state };
            const sentAt = performance.now();
            try {
              const ack = await this.#publish(record, claim.expect);
              logger?.info({ lease: this.key, epoch: claim.epoch, seq: ack }, 'cluster: lease acquired');
              return this.#begin(claim.epoch, claim.state, ack, sentAt);
            } catch (err) {
              if (isWrongLastSequence(err)) {
                logger?.debug({ lease: this.key }, 'cluster: another node claimed the lease first');
              } else {
                pending = { epoch: claim.epoch, sentAt };
                logger?.warn({ lease: this.key, err: describeError(err) }, 'cluster: lease claim unanswered, will check');
              }
              continue;
            }
          }
        }
        await this.#pause(timing.checkMs, signal);
      }
    } finally {
      this.#unsubscribe();
    }
  }

  /** Stops renewing without a release (as a crash would); the lease runs out for the others after the TTL. */
  abandon(): void {
    this.#tenure?.end('closed');
  }

  /** Releases the lease when held, and stops. */
  async close(): Promise<void> {
    const tenure = this.#tenure;
    if (tenure?.held === true) await tenure.release();
    tenure?.end('closed');
    this.#unsubscribe();
  }

  #claimFrom(
    last: LeaseSnapshot<T> | undefined, now: number, seen: { seq: number; at: number } | undefined, pending: { epoch: number; sentAt: number } | undefined,
  ): { kind: 'wait'; seen: { seq: number; at: number } }
    | { kind: 'claim'; seen: { seq: number; at: number } | undefined; expect: number; epoch: number; state: T }
    | { kind: 'adopt'; seq: number; epoch: number; state: T; sentAt: number } {
    const { ttlMs, marginMs } = this.#opts.timing;
    if (last === undefined) return { kind: 'claim', seen, expect: 0, epoch: 1, state: this.#opts.initial };
    const r = last.record;
    if (pending !== undefined && r.holder === this.#opts.nodeId && r.epoch === pending.epoch && r.released !== true
      && now < pending.sentAt + ttlMs - marginMs) {
      return { kind: 'adopt', seq: last.seq, epoch: r.epoch, state: r.state, sentAt: pending.sentAt };
    }
    const observed = seen?.seq === last.seq ? seen : { seq: last.seq, at: now };
    const free = r.released === true || r.holder === null || now - observed.at >= ttlMs;
    if (!free) return { kind: 'wait', seen: observed };
    return { kind: 'claim', seen: observed, expect: last.seq, epoch: r.epoch + 1, state: r.state };
  }

  #begin(epoch: number, state: T, seq: number, sentAt: number): LeaseTenure<T> {
    const tenure = new Tenure<T>(this, this.#opts, epoch, state, seq, sentAt);
    this.#tenure = tenure;
    return tenure;
  }

  /** A fenced publish of `record`; returns the sequence it was stored at. */
  async #publish(record: LeaseRecord<T>, expect: number): Promise<number> {
    const ack = await this.#opts.conn.js.publish(this.subject, JSON.stringify(record), {
      // On an empty stream the subject check (`create`'s) guards too.
      expect: expect === 0 ? { lastSequence: 0, lastSubjectSequence: 0 } : { lastSequence: expect },
      // Short: during an election an attempt that waits long delays the next one, which may be answered.
      timeout: Math.max(500, Math.min(2000, this.#opts.timing.renewMs)),
    });
    return ack.seq;
  }

  /** Used by Tenure: the one place a record is written. */
  publishRecord(record: LeaseRecord<T>, expect: number): Promise<number> {
    return this.#publish(record, expect);
  }

  #parse(data: Uint8Array, seq: number): LeaseRecord<T> {
    const where = `lease ${this.stream} seq ${seq}`;
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(data));
    } catch (err) {
      throw new ClusterRecordError(where, 'not JSON', { cause: err });
    }
    checkFormat((json as { format?: unknown } | null)?.format, where);
    const parsed = this.#recordSchema.safeParse(json);
    if (!parsed.success) throw new ClusterRecordError(where, `not a lease record: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`);
    return parsed.data;
  }

  // Any record published on the lease's subject wakes a waiting standby at once (a release hands over without waiting for
  // checkMs), also one that comes while the standby reads (it may have read the record before it).
  #subscribe(): void {
    if (this.#sub !== undefined) return;
    this.#sub = this.#opts.conn.nc.subscribe(this.subject, {
      callback: () => {
        this.#stirred = true;
        this.#opts.logger?.debug({ lease: this.key }, 'cluster: lease record seen; looking at once');
        this.#wake?.();
      },
    });
  }

  #unsubscribe(): void {
    this.#sub?.unsubscribe();
    this.#sub = undefined;
  }

  async #pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
    if (this.#stirred) return;
    const ctl = new AbortController();
    const onAbort = (): void => ctl.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    this.#wake = () => ctl.abort();
    try {
      await sleep(ms, undefined, { signal: ctl.signal });
    } catch {
      // woken early or aborted: the caller checks its signal
    } finally {
      this.#wake = undefined;
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

class Tenure<T> implements LeaseTenure<T> {
  readonly key: string;
  readonly epoch: number;
  readonly #lease: FencedLease<T>;
  readonly #opts: FencedLeaseOptions<T>;
  readonly #ctl = new AbortController();
  #state: T;
  #lastSeq: number;
  /** When the last confirmed write was sent (monotonic): the lease is ours until that + ttl - margin. */
  #confirmedSentAt: number;
  #chain: Promise<unknown> = Promise.resolve();
  #queued = 0;
  #renewTimer: NodeJS.Timeout | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;

  constructor(lease: FencedLease<T>, opts: FencedLeaseOptions<T>, epoch: number, state: T, seq: number, sentAt: number) {
    this.#lease = lease;
    this.#opts = opts;
    this.key = opts.key;
    this.epoch = epoch;
    this.#state = state;
    this.#lastSeq = seq;
    this.#confirmedSentAt = sentAt;
    this.#armExpiry();
    this.#scheduleRenew();
  }

  get state(): T {
    return this.#state;
  }

  get signal(): AbortSignal {
    return this.#ctl.signal;
  }

  get held(): boolean {
    const { ttlMs, marginMs } = this.#opts.timing;
    return !this.#ctl.signal.aborted && performance.now() < this.#confirmedSentAt + ttlMs - marginMs;
  }

  write(state: T): Promise<void> {
    return this.#enqueue(async () => {
      await this.#fenced({ format: CLUSTER_FORMAT, holder: this.#opts.nodeId, epoch: this.epoch, state });
      this.#state = state;
    });
  }

  async release(state: T = this.#state): Promise<void> {
    try {
      await this.#enqueue(async () => {
        await this.#fenced({ format: CLUSTER_FORMAT, holder: null, epoch: this.epoch, state, released: true }, RELEASE_PERSIST_MS);
        this.#state = state;
      });
      this.#opts.logger?.info({ lease: this.key, epoch: this.epoch }, 'cluster: lease released');
    } finally {
      this.end('released');
    }
  }

  abandon(reason: 'closed' | 'superseded' = 'closed', cause?: unknown): void {
    this.end(reason, cause);
  }

  end(reason: LeaseLossReason, cause?: unknown): void {
    clearTimeout(this.#renewTimer);
    clearTimeout(this.#expiryTimer);
    if (this.#ctl.signal.aborted) return;
    if (reason === 'superseded' || reason === 'expired') {
      this.#opts.logger?.warn({ lease: this.key, epoch: this.epoch, reason }, 'cluster: lease lost');
    }
    this.#ctl.abort(new LeaseLostError(this.key, reason, { cause, epoch: this.epoch }));
  }

  #enqueue(step: () => Promise<void>): Promise<void> {
    this.#queued++;
    const run = this.#chain.then(async () => {
      if (!this.held) throw this.#lostError();
      await step();
    });
    this.#chain = run.catch(() => undefined).finally(() => { this.#queued--; });
    return run;
  }

  // One fenced write: expects the last confirmed sequence. "Wrong last
  // sequence" is a successor's claim, unless the last record is this tenure's
  // own (a write whose answer was lost was stored after all): then write again,
  // or, for a release found stored, done. `persistMs`: other failures (a
  // timeout, no leader during an election) are tried again for that long while
  // the lease is held: a release that failed once would leave the successor
  // waiting for the whole TTL.
  async #fenced(record: LeaseRecord<T>, persistMs = 0): Promise<void> {
    const giveUpAt = performance.now() + persistMs;
    for (let checked = false; ;) {
      const sentAt = performance.now();
      let seq: number;
      try {
        seq = await this.#lease.publishRecord(record, this.#lastSeq);
      } catch (err) {
        if (!isWrongLastSequence(err)) {
          if (performance.now() >= giveUpAt || !this.held) throw err;
          this.#opts.logger?.warn({ lease: this.key, err: describeError(err) }, 'cluster: lease write failed, trying again');
          await sleep(retryDelay(this.#opts.timing));
          continue;
        }
        const last = checked ? undefined : await this.#lease.read().catch(() => undefined);
        checked = true;
        const own = last !== undefined && last.record.epoch === this.epoch;
        if (own && record.released === true && last.record.released === true) {
          this.#lastSeq = last.seq;
          return;
        }
        if (own && last.record.holder === this.#opts.nodeId && last.record.released !== true) {
          this.#lastSeq = last.seq;
          continue;
        }
        this.end('superseded', err);
        throw this.#lostError();
      }
      this.#lastSeq = seq;
      this.#confirmedSentAt = Math.max(this.#confirmedSentAt, sentAt);
      this.#armExpiry();
      this.#scheduleRenew();
      return;
    }
  }

  #scheduleRenew(delayMs = this.#opts.timing.renewMs): void {
    clearTimeout(this.#renewTimer);
    if (this.#ctl.signal.aborted) return;
    this.#renewTimer = setTimeout(() => {
      // A write already queued renews too.
      if (this.#queued > 0) {
        this.#scheduleRenew();
        return;
      }
      this.#enqueue(() => this.#fenced({ format: CLUSTER_FORMAT, holder: this.#opts.nodeId, epoch: this.epoch, state: this.#state }))
        .catch((err: unknown) => {
          if (err instanceof LeaseLostError) return;
          this.#opts.logger?.warn({ lease: this.key, err: describeError(err) }, 'cluster: lease renewal failed, will retry');
          this.#scheduleRenew(retryDelay(this.#opts.timing));
        });
    }, delayMs);
    this.#renewTimer.unref();
  }

  #armExpiry(): void {
    clearTimeout(this.#expiryTimer);
    if (this.#ctl.signal.aborted) return;
    const { ttlMs, marginMs } = this.#opts.timing;
    const left = this.#confirmedSentAt + ttlMs - marginMs - performance.now();
    this.#expiryTimer = setTimeout(() => this.end('expired'), Math.max(0, left));
    this.#expiryTimer.unref();
  }

  #lostError(): LeaseLostError {
    const reason: unknown = this.#ctl.signal.reason;
    if (reason instanceof LeaseLostError) return reason;
    this.end('expired');
    return this.#ctl.signal.reason as LeaseLostError;
  }
}

/** How long a release keeps trying after a failed write (a NATS election takes 4-9 s); bounded by the lease too. */
const RELEASE_PERSIST_MS = 10_000;

// After a failed renewal, try again soon: the TTL budget is spent while NATS elects a leader.
function retryDelay(timing: ClusterLeaseOptions): number {
  return Math.max(50, Math.min(timing.renewMs / 4, 500));
}

function isWrongLastSequence(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE;
}
