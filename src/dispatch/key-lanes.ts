// Key lanes: one queue per concurrency key, so a key's events keep their order
// while different keys run at once. Pure bookkeeping: the ConcurrentCursor
// decides when to read, run and finish.
import { performance } from 'node:perf_hooks';
import type { EventLogEntry } from '../shared/index.ts';
import { resolveConcurrency, type ConcurrencyOption } from '../config/index.ts';
import type { LoadResult } from '../hosts/index.ts';

/**
 * The concurrency a loaded plugin runs with: the config's, else what the file
 * declared, else `by: none`. JS plugins run concurrent callbacks in their
 * thread, Python plugins in forked workers, Python Toolkit plugins in
 * runtimes of each event's project.
 */
export function effectiveConcurrency(loaded: Extract<LoadResult, { ok: true }>, configured: ConcurrencyOption | undefined): ConcurrencyOption {
  return resolveConcurrency(configured, loaded.concurrency);
}

export type ConcurrencyKeyBy = 'project' | 'entity';

/** The lane of events with no project (Reply events among them). */
export const NO_PROJECT_KEY = 'project:none';

/**
 * The key an event's lane is chosen by: `project` is the event's project id
 * (events with no project share a lane of their own); `entity` is `type:id`
 * of its entity, else `meta.entity_type`/`meta.entity_id` (retirements), else
 * its project key.
 */
export function laneKey(event: EventLogEntry, by: ConcurrencyKeyBy): string {
  if (by === 'entity') {
    const entity = event.entity;
    if (entity !== null && entity !== undefined && typeof entity.type === 'string' && typeof entity.id === 'number') return `${entity.type}:${entity.id}`;
    const meta = event.meta as { entity_type?: unknown; entity_id?: unknown } | null | undefined;
    if (meta !== null && meta !== undefined && typeof meta.entity_type === 'string' && typeof meta.entity_id === 'number') {
      return `${meta.entity_type}:${meta.entity_id}`;
    }
  }
  const project = event.project;
  return project !== null && project !== undefined && typeof project.id === 'number' ? `project:${project.id}` : NO_PROJECT_KEY;
}

/**
 * The lanes of one plugin. `held` counts the events kept in memory (queued or
 * running); past `window` the cursor parks the longest lane: its queued
 * events (not the running one) are dropped back to ids, later events of that
 * key join the ids, and they are read again once the lane is idle. A key that
 * hangs therefore never holds the memory other keys need.
 */
export class KeyLanes {
  readonly window: number;
  readonly #queues = new Map<string, EventLogEntry[]>();
  readonly #busy = new Set<string>();
  /** Keys with queued events and nothing running, oldest first. */
  readonly #ready = new Set<string>();
  /** Ids dropped back by key, in lane order. */
  readonly #parked = new Map<string, number[]>();
  /** Event id → when it joined its lane's queue (performance.now()). */
  readonly #joined = new Map<number, number>();
  #held = 0;

  constructor(window: number) {
    this.window = window;
  }

  get held(): number {
    return this.#held;
  }

  get busy(): number {
    return this.#busy.size;
  }

  get parkedIds(): number {
    let n = 0;
    for (const ids of this.#parked.values()) n += ids.length;
    return n;
  }

  full(): boolean {
    return this.#held >= this.window;
  }

  /** Queues an event at the end of its lane, or adds its id to the lane's parked ids. */
  add(key: string, event: EventLogEntry): 'queued' | 'parked' {
    const parked = this.#parked.get(key);
    if (parked !== undefined) {
      parked.push(event.id);
      return 'parked';
    }
    let queue = this.#queues.get(key);
    if (queue === undefined) {
      queue = [];
      this.#queues.set(key, queue);
    }
    queue.push(event);
    this.#joined.set(event.id, performance.now());
    this.#held++;
    if (!this.#busy.has(key)) this.#ready.add(key);
    return 'queued';
  }

  /**
   * The head of the lane that waited longest, marked running, with the ms it
   * waited in its lane since it joined the queue (null when it ran before:
   * a head that runs again); null when every lane with events is running.
   */
  take(): { key: string; event: EventLogEntry; waitedMs: number | null } | null {
    for (const key of this.#ready) {
      this.#ready.delete(key);
      const event = this.#queues.get(key)?.[0];
      if (event === undefined) continue;
      this.#busy.add(key);
      const joined = this.#joined.get(event.id);
      this.#joined.delete(event.id);
      return { key, event, waitedMs: joined === undefined ? null : performance.now() - joined };
    }
    return null;
  }

  /** The running head of `key` finished: the lane moves on. */
  finish(key: string): void {
    const queue = this.#queues.get(key);
    if (queue !== undefined && queue.length > 0) {
      queue.shift();
      this.#held--;
    }
    this.#settle(key);
  }

  /** The running head of `key` did not finish (aborted): it stays at the head, to run again. */
  release(key: string): void {
    this.#settle(key);
  }

  /** Parks the lane with the most queued events; returns how many events it dropped back to ids. */
  parkLongest(): number {
    let longest: string | null = null;
    let most = 0;
    for (const [key, queue] of this.#queues) {
      const droppable = queue.length - (this.#busy.has(key) ? 1 : 0);
      if (droppable > most) {
        most = droppable;
        longest = key;
      }
    }
    if (longest === null) return 0;
    const queue = this.#queues.get(longest) as EventLogEntry[];
    const keep = this.#busy.has(longest) ? 1 : 0;
    const dropped = queue.splice(keep).map((e) => e.id);
    for (const id of dropped) this.#joined.delete(id);
    this.#held -= dropped.length;
    this.#parked.set(longest, [...dropped, ...(this.#parked.get(longest) ?? [])]);
    if (queue.length === 0) this.#queues.delete(longest);
    this.#ready.delete(longest);
    return dropped.length;
  }

  /**
   * Parked ids of an idle lane to read again (at most `limit`), in lane
   * order; the lane is unparked once all its ids were taken.
   */
  takeParked(limit: number): { key: string; ids: number[] } | null {
    for (const [key, ids] of this.#parked) {
      if (this.#busy.has(key) || (this.#queues.get(key)?.length ?? 0) > 0) continue;
      const chunk = ids.splice(0, limit);
      if (ids.length === 0) this.#parked.delete(key);
      return { key, ids: chunk };
    }
    return null;
  }

  /** Ids taken by takeParked that could not be read: parked again, ahead of the rest. */
  returnParked(key: string, ids: readonly number[]): void {
    if (ids.length === 0) return;
    this.#parked.set(key, [...ids, ...(this.#parked.get(key) ?? [])]);
  }

  /** Ids read again for a parked lane go to its queue, ahead of ids still parked. */
  requeue(key: string, events: readonly EventLogEntry[]): void {
    let queue = this.#queues.get(key);
    if (queue === undefined) {
      queue = [];
      this.#queues.set(key, queue);
    }
    queue.push(...events);
    const now = performance.now();
    for (const e of events) this.#joined.set(e.id, now);
    this.#held += events.length;
    if (queue.length > 0 && !this.#busy.has(key)) this.#ready.add(key);
  }

  #settle(key: string): void {
    this.#busy.delete(key);
    const queue = this.#queues.get(key);
    if (queue !== undefined && queue.length > 0) this.#ready.add(key);
    else this.#queues.delete(key);
  }
}
