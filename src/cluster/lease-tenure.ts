// One holding of a fenced lease (fence.ts), from its claim to its loss:
// renewals, fenced writes of the state, the release. docs/ARCHITECTURE.md,
// "Cluster mode".
import { setTimeout as sleep } from 'node:timers/promises';
import { JetStreamApiError } from '@nats-io/jetstream';
import type { ClusterLeaseOptions } from '../config/index.ts';
import { describeError } from '../shared/index.ts';
import { LeaseLostError, type LeaseLossReason } from './errors.ts';
import { CLUSTER_FORMAT } from './format.ts';
import type { FencedLeaseOptions, LeaseRecord, LeaseSnapshot, LeaseTenure } from './lease-types.ts';

/** JetStream's "wrong last sequence": another write came first. */
const WRONG_LAST_SEQUENCE = 10071;

/** What a tenure needs of its lease: the one place a record is written, and a read of the last one. */
export interface LeaseWriter<T> {
  publishRecord(record: LeaseRecord<T>, expect: number): Promise<number>;
  read(): Promise<LeaseSnapshot<T> | undefined>;
  readAt(seq: number): Promise<LeaseSnapshot<T> | undefined>;
}

export class Tenure<T> implements LeaseTenure<T> {
  readonly key: string;
  readonly epoch: number;
  readonly #lease: LeaseWriter<T>;
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

  constructor(lease: LeaseWriter<T>, opts: FencedLeaseOptions<T>, epoch: number, state: T, seq: number, sentAt: number) {
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
        if (checked) {
          this.end('superseded', err);
          throw this.#lostError();
        }
        checked = true;
        // The record right after our last confirmed one: our release, stored though its answer was lost (a successor
        // may already have claimed after it), is done.
        const next = record.released === true ? await this.#lease.readAt(this.#lastSeq + 1).catch(() => undefined) : undefined;
        if (next !== undefined && next.record.epoch === this.epoch && next.record.released === true) {
          this.#lastSeq = next.seq;
          return;
        }
        const last = await this.#lease.read().catch(() => undefined);
        const own = last !== undefined && last.record.epoch === this.epoch;
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
export function retryDelay(timing: ClusterLeaseOptions): number {
  return Math.max(50, Math.min(timing.renewMs / 4, 500));
}

export function isWrongLastSequence(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE;
}
