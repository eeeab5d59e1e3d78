// The poller's hold on the order of the event stream (poller.ts): a tenure
// starts by scanning what its predecessor published after the last stored
// state and publishing a takeover mark that expects the stream's last
// message id; from then on each publish expects the previous one's id. So a
// deposed holder's next publish fails, and the stream keeps exactly the
// order sent (docs/ARCHITECTURE.md, "The poller").
import { setTimeout as sleep } from 'node:timers/promises';
import { JetStreamApiError, type PubAck } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { describeError, type EventLogEntry } from '../shared/index.ts';
import type { ClusterConnection } from './connect.ts';
import type { ClusterLogger, LeaseTenure } from './fence.ts';
import { CLUSTER_FORMAT, FORMAT_HEADER } from './format.ts';
import { LeaseLostError } from './errors.ts';
import { partitionOf, type ClusterNames } from './names.ts';

/** Header naming the poller tenure (lease epoch) that published an event. */
export const EPOCH_HEADER = 'Sgeventd-Epoch';

/** What the chain counts of its publishes (the poller's stats). */
export interface PublishCounts {
  published: number;
  duplicates: number;
  publishFailures: number;
}

export interface PublishChainOptions {
  readonly conn: Pick<ClusterConnection, 'js' | 'jsm'>;
  readonly names: ClusterNames;
  readonly partitions: number;
  /** Publishes awaiting their acknowledgement at once (`poller.maxInFlight`). */
  readonly maxInFlight: number;
  /** The lease's renewal interval: bounds the pause before sending again after a failed publish. */
  readonly renewMs: number;
  readonly logger?: ClusterLogger | undefined;
  readonly counts: PublishCounts;
}

/** What a tenure found when it took the stream over. */
export interface TakeOver {
  /** Event ids published after the last stored state (by the previous holder). */
  readonly published: ReadonlySet<number>;
  /** Stream sequence of the takeover mark. */
  readonly seq: number;
}

/** The chain of expected message ids one poller tenure publishes on. */
export class PublishChain {
  readonly #opts: PublishChainOptions;
  /** Message id the next publish expects last in the stream. */
  #last: string | undefined;

  constructor(opts: PublishChainOptions) {
    this.#opts = opts;
  }

  /**
   * Makes the event stream this tenure's: reads what the previous holder
   * published after stream sequence `afterSeq` (ids it never recorded), then
   * publishes a takeover mark expecting the stream's last message id.
   */
  async takeOver<T>(tenure: LeaseTenure<T>, afterSeq: number, signal: AbortSignal): Promise<TakeOver> {
    const { conn, names } = this.#opts;
    for (;;) {
      signal.throwIfAborted();
      if (!tenure.held) throw tenureEnded(tenure, signal);
      const info = await conn.jsm.streams.info(names.eventStream);
      const last = info.state.last_seq;
      const published = new Set<number>();
      let lastMsgId: string | undefined;
      for (let seq = Math.max(afterSeq + 1, info.state.first_seq); seq <= last; seq++) {
        const msg = await conn.jsm.streams.getMessage(names.eventStream, { seq });
        if (msg === null) continue;
        if (seq === last) lastMsgId = msg.header.get('Nats-Msg-Id');
        if (msg.subject === names.pollerMarkSubject) continue;
        const id = eventIdOf(msg.header.get('Nats-Msg-Id'), names);
        if (id !== undefined) published.add(id);
      }
      if (last > 0 && lastMsgId === undefined) {
        const msg = await conn.jsm.streams.getMessage(names.eventStream, { seq: last });
        lastMsgId = msg?.header.get('Nats-Msg-Id');
      }
      const markId = `${names.site}:poller:${tenure.epoch}`;
      const h = headers();
      h.set(FORMAT_HEADER, String(CLUSTER_FORMAT));
      h.set(EPOCH_HEADER, String(tenure.epoch));
      let ack: PubAck;
      try {
        ack = await conn.js.publish(names.pollerMarkSubject, JSON.stringify({ format: CLUSTER_FORMAT, epoch: tenure.epoch }), {
          msgID: markId, headers: h,
          expect: last === 0 || lastMsgId === undefined || lastMsgId === '' ? { lastSequence: last } : { lastMsgID: lastMsgId },
        });
      } catch (err) {
        // Something was published after the scan (the previous holder's last sends): scan again.
        if (isExpectationFailed(err)) continue;
        throw err;
      }
      this.#last = markId;
      return { published, seq: ack.seq };
    }
  }

  // Publishes in order, up to maxInFlight awaiting their acks, each expecting
  // the previous one's message id (the chain started by the takeover mark).
  // Checks the lease before each send. After a failed publish the rest is
  // sent again from the first failure (an id stored after all comes back as a
  // duplicate, which the server answers before it checks the chain). A first
  // failure on the chain itself means another holder published: lost.
  // Returns the stream sequence of the last event.
  async publish<T>(tenure: LeaseTenure<T>, events: readonly EventLogEntry[], signal: AbortSignal): Promise<number> {
    const { conn, names, partitions, counts } = this.#opts;
    const max = this.#opts.maxInFlight;
    let from = 0;
    let seq = 0;
    while (from < events.length) {
      const results: Array<Promise<PubAck>> = [];
      // A count and one waiter, not Promise.race over the window: that costs a reaction per publish in flight.
      let inFlight = 0;
      let freed: (() => void) | undefined;
      const settle = (): void => {
        inFlight--;
        const wake = freed;
        freed = undefined;
        wake?.();
      };
      let prev = this.#last;
      for (let i = from; i < events.length; i++) {
        if (signal.aborted || !tenure.held) break;
        const e = events[i] as EventLogEntry;
        const h = headers();
        h.set(FORMAT_HEADER, String(CLUSTER_FORMAT));
        h.set(EPOCH_HEADER, String(tenure.epoch));
        const msgID = names.msgId(e.id);
        const p = conn.js.publish(names.eventSubject(partitionOf(e.project?.id, partitions)), JSON.stringify(e), {
          msgID, headers: h, ...(prev === undefined ? {} : { expect: { lastMsgID: prev } }),
        });
        prev = msgID;
        results.push(p);
        inFlight++;
        void p.then(settle, settle);
        if (inFlight >= max) await new Promise<void>((resolve) => { freed = resolve; });
      }
      const settled = await Promise.allSettled(results);
      const failed = settled.findIndex((r) => r.status === 'rejected');
      const ok = settled.slice(0, failed < 0 ? settled.length : failed);
      for (const r of ok) {
        if (r.status !== 'fulfilled') continue;
        if (r.value.duplicate) counts.duplicates++;
        else counts.published++;
        seq = Math.max(seq, r.value.seq);
      }
      if (ok.length > 0) this.#last = names.msgId((events[from + ok.length - 1] as EventLogEntry).id);
      if (failed < 0) {
        if (from + settled.length < events.length) throw tenureEnded(tenure, signal);
        return seq;
      }
      const reason = (settled[failed] as PromiseRejectedResult).reason as unknown;
      if (isExpectationFailed(reason)) {
        tenure.abandon('superseded', reason);
        throw tenure.signal.reason;
      }
      counts.publishFailures++;
      this.#opts.logger?.warn({ eventId: events[from + failed]?.id, err: describeError(reason) }, 'cluster: publishing an event failed, sending again');
      from += failed;
      if (signal.aborted || !tenure.held) throw tenureEnded(tenure, signal);
      await sleep(Math.min(500, this.#opts.renewMs), undefined, { signal }).catch(() => undefined);
    }
    return seq;
  }
}

/** JetStream's "wrong last msg ID" (10070) or "wrong last sequence" (10071). */
function isExpectationFailed(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === 10070 || err.code === 10071);
}

/** The event id in a message id `<site>:<id>` of this site. */
function eventIdOf(msgId: string | undefined, names: ClusterNames): number | undefined {
  const prefix = `${names.site}:`;
  if (msgId === undefined || !msgId.startsWith(prefix)) return undefined;
  const id = Number(msgId.slice(prefix.length));
  return Number.isInteger(id) && id > 0 ? id : undefined;
}

/** Why a tenure's publishing stopped: its loss, the stop, or (neither seen yet) an expired lease. */
function tenureEnded<T>(tenure: LeaseTenure<T>, signal: AbortSignal): unknown {
  if (tenure.signal.aborted) return tenure.signal.reason;
  if (signal.aborted) return signal.reason;
  return new LeaseLostError(tenure.key, 'expired', { epoch: tenure.epoch });
}
