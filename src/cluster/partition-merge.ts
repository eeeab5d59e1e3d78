// The reverse switch: a plugin spread over partitions and then run on one
// node again (`by: none`). Its progress lives in the partitions' cursors, so
// the node taking the plugin's own lease merges them into its one cursor
// before it runs anything: nothing finished on a partition runs again, and
// nothing a partition had not finished is skipped. docs/ARCHITECTURE.md,
// "Scale-out".
import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { z } from 'zod';
import type { Logger } from 'pino';
import { sleepLong } from '../shared/index.ts';
import type { CallbackCount, PendingEvent, WorkerCursorState } from './cursor.ts';
import type { FencedLease, LeaseTenure } from './fence.ts';
import type { ClusterNames } from './names.ts';

/** Where one partition stands: every message of its subject at or below `highSeq` finished, except `pending`. */
export interface PartitionPosition {
  readonly highSeq: number;
  readonly highId: number;
  readonly pending: readonly PendingEvent[];
  /** Its own record (null: never claimed in this spread; it stands where the plugin was spread). */
  readonly state: WorkerCursorState | null;
}

/**
 * The one cursor that stands for every partition: its high watermark is the
 * highest of theirs, and every message a partition has not finished is
 * pending in it (their pending events, and the messages of a partition
 * behind the others between its own high watermark and the merged one,
 * listed by `behind`). Counters add up; a deactivation or error anywhere
 * stays; the record says the spread was merged back.
 */
export function mergeCursors(
  origin: WorkerCursorState, positions: ReadonlyMap<number, PartitionPosition>, behind: ReadonlyMap<number, readonly PendingEvent[]>,
): WorkerCursorState {
  let highSeq = origin.highSeq;
  let highId = origin.highId;
  for (const at of positions.values()) {
    if (at.highSeq > highSeq) {
      highSeq = at.highSeq;
      highId = at.highId;
    }
  }
  const pending = new Map<number, number>();
  for (const at of positions.values()) for (const e of at.pending) pending.set(e.seq, e.id);
  for (const events of behind.values()) for (const e of events) if (e.seq <= highSeq) pending.set(e.seq, e.id);
  const states = [...positions.values()].map((at) => at.state).filter((s): s is WorkerCursorState => s !== null);
  const counters: Record<string, CallbackCount> = {};
  for (const s of [origin, ...states]) {
    for (const [callback, c] of Object.entries(s.counters ?? {})) {
      const into = counters[callback];
      if (into === undefined) {
        counters[callback] = { ...c };
        continue;
      }
      const later = (c.lastEventId ?? -1) > (into.lastEventId ?? -1);
      counters[callback] = {
        processed: into.processed + c.processed, failed: into.failed + c.failed, totalMs: into.totalMs + c.totalMs,
        lastEventId: later ? c.lastEventId : into.lastEventId, lastError: later ? c.lastError : into.lastError,
      };
    }
  }
  const failed = states.find((s) => !s.active);
  // A migrated id is still to run only when no partition handed it out (each drops the ids it hands out from its copy).
  let migrated = origin.migrated;
  for (const s of states) {
    if (migrated === undefined || s.migrated === undefined) continue;
    const left = new Set(s.migrated.ids);
    migrated = { afterId: migrated.afterId, ids: migrated.ids.filter((id) => left.has(id)) };
  }
  return {
    highSeq, highId,
    pending: [...pending].map(([seq, id]) => ({ seq, id })).sort((a, b) => a.seq - b.seq),
    active: origin.active && failed === undefined,
    lastError: origin.lastError ?? failed?.lastError ?? null,
    paused: origin.paused,
    control: Math.max(origin.control, ...states.map((s) => s.control)),
    counters,
    ...(origin.spread === undefined ? {} : { spread: { generation: origin.spread.generation, merged: true } }),
    ...(migrated === undefined ? {} : { migrated }),
  };
}

export interface MergeBackOptions {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly names: ClusterNames;
  /** The plugin's partition leases, opened. */
  readonly leases: ReadonlyMap<number, FencedLease<WorkerCursorState | null>>;
  /** Whether a partition's record belongs to the spread being merged (an older spread's record is stale). */
  current(state: WorkerCursorState): boolean;
  /** The plugin record's pending events of a partition never claimed in this spread. */
  inherited(partition: number, signal: AbortSignal): Promise<PendingEvent[]>;
  readonly retryMs: number;
  readonly logger: Pick<Logger, 'info' | 'warn'>;
}

/** The partitions taken (no partition owner runs any more), and the merged cursor. */
export interface MergedPartitions {
  readonly state: WorkerCursorState;
  /** Resets every partition's record (a later spread starts from the plugin's record) and releases them. */
  release(): Promise<void>;
  /** Releases them unchanged (the merge was not stored). */
  abandon(): Promise<void>;
}

/**
 * Takes every partition lease of the plugin through its fence (an owner
 * still running a partition finishes its term first: drained, committed and
 * released, or its lease runs out), then merges their cursors.
 */
export async function takePartitions(origin: WorkerCursorState, opts: MergeBackOptions, signal: AbortSignal): Promise<MergedPartitions> {
  const taken = new Map<number, LeaseTenure<WorkerCursorState | null>>();
  const releaseAll = async (state: (t: LeaseTenure<WorkerCursorState | null>) => WorkerCursorState | null): Promise<void> => {
    await Promise.all([...taken.values()].map((t) => t.release(state(t)).catch((err: unknown) => {
      opts.logger.warn({ err, lease: t.key }, 'releasing a partition lease after the merge failed; it runs out');
    })));
  };
  try {
    await Promise.all([...opts.leases].map(async ([p, lease]) => {
      for (;;) {
        try {
          taken.set(p, await lease.acquire(signal));
          return;
        } catch (err) {
          if (signal.aborted) throw err;
          opts.logger.warn({ err, partition: p }, 'taking a partition lease back failed; trying again');
          await sleepLong(opts.retryMs, { signal });
        }
      }
    }));
    const positions = new Map<number, PartitionPosition>();
    for (const [p, t] of taken) {
      const s = t.state !== null && opts.current(t.state) ? t.state : null;
      positions.set(p, s === null
        ? { highSeq: origin.highSeq, highId: origin.highId, pending: await opts.inherited(p, signal), state: null }
        : { highSeq: s.highSeq, highId: s.highId, pending: s.pending, state: s });
    }
    const top = Math.max(origin.highSeq, ...[...positions.values()].map((at) => at.highSeq));
    const behind = new Map<number, PendingEvent[]>();
    for (const [p, at] of positions) {
      if (at.highSeq >= top) continue;
      const events = await messagesBetween(opts, opts.names.eventSubject(p), at.highSeq, top, signal);
      if (events.length > 0) behind.set(p, events);
    }
    const state = mergeCursors(origin, positions, behind);
    opts.logger.info({ highSeq: state.highSeq, pending: state.pending.length, partitions: taken.size }, 'spread plugin taken back onto one node: its partitions\' cursors merged into one');
    return {
      state,
      release: () => releaseAll(() => null),
      abandon: () => releaseAll((t) => t.state),
    };
  } catch (err) {
    await releaseAll((t) => t.state);
    throw err;
  }
}

const eventId = z.object({ id: z.number().int().nonnegative() });

/** The messages of `subject` with sequences in (after, upTo], with their event ids (an ordered consumer, read once). */
async function messagesBetween(opts: MergeBackOptions, subject: string, after: number, upTo: number, signal: AbortSignal): Promise<PendingEvent[]> {
  const last = await opts.jsm.streams.getMessage(opts.names.eventStream, { last_by_subj: subject });
  if (last === null || last.seq <= after) return [];
  const end = Math.min(upTo, last.seq);
  const out: PendingEvent[] = [];
  let next = after + 1;
  const consumer = await opts.js.consumers.get(opts.names.eventStream, {
    filter_subjects: subject, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: next,
  });
  try {
    while (next <= end) {
      signal.throwIfAborted();
      let got = 0;
      // Each batch read to its end (an ordered consumer takes one fetch at a time); a message past `end` ends the read.
      for await (const m of await consumer.fetch({ max_messages: 256, expires: 2000 })) {
        got++;
        if (m.seq > end) next = end + 1;
        if (m.seq > end || m.seq < next) continue;
        const parsed = eventId.safeParse(m.json());
        // An unreadable message is the run's to report (active-run.ts); it is pending like any other.
        out.push({ seq: m.seq, id: parsed.success ? parsed.data.id : 0 });
        next = m.seq + 1;
      }
      if (got > 0) continue;
      // Nothing came: the rest may have left the stream (its limits); read again only while the subject still reaches `next`.
      const still = await opts.jsm.streams.getMessage(opts.names.eventStream, { last_by_subj: subject });
      if (still === null || still.seq < next) break;
      await sleepLong(opts.retryMs, { signal });
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
  return out;
}
