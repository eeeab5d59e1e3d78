// Creation storms: a site writes one `_Change` row with `meta.in_create: true`
// for every field set when an entity is created. With `coalesceCreation`, a
// plugin gets those rows inside the `_New` event instead of one by one.
//
// Which rows fold into which `_New` depends only on the rows themselves, never
// on where a read of the log begins or ends, so a restart (kill -9 between the
// fold and the finish) folds the same rows again:
// - a row folds into its entity's `_New` when it is an in_create row written
//   within `windowMs` of it and at most `horizon` ids after it;
// - a full read that ends inside an open `_New`'s horizon stops before that
//   `_New` (the next read starts with it, so it sees its whole horizon);
//   rows of the `_New`s before it are folded wherever they are in the read,
//   and the next read must not deliver them (`ahead`);
// - at start, a cursor reads `horizon` ids back (`rowsFoldedBelow`): rows above
//   its position that belong to a `_New` at or below it are never delivered alone.
import type { EventLogEntry } from '../shared/index.ts';
import type { EventLog, EventSlice } from '../source/index.ts';

export interface CoalesceOptions {
  /** An in_create row folds into its `_New` when its created_at is at most this much later. */
  windowMs: number;
  /** ... and its id at most this much higher (half a read: cursors set it from their read size). Default: no bound. */
  horizon?: number;
}

export interface FoldedSlice {
  /** The events to deliver, in order; a `_New` carries its rows in `meta.in_create_changes`. */
  events: EventLogEntry[];
  /** `_New` id → the ids of the rows folded into it (they finish when it finishes). */
  folded: Map<number, number[]>;
  /**
   * How many events of the input were used: the rest (from an open `_New`
   * at the end of a full read) is read again with what follows it.
   */
  taken: number;
  /** Rows past `taken` folded into a `_New` before it: row id → `_New` id. The next read skips them. */
  ahead: Map<number, number>;
}

const NEW = /^Shotgun_.+_New$/;
const CHANGE = /^Shotgun_.+_Change$/;

function entityKey(event: EventLogEntry): string | null {
  const e = event.entity;
  if (e !== null && typeof e.type === 'string' && typeof e.id === 'number') return `${e.type}:${e.id}`;
  const meta = event.meta;
  if (meta !== null && typeof meta['entity_type'] === 'string' && typeof meta['entity_id'] === 'number') return `${meta['entity_type']}:${meta['entity_id']}`;
  return null;
}

function isInCreate(event: EventLogEntry): boolean {
  return CHANGE.test(event.event_type) && event.meta !== null && event.meta['in_create'] === true;
}

/** ms from `a` to `b` by created_at; 0 when either has none (read together, so taken as one write). */
function after(a: EventLogEntry, b: EventLogEntry): number {
  return a.created_at !== null && b.created_at !== null ? b.created_at.getTime() - a.created_at.getTime() : 0;
}

/** The horizon of a cursor reading `batchSize` events at a time: half a read. */
export function foldHorizon(batchSize: number): number {
  return Math.max(1, Math.floor(batchSize / 2));
}

/** Row id → the `_New` it folds into, over `events` (ascending ids). */
function owners(events: readonly EventLogEntry[], opts: CoalesceOptions): Map<number, EventLogEntry> {
  const horizon = opts.horizon ?? Infinity;
  const news = new Map<string, EventLogEntry>();
  const ownerOf = new Map<number, EventLogEntry>();
  for (const event of events) {
    const key = entityKey(event);
    if (key === null) continue;
    if (NEW.test(event.event_type)) {
      news.set(key, event);
      continue;
    }
    const owner = news.get(key);
    if (owner === undefined || !isInCreate(event) || event.id - owner.id > horizon) continue;
    const ms = after(owner, event);
    if (ms >= 0 && ms <= opts.windowMs) ownerOf.set(event.id, owner);
  }
  return ownerOf;
}

/**
 * Folds the in_create rows of `events` (ascending ids) into their entity's
 * `_New` (see the rule above). `more`: the read was full, so later events
 * may belong to an open `_New` near its end; the read is then taken up to
 * that `_New` only (with a horizon, the first whose horizon passes the last
 * id read; without one, the first in the second half), so a read always
 * moves on by at least half. `now` (with a horizon): the read ended at the
 * newest event known, and a `_New` whose horizon passes it waits (with what
 * follows it) while its window is open by this clock, as its rows may still
 * come; `taken` is then 0 when it is the first event. `firstWaits`: the
 * read was full only because the reader had little room (a concurrent
 * cursor's nearly full window), so an open `_New` that is the first event
 * is not taken either (`taken` 0): its rows past the read would otherwise be
 * delivered alone, while a read with room would fold them.
 */
export function foldCreations(events: readonly EventLogEntry[], opts: CoalesceOptions, more: boolean, now?: number, firstWaits = false): FoldedSlice {
  let taken = events.length;
  const last = events.at(-1);
  if (last !== undefined) {
    const horizon = opts.horizon;
    const from = Math.max(1, Math.floor(events.length / 2));
    const open = events.findIndex((e, i) => {
      if (!NEW.test(e.event_type) || after(e, last) > opts.windowMs) return false;
      if (horizon === undefined) return more && i >= from;
      if (e.id + horizon <= last.id) return false;
      if (more) return i > 0 || firstWaits;
      return now !== undefined && e.created_at !== null && now - e.created_at.getTime() <= opts.windowMs;
    });
    if (open >= 0) taken = open;
  }
  const cut = events[taken]?.id ?? Infinity;
  const rows = new Map<number, EventLogEntry[]>();
  const ahead = new Map<number, number>();
  const isRow = new Set<number>();
  const ownerOf = owners(events, opts);
  for (const event of events) {
    const owner = ownerOf.get(event.id);
    if (owner === undefined || owner.id >= cut) continue;
    isRow.add(event.id);
    if (event.id >= cut) ahead.set(event.id, owner.id);
    let list = rows.get(owner.id);
    if (list === undefined) rows.set(owner.id, (list = []));
    list.push(event);
  }
  const folded = new Map<number, number[]>();
  const out: EventLogEntry[] = [];
  for (const event of events.slice(0, taken)) {
    if (isRow.has(event.id)) continue;
    const list = rows.get(event.id);
    if (list === undefined) out.push(event);
    else {
      folded.set(event.id, list.map((r) => r.id));
      out.push({ ...event, meta: { ...(event.meta ?? {}), in_create_changes: list } });
    }
  }
  return { events: out, folded, taken, ahead };
}

/**
 * A read of `limit` events after `pos`, joined across the log's cached
 * ranges (one range may end early): short only at the newest event known,
 * so "a full read" means that more events follow. `wait` bounds the first
 * read (which may wait at the frontier), `signal` the reads that join it.
 */
export async function readWhole(log: EventLog, pos: number, limit: number, wait?: AbortSignal, signal: AbortSignal | undefined = wait): Promise<EventSlice> {
  let { events, upTo } = await log.next(pos, limit, wait);
  while (events.length < limit && upTo < log.frontier && signal?.aborted !== true) {
    const more = await log.next(upTo, limit - events.length, signal);
    if (more.upTo <= upTo) break;
    events = events.concat(more.events);
    upTo = more.upTo;
  }
  return { events, upTo };
}

/**
 * At a cursor's start: the rows above `position` folded into a `_New` at or
 * below it (row id → `_New` id), found by reading `horizon` ids back. Such a
 * row belongs to that `_New` (finished with it, or pending with it) and is
 * never delivered alone.
 */
export async function rowsFoldedBelow(log: EventLog, position: number, opts: CoalesceOptions & { horizon: number }, signal: AbortSignal): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  if (position <= 0) return out;
  const slice = await readWhole(log, Math.max(0, position - opts.horizon), 2 * opts.horizon, signal);
  for (const [rowId, owner] of owners(slice.events, opts)) {
    if (owner.id <= position && rowId > position) out.set(rowId, owner.id);
  }
  return out;
}
