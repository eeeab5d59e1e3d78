// A lease with a fence, built only on what is safe on a nats-server 2.9.10
// R3 cluster: one stream per fenced key, written only with
// `expect.lastSequence` (a KV update with a revision is not safe there: two
// writers can both succeed, #4319). docs/ARCHITECTURE.md, "Cluster mode".
import { setTimeout as sleep } from 'node:timers/promises';
import type { Subscription } from '@nats-io/transport-node';
import { z } from 'zod';
import { describeError } from '../shared/index.ts';
import { ensureStream } from './connect.ts';
import { ClusterFormatError, ClusterRecordError } from './errors.ts';
import { CLUSTER_FORMAT, checkFormat } from './format.ts';
import { isWrongLastSequence, Tenure } from './lease-tenure.ts';
import type { FencedLeaseOptions, LeaseRecord, LeaseSnapshot, LeaseTenure } from './lease-types.ts';

export type { ClusterLogger, FencedLeaseOptions, LeaseRecord, LeaseSnapshot, LeaseTenure } from './lease-types.ts';

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

  /** The record stored at `seq` (undefined: none, or no longer kept). */
  async readAt(seq: number): Promise<LeaseSnapshot<T> | undefined> {
    const msg = await this.#opts.conn.jsm.streams.getMessage(this.stream, { seq });
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
