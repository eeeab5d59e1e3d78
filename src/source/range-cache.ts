// The events read from the site's log, kept as ranges of ids: merged as they
// meet, trimmed oldest first to a bound, and sliced for readers.
import type { EventLogEntry } from '../shared/index.ts';

/**
 * A span of the event log read from the site: every event that was visible
 * with `after < id <= upTo` when it was read, ascending by id.
 */
export interface Range {
  after: number;
  upTo: number;
  events: EventLogEntry[];
}

export interface EventSlice {
  events: EventLogEntry[];
  /** The position the reader may move to: nothing else was visible up to here. */
  upTo: number;
}

/** Ranges of the log in memory, at most `maxEvents` events across them. */
export class RangeCache {
  readonly #maxEvents: number;
  #ranges: Range[] = [];
  #cached = 0;

  constructor(maxEvents: number) {
    this.#maxEvents = maxEvents;
  }

  /** Events held across all ranges. */
  get size(): number {
    return this.#cached;
  }

  /** An empty range at `at`, where the log was opened: the poller extends it. */
  reset(at: number): void {
    this.#ranges = [{ after: at, upTo: at, events: [] }];
  }

  /** The range that holds what follows `pos`, if one does. */
  covering(pos: number): Range | undefined {
    return this.#ranges.find((r) => r.after <= pos && pos < r.upTo);
  }

  /** Events with `id > pos`, at most `limit`, from the range that holds `pos`; null when none does. */
  slice(pos: number, limit: number): EventSlice | null {
    const r = this.covering(pos);
    return r === undefined ? null : sliceOf(r, pos, limit);
  }

  /** Adds a range, merging it with any it overlaps or touches, then trims. */
  insert(range: Range): void {
    if (range.upTo <= range.after) return;
    let merged = range;
    const keep: Range[] = [];
    for (const r of this.#ranges) {
      if (r.upTo < merged.after || r.after > merged.upTo) keep.push(r);
      else merged = mergeRanges(merged, r);
    }
    keep.push(merged);
    keep.sort((a, b) => a.after - b.after);
    this.#ranges = keep;
    this.#cached = keep.reduce((n, r) => n + r.events.length, 0);
    this.#trim();
  }

  #trim(): void {
    while (this.#cached > this.#maxEvents) {
      const oldest = this.#ranges[0];
      if (oldest === undefined) return;
      const excess = this.#cached - this.#maxEvents;
      if (oldest.events.length <= excess && this.#ranges.length > 1) {
        this.#ranges.shift();
        this.#cached -= oldest.events.length;
        continue;
      }
      const drop = Math.min(excess, oldest.events.length);
      const dropped = oldest.events.splice(0, drop);
      const lastDropped = dropped.at(-1);
      if (lastDropped !== undefined) oldest.after = lastDropped.id;
      this.#cached -= drop;
      if (drop === 0) return;
    }
  }
}

export function sliceOf(r: Range, pos: number, limit: number): EventSlice {
  const start = firstAbove(r.events, pos);
  const events = r.events.slice(start, start + limit);
  const last = events.at(-1);
  return { events, upTo: events.length === limit && last !== undefined ? last.id : r.upTo };
}

function mergeRanges(a: Range, b: Range): Range {
  const after = Math.min(a.after, b.after);
  const upTo = Math.max(a.upTo, b.upTo);
  // Ranges that meet end to end (a catch-up read after the last): no sort.
  const [lo, hi] = a.after <= b.after ? [a, b] : [b, a];
  if (lo.upTo <= hi.after || (lo.events.at(-1)?.id ?? -Infinity) < (hi.events[0]?.id ?? Infinity)) {
    return { after, upTo, events: lo.events.concat(hi.events) };
  }
  const byId = new Map<number, EventLogEntry>();
  for (const e of a.events) byId.set(e.id, e);
  for (const e of b.events) byId.set(e.id, e);
  const events = [...byId.values()].sort((x, y) => x.id - y.id);
  return { after, upTo, events };
}

/** Index of the first event with id > pos (binary search). */
function firstAbove(events: readonly EventLogEntry[], pos: number): number {
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((events[mid]?.id ?? 0) <= pos) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
