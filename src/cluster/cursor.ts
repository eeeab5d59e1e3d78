// A plugin's cursor in cluster mode: the concurrency model of one machine
// (highest handed out + unfinished ids at or below it) counted in stream
// sequences, so a node taking over restarts the stream where the dead owner's
// unfinished events are. Gaps in event ids are the poller's business (late ids
// are published after higher ones), so a worker only has pending entries.
import { z } from 'zod';

/** One event handed out and not finished: its stream sequence and event id. */
export interface PendingEvent {
  seq: number;
  id: number;
}

/** What one commit carries: its changes, and the finished events it makes durable once stored. */
export interface CommitTicket {
  readonly changes: number;
  readonly finished: number;
}

/** What a plugin's lease record carries as its state (`plugin.<pluginId>`). */
export interface WorkerCursorState {
  /** Every message at or below it is finished, except `pending`. */
  highSeq: number;
  /** The event id of the message at `highSeq` (for lag and status). */
  highId: number;
  pending: PendingEvent[];
  /** False once a stopOnError failure deactivated the plugin, for the whole cluster. */
  active: boolean;
  lastError: string | null;
  /** `sgeventd plugin disable` in cluster mode: no node runs the plugin. */
  paused: boolean;
  /** Sequence of the last `plugin enable/disable` record applied (control.ts); 0: none. */
  control: number;
  /** Per-callback counters, committed with the cursor so they survive a failover (absent in records of older nodes). */
  counters?: Record<string, CallbackCount>;
  /**
   * A cursor moved from a state file (`sgeventd migrate --to-cluster`): events
   * with ids at or below `afterId` are finished unless listed in `ids` (the
   * file's unfinished and gap ids). An id leaves `ids` once handed out.
   */
  migrated?: MigratedIds;
  /**
   * On a plugin's own record: the plugin was spread over partitions
   * (partition-worker.ts), in its `generation`-th spread; `merged` once a
   * node running it on its own took the partitions' cursors back into this
   * one (partition-merge.ts).
   */
  spread?: SpreadMark;
  /** On a (plugin, partition) record: the spread generation it belongs to (absent: the first). */
  generation?: number;
}

/** The spread of a plugin its own record carries. */
export interface SpreadMark {
  generation: number;
  merged: boolean;
}

/** The id-based part of a migrated cursor. */
export interface MigratedIds {
  afterId: number;
  ids: number[];
}

/** One callback's counters as the cursor stores them. */
export interface CallbackCount {
  processed: number;
  failed: number;
  totalMs: number;
  lastEventId: number | null;
  lastError: string | null;
}

const seq = z.number().int().nonnegative();

/** The wire shape of a stored cursor (zod: it comes back from NATS). */
export const workerCursorSchema = z.object({
  highSeq: seq,
  highId: seq,
  pending: z.array(z.object({ seq, id: seq })),
  active: z.boolean(),
  lastError: z.string().nullable(),
  paused: z.boolean(),
  control: seq.default(0),
  counters: z.record(z.string(), z.object({
    processed: seq, failed: seq, totalMs: z.number().nonnegative(), lastEventId: seq.nullable(), lastError: z.string().nullable(),
  })).optional(),
  migrated: z.object({ afterId: seq, ids: z.array(seq) }).optional(),
  spread: z.object({ generation: seq, merged: z.boolean() }).optional(),
  generation: seq.optional(),
});

/** A new plugin's cursor: it starts after `highSeq` (the stream's last message when it was first claimed). */
export function freshCursor(highSeq: number, highId = 0): WorkerCursorState {
  return { highSeq, highId, pending: [], active: true, lastError: null, paused: false, control: 0 };
}

/**
 * The owner's live cursor. Messages are handed out in stream order; a message
 * at or below `highSeq` not in `pending` is finished and skipped when the
 * consumer delivers it again.
 */
export class WorkerCursor {
  #highSeq: number;
  #highId: number;
  /** seq → event id, handed out and not finished. */
  readonly #pending = new Map<number, number>();
  /** Pending entries inherited from the stored cursor: run first when read again. */
  readonly #inherited: ReadonlySet<number>;
  #active: boolean;
  #lastError: string | null;
  #paused: boolean;
  #control: number;
  readonly #counters = new Map<string, CallbackCount>();
  #migrated: { afterId: number; ids: Set<number> } | null;
  /** Carried through unchanged: which spread this record belongs to. */
  readonly #spread: Pick<WorkerCursorState, 'spread' | 'generation'>;
  /** Changes since the last snapshot taken for a commit. */
  #dirty = 0;
  /** Events finished and not yet in a confirmed commit: what a successor would run again. */
  #unconfirmed = 0;

  constructor(state: WorkerCursorState) {
    this.#highSeq = state.highSeq;
    this.#highId = state.highId;
    for (const p of state.pending) if (p.seq <= state.highSeq) this.#pending.set(p.seq, p.id);
    this.#inherited = new Set(this.#pending.keys());
    this.#active = state.active;
    this.#lastError = state.lastError;
    this.#paused = state.paused;
    this.#control = state.control;
    for (const [callback, c] of Object.entries(state.counters ?? {})) this.#counters.set(callback, { ...c });
    this.#migrated = state.migrated === undefined ? null : { afterId: state.migrated.afterId, ids: new Set(state.migrated.ids) };
    this.#spread = {
      ...(state.spread === undefined ? {} : { spread: { ...state.spread } }),
      ...(state.generation === undefined ? {} : { generation: state.generation }),
    };
  }

  /** Where the consumer starts: the oldest unfinished message, else the one after the high watermark. */
  get startSeq(): number {
    let min = this.#highSeq + 1;
    for (const s of this.#pending.keys()) if (s < min) min = s;
    return min;
  }

  get highSeq(): number {
    return this.#highSeq;
  }

  get highId(): number {
    return this.#highId;
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  get inheritedCount(): number {
    return this.#inherited.size;
  }

  get active(): boolean {
    return this.#active;
  }

  get paused(): boolean {
    return this.#paused;
  }

  get lastError(): string | null {
    return this.#lastError;
  }

  /** Changes not yet in a committed snapshot. */
  get dirty(): number {
    return this.#dirty;
  }

  /**
   * Events finished since the last confirmed commit, counting those of a
   * commit still in flight: a takeover now would run them again.
   */
  get unconfirmed(): number {
    return this.#unconfirmed;
  }

  /**
   * Whether a delivered message must run: above the high watermark (new), or
   * pending (handed out before and not finished). Everything else is finished.
   */
  wants(seq: number): boolean {
    return seq > this.#highSeq || this.#pending.has(seq);
  }

  /**
   * A migrated cursor's rule for a new message: true when its event was
   * finished on the single machine (at or below `afterId`, not listed); a
   * listed id leaves the list here, as it is handed out now.
   */
  finishedBeforeMigration(id: number): boolean {
    const m = this.#migrated;
    if (m === null || id > m.afterId) return false;
    if (m.ids.delete(id)) {
      this.#dirty++;
      return false;
    }
    return true;
  }

  /** Records a message as handed out; stored pending before the high watermark passes it. */
  handOut(seq: number, id: number): void {
    if (!this.#pending.has(seq)) this.#pending.set(seq, id);
    if (seq > this.#highSeq) {
      this.#highSeq = seq;
      this.#highId = id;
    }
    this.#dirty++;
  }

  /** The message's callbacks all finished (or it was out of scope). */
  finish(seq: number): void {
    if (this.#pending.delete(seq)) {
      this.#dirty++;
      this.#unconfirmed++;
    }
  }

  /** stopOnError: the plugin is deactivated cluster-wide; the failed event stays pending. */
  deactivate(lastError: string): void {
    this.#active = false;
    this.#lastError = lastError;
    this.#dirty++;
  }

  /**
   * An operator's `plugin enable` (paused false: also clears a stopOnError
   * deactivation) or `plugin disable` (paused true), stored as control record
   * `seq`; a record already applied is ignored.
   */
  applyControl(seq: number, paused: boolean): boolean {
    if (seq <= this.#control) return false;
    this.#control = seq;
    this.#paused = paused;
    if (!paused) {
      this.#active = true;
      this.#lastError = null;
    }
    this.#dirty++;
    return true;
  }

  /** A reload brings back a plugin deactivated by stopOnError (its pending events run first). */
  reactivate(): void {
    if (this.#active) return;
    this.#active = true;
    this.#lastError = null;
    this.#dirty++;
  }

  /** Adds one callback run to its counters (stored with the next commit; the event's finish makes that commit). */
  count(callback: string, delta: { processed: number; failed: number; totalMs: number; lastEventId?: number; lastError?: string | null }): void {
    const c = this.#counters.get(callback) ?? { processed: 0, failed: 0, totalMs: 0, lastEventId: null, lastError: null };
    c.processed += delta.processed;
    c.failed += delta.failed;
    c.totalMs += delta.totalMs;
    if (delta.lastEventId !== undefined) c.lastEventId = delta.lastEventId;
    if (delta.lastError !== undefined) c.lastError = delta.lastError;
    this.#counters.set(callback, c);
  }

  noteError(lastError: string): void {
    this.#lastError = lastError;
    this.#dirty++;
  }

  /**
   * The changes a commit is about to write: the count drops to 0 and comes
   * back with `restoreChanges` when that commit fails, so the backpressure on
   * the fence counts every change not yet committed, however many commits
   * failed in a row.
   */
  takeChanges(): CommitTicket {
    const ticket = { changes: this.#dirty, finished: this.#unconfirmed };
    this.#dirty = 0;
    return ticket;
  }

  /** A commit failed: its changes are still uncommitted and go with the next one. */
  restoreChanges(ticket: CommitTicket): void {
    this.#dirty += ticket.changes;
  }

  /** A commit was stored: the events it finished are no longer repeated by a successor. */
  confirmChanges(ticket: CommitTicket): void {
    this.#unconfirmed = Math.max(0, this.#unconfirmed - ticket.finished);
  }

  /** The state as it stands (for a commit, a release or the status); changes nothing. */
  snapshot(): WorkerCursorState {
    return {
      highSeq: this.#highSeq,
      highId: this.#highId,
      pending: [...this.#pending].map(([s, id]) => ({ seq: s, id })).sort((a, b) => a.seq - b.seq),
      active: this.#active,
      lastError: this.#lastError,
      paused: this.#paused,
      control: this.#control,
      counters: Object.fromEntries([...this.#counters].map(([callback, c]) => [callback, { ...c }])),
      ...(this.#migrated === null ? {} : { migrated: { afterId: this.#migrated.afterId, ids: [...this.#migrated.ids].sort((a, b) => a - b) } }),
      ...(this.#spread.spread === undefined ? {} : { spread: { ...this.#spread.spread } }),
      ...(this.#spread.generation === undefined ? {} : { generation: this.#spread.generation }),
    };
  }
}
