// A concurrent cursor's position, as DESIGN.md defines it: the highest id
// handed out plus the ids at or below it not finished. Gaps wait for late ids
// (they expire); pending ids were handed out and not finished (they never
// expire); a `_New`'s folded rows are pending with it. Pending ids are written
// to the backlog table as they come and go, so a restart reads them again.
import type { PluginState } from '../state/index.ts';

/** The backlog table's rows of one plugin (none for a replay, which writes nothing). */
export interface PendingWrites {
  add(id: number): void;
  remove(id: number): void;
}

export class UnfinishedIds {
  /** The highest id handed out: every id at or below it is finished, pending or a gap. */
  #high: number;
  /** Gap id → when it expires (epoch ms). */
  readonly gaps = new Map<number, number>();
  readonly #pending = new Set<number>();
  /** Pending ids from the stored cursor, to read again before anything new. */
  #recover: number[] = [];
  /** `_New` id → the in_create rows folded into it (pending until it finishes). */
  readonly #foldedInto = new Map<number, number[]>();
  /** Rows above the highest id handed out, folded into a `_New` handed out (or finished): the read passes over them. */
  readonly #ahead = new Set<number>();
  readonly #writes: PendingWrites | null;

  constructor(state: Pick<PluginState, 'backlog'> & { lastEventId: number }, writes: PendingWrites | null) {
    this.#writes = writes;
    this.#high = state.lastEventId;
    for (const b of state.backlog) {
      if (b.kind === 'pending') {
        this.#pending.add(b.eventId);
        this.#recover.push(b.eventId);
      } else this.gaps.set(b.eventId, b.expiresAt);
    }
    this.#recover.sort((a, b) => a - b);
  }

  get high(): number {
    return this.#high;
  }

  /** Moves the highest id handed out up to `id` (never down). */
  raise(id: number): void {
    if (id > this.#high) this.#high = id;
  }

  get backlogIds(): number[] {
    return [...this.gaps.keys()].sort((a, b) => a - b);
  }

  get pendingIds(): number[] {
    return [...this.#pending].sort((a, b) => a - b);
  }

  get oldestPending(): number | null {
    let oldest: number | null = null;
    for (const id of this.#pending) if (oldest === null || id < oldest) oldest = id;
    return oldest;
  }

  isPending(id: number): boolean {
    return this.#pending.has(id);
  }

  /** Handed out: pending until finish(). */
  markPending(id: number): void {
    if (this.#pending.has(id)) return;
    this.#pending.add(id);
    this.#writes?.add(id);
  }

  /** `id` and the rows folded into it are finished. */
  finish(id: number): void {
    if (this.#pending.delete(id)) this.#writes?.remove(id);
    for (const row of this.#foldedInto.get(id) ?? []) {
      if (this.#pending.delete(row)) this.#writes?.remove(row);
    }
    this.#foldedInto.delete(id);
  }

  get recovering(): boolean {
    return this.#recover.length > 0;
  }

  /** The next `count` ids pending at start, in id order. */
  takeRecovered(count: number): number[] {
    return this.#recover.splice(0, count);
  }

  /** Ids of takeRecovered() that could not be read: read first next time. */
  returnRecovered(ids: readonly number[]): void {
    this.#recover.unshift(...ids);
  }

  /**
   * A row folded into the `_New` `owner`: pending with it. A row above the
   * highest id handed out raises it, or with `ahead` is passed over when read.
   * False when `owner` is not pending (out of scope, finished at once): the
   * caller finishes the row too.
   */
  foldRow(owner: number, row: number, ahead: boolean): boolean {
    if (row > this.#high) {
      if (ahead) this.#ahead.add(row);
      else this.#high = row;
    }
    if (!this.#pending.has(owner)) return false;
    this.markPending(row);
    const rows = this.#foldedInto.get(owner) ?? [];
    if (!rows.includes(row)) rows.push(row);
    this.#foldedInto.set(owner, rows);
    return true;
  }

  /** The rows folded into `id`, if it is a `_New` with rows. */
  foldedRows(id: number): readonly number[] | undefined {
    return this.#foldedInto.get(id);
  }

  /** Rows (row → its `_New`) folded below the stored position: passed over when read, unless pending. */
  passOverFolded(below: ReadonlyMap<number, number>): void {
    for (const [row, owner] of below) if (!this.#pending.has(owner) && !this.#pending.has(row)) this.#ahead.add(row);
  }

  get hasAhead(): boolean {
    return this.#ahead.size > 0;
  }

  isAhead(id: number): boolean {
    return this.#ahead.has(id);
  }

  /** True when `id` was to be passed over: it is, and the highest id handed out reaches it. */
  passAhead(id: number): boolean {
    if (!this.#ahead.delete(id)) return false;
    this.raise(id);
    return true;
  }
}
