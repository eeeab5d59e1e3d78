// Creation storms: a site writes one `_Change` row with `meta.in_create: true`
// for every field set when an entity is created. With `coalesceCreation`, a
// plugin gets those rows inside the `_New` event instead of one by one.
import type { EventLogEntry } from '../shared/index.ts';

export interface CoalesceOptions {
  /** An in_create row folds into its `_New` when its created_at is at most this much later. */
  windowMs: number;
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

/**
 * Folds the in_create rows of `events` (ascending ids) into their entity's
 * `_New` when it is among `events` and the row is within the window. The
 * rule depends only on the events, so reading the same ids again (after a
 * restart) folds the same rows. `more`: the read was full, later events may
 * belong to an open `_New` in its second half; that tail is left for the
 * next read (so a read always moves on by at least half).
 */
export function foldCreations(events: readonly EventLogEntry[], opts: CoalesceOptions, more: boolean): FoldedSlice {
  let taken = events.length;
  const last = events.at(-1);
  if (more && last !== undefined) {
    // Only the second half is held back, so a storm of creations still moves half a read at a time.
    const from = Math.max(1, Math.floor(events.length / 2));
    const open = events.findIndex((e, i) => i >= from && NEW.test(e.event_type) && after(e, last) <= opts.windowMs);
    if (open > 0) taken = open;
  }
  const news = new Map<string, EventLogEntry>();
  const out: EventLogEntry[] = [];
  const rows = new Map<number, EventLogEntry[]>();
  for (const event of events.slice(0, taken)) {
    const key = entityKey(event);
    if (key !== null && NEW.test(event.event_type)) {
      news.set(key, event);
      out.push(event);
      continue;
    }
    const owner = key === null ? undefined : news.get(key);
    if (owner !== undefined && isInCreate(event) && after(owner, event) <= opts.windowMs && after(owner, event) >= 0) {
      let list = rows.get(owner.id);
      if (list === undefined) rows.set(owner.id, (list = []));
      list.push(event);
      continue;
    }
    out.push(event);
  }
  const folded = new Map<number, number[]>();
  const events2 = out.map((event) => {
    const list = rows.get(event.id);
    if (list === undefined) return event;
    folded.set(event.id, list.map((r) => r.id));
    return { ...event, meta: { ...(event.meta ?? {}), in_create_changes: list } };
  });
  return { events: events2, folded, taken };
}
