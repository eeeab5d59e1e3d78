import { setLongTimeout, type LongTimer } from '../shared/index.ts';
import type { EventLogEntry } from '../shared/index.ts';
import type { EventSource, SourceLogger } from './types.ts';
import { CulledLogCheck } from './culled-log.ts';
import { RangeCache, sliceOf, type EventSlice, type Range } from './range-cache.ts';

export interface EventLogOptions {
  batchSize: number;
  fetchIntervalMs: number;
  /** Events kept in memory across all ranges; older ones are dropped first. */
  maxCachedEvents: number;
  logger: SourceLogger;
  /** Told of the events each poll at the frontier found, none included (not catch-up reads): the silent-webhook watch. */
  onPolled?: (events: readonly EventLogEntry[]) => void;
}

/**
 * The daemon's one view of the site's event log, shared by every plugin cursor.
 *
 * Cursors pull at their own pace (`next(pos)`), so a slow plugin never holds
 * back the others. Reads are shared: the poller extends a live range at the
 * frontier when some cursor waits there (at most once per `fetchIntervalMs`,
 * at once after a full batch), and a cursor that is behind reads a catch-up
 * range that cursors at nearby positions then reuse. Memory is bounded by
 * `maxCachedEvents`: the oldest events are dropped and re-read if needed.
 */
export class EventLog {
  readonly #source: EventSource;
  readonly #opts: EventLogOptions;
  readonly #cache: RangeCache;
  #frontier = 0;
  #started = false;
  #waiters = new Set<() => void>();
  #poll: Promise<void> | null = null;
  #pollTimer: LongTimer | null = null;
  #lastPollAt = 0;
  #lastBatchFull = false;
  #catchUps = new Map<number, Promise<Range | null>>();
  #lookupQueue: { ids: Set<number>; promise: Promise<Map<number, EventLogEntry>> } | null = null;
  #closed = new AbortController();
  /** The highest id a webhook delivery announced that no poll has found yet (0: none). */
  #announced = 0;
  /** When the next poll is due because of a delivery (null: none is); see `nudge`. */
  #nudgeDueAt: number | null = null;
  /** Polls since the announced id was first asked for that came back short of it. */
  #shortReads = 0;
  #nudgedWhilePolling = false;
  readonly #culled: CulledLogCheck;
  readonly stats = { polls: 0, catchUpReads: 0, readAheads: 0, idLookups: 0, served: 0, nudges: 0, lateRereads: 0 };

  constructor(source: EventSource, opts: EventLogOptions) {
    this.#source = source;
    this.#opts = opts;
    this.#culled = new CulledLogCheck(source);
    this.#cache = new RangeCache(opts.maxCachedEvents);
  }

  /** Highest event id the daemon has seen on the site. */
  get frontier(): number {
    return this.#frontier;
  }

  get lastPollAt(): number {
    return this.#lastPollAt;
  }

  get cachedEvents(): number {
    return this.#cache.size;
  }

  /** Reads the site's newest id; the live range starts there. */
  async start(signal?: AbortSignal): Promise<number> {
    const newest = await this.#source.newestId(signal);
    this.#frontier = newest;
    this.#cache.reset(newest);
    this.#lastPollAt = Date.now();
    this.#started = true;
    return newest;
  }

  /**
   * A webhook delivery says the log has reached at least `eventId`: poll now
   * if a cursor waits at the frontier (else at once when one does). Bursts
   * coalesce: one read in flight, one queued. A read that comes back short
   * of the announced id (a row that commits late) is repeated after 200 ms
   * and 1 s, then polling takes over; a forged huge id costs those reads and
   * moves nothing, since only what the log returns is ever handed out.
   */
  nudge(eventId: number): void {
    if (!this.#started || this.#closed.signal.aborted) return;
    this.stats.nudges++;
    if (eventId <= this.#frontier) return;
    if (eventId > this.#announced) {
      this.#announced = eventId;
      this.#shortReads = 0;
    }
    this.#nudgeDueAt = Date.now();
    if (this.#poll !== null) {
      this.#nudgedWhilePolling = true;
      return;
    }
    if (this.#waiters.size === 0) return;
    this.#pollTimer?.clear();
    this.#pollTimer = null;
    this.#schedulePoll();
  }

  close(): void {
    this.#closed.abort();
    this.#pollTimer?.clear();
    this.#pollTimer = null;
    for (const w of this.#waiters) w();
    this.#waiters.clear();
  }

  /**
   * Events with `id > pos`, at most `limit`, in id order. At the frontier it
   * waits for the next poll (or until `signal` aborts, then returns nothing).
   */
  async next(pos: number, limit: number, signal?: AbortSignal): Promise<EventSlice> {
    if (!this.#started) throw new Error('EventLog.next() before start()');
    for (;;) {
      if (signal?.aborted || this.#closed.signal.aborted) return { events: [], upTo: pos };
      const hit = this.#slice(pos, limit);
      if (hit) return this.#notCulled(pos, hit);
      if (pos >= this.#frontier) {
        await this.#waitForPoll(signal);
        continue;
      }
      // The read is shared with other cursors at this position, so it runs to
      // its end under the log's own signal; this caller only stops waiting.
      const range = await untilAborted(this.#catchUp(pos, limit), signal);
      if (range === ABORTED) return { events: [], upTo: pos };
      // The cursor consumes what it read even if the cache drops it at once.
      if (range !== null) return this.#notCulled(pos, this.#readAhead(sliceOf(range, pos, limit)));
    }
  }

  /** The lowest id the site's log still holds (read at most once a minute); 0 when it is empty. */
  oldestId(): Promise<number> {
    return this.#culled.oldestId(this.#closed.signal);
  }

  /** EVENT_LOG_CULLED instead of a slice that would silently step over culled ids (culled-log.ts). */
  async #notCulled(pos: number, slice: EventSlice): Promise<EventSlice> {
    const first = slice.events[0];
    if (first !== undefined) await this.#culled.check(pos, first.id, this.#closed.signal);
    return slice;
  }

  /**
   * Looks up late ids (a plugin's backlog). Calls made in the same tick are
   * merged into one request, so ten plugins with the same gap cost one read.
   */
  lookup(ids: readonly number[], signal?: AbortSignal): Promise<Map<number, EventLogEntry>> {
    if (this.#lookupQueue === null) {
      const queue = { ids: new Set<number>(), promise: Promise.resolve(new Map<number, EventLogEntry>()) };
      queue.promise = new Promise<void>((r) => setImmediate(r)).then(async () => {
        this.#lookupQueue = null;
        const all = [...queue.ids].sort((a, b) => a - b);
        const found = new Map<number, EventLogEntry>();
        for (let i = 0; i < all.length; i += this.#opts.batchSize) {
          this.stats.idLookups++;
          for (const e of await this.#source.readIds(all.slice(i, i + this.#opts.batchSize), this.#closed.signal)) {
            found.set(e.id, e);
          }
        }
        return found;
      });
      this.#lookupQueue = queue;
    }
    for (const id of ids) this.#lookupQueue.ids.add(id);
    const shared = this.#lookupQueue.promise;
    return untilAborted(shared, signal).then((r) => (r === ABORTED ? new Map<number, EventLogEntry>() : r));
  }

  #slice(pos: number, limit: number): EventSlice | null {
    const slice = this.#cache.slice(pos, limit);
    if (slice === null) return null;
    this.stats.served += slice.events.length;
    return this.#readAhead(slice);
  }

  /**
   * A reader behind the frontier will ask for what follows its slice: the
   * next `READ_AHEAD` batches are read now, while it hands this slice to its
   * plugin, so the site, this thread and the plugins work at the same time.
   * Where the next batch is still being read, the one after it is guessed to
   * start a batch of ids further on (ids rarely have gaps; a wrong guess
   * only reads some events twice, as ranges merge by id).
   */
  #readAhead(slice: EventSlice): EventSlice {
    let pos = slice.upTo;
    for (let left = READ_AHEAD; left > 0 && pos < this.#frontier && !this.#closed.signal.aborted; left--) {
      const cached = this.#cache.covering(pos);
      if (cached !== undefined) {
        pos = cached.upTo;
        continue;
      }
      if (!this.#catchUps.has(pos)) {
        this.stats.readAheads++;
        // Nobody may wait for it yet: a failed read-ahead is read again on demand.
        this.#catchUp(pos, this.#opts.batchSize).catch(() => undefined);
      }
      pos += this.#opts.batchSize;
    }
    return slice;
  }

  #waitForPoll(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.#waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.#waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
      this.#schedulePoll();
    });
  }

  #schedulePoll(): void {
    if (this.#poll !== null || this.#pollTimer !== null || this.#closed.signal.aborted) return;
    const now = Date.now();
    const regular = this.#lastPollAt + this.#opts.fetchIntervalMs;
    const due = this.#lastBatchFull ? 0 : Math.max(0, Math.min(regular, this.#nudgeDueAt ?? regular) - now);
    this.#pollTimer = setLongTimeout(() => {
      this.#pollTimer = null;
      this.#nudgedWhilePolling = false;
      this.#poll = this.#pollOnce().finally(() => {
        this.#poll = null;
        this.#afterNudgedPoll();
        const waiters = [...this.#waiters];
        for (const w of waiters) w();
      });
    }, due);
  }

  /** After a poll: the announced id was found, or the next re-read is due, or polling takes over. */
  #afterNudgedPoll(): void {
    if (this.#announced <= this.#frontier) {
      this.#announced = 0;
      this.#nudgeDueAt = null;
      this.#shortReads = 0;
      return;
    }
    // A delivery came in while the read was in flight, or the read was a full batch: read again at once.
    if (this.#nudgedWhilePolling || this.#lastBatchFull) {
      this.#nudgeDueAt = Date.now();
      return;
    }
    const delay = LATE_ROW_REREADS_MS[this.#shortReads];
    this.#shortReads++;
    if (delay === undefined) {
      this.#opts.logger.debug({ announced: this.#announced, frontier: this.#frontier }, 'a delivery announced an id the log has not shown; left to polling');
      this.#announced = 0;
      this.#nudgeDueAt = null;
      this.#shortReads = 0;
      return;
    }
    this.stats.lateRereads++;
    this.#nudgeDueAt = Date.now() + delay;
  }

  async #pollOnce(): Promise<void> {
    this.#lastPollAt = Date.now();
    this.stats.polls++;
    let events: EventLogEntry[];
    try {
      events = await this.#source.readAfter(this.#frontier, this.#opts.batchSize, this.#closed.signal);
    } catch (err) {
      if (!this.#closed.signal.aborted) this.#opts.logger.error({ err }, 'polling the event log failed');
      this.#lastBatchFull = false;
      return;
    }
    this.#lastBatchFull = events.length >= this.#opts.batchSize;
    const last = events.at(-1);
    if (last !== undefined) {
      const from = this.#frontier;
      this.#frontier = last.id;
      this.#cache.insert({ after: from, upTo: last.id, events });
    }
    // Told of empty polls too: the silent-webhook watch checks its clock on each.
    this.#opts.onPolled?.(events);
  }

  async #catchUp(pos: number, limit: number): Promise<Range | null> {
    let pending = this.#catchUps.get(pos);
    if (pending === undefined) {
      pending = (async () => {
        this.stats.catchUpReads++;
        // Ids past the frontier belong to the poller's live range; a catch-up
        // range stops at the frontier as it was when the read was sent.
        const bound = this.#frontier;
        const want = Math.max(limit, this.#opts.batchSize);
        const read = await this.#source.readAfter(pos, want, this.#closed.signal);
        const events = read.filter((e) => e.id <= bound);
        const complete = read.length < want || events.length < read.length;
        const upTo = complete ? bound : (events.at(-1)?.id ?? bound);
        const range = { after: pos, upTo, events };
        this.#cache.insert({ ...range, events: [...events] });
        return upTo > pos ? range : null;
      })().finally(() => this.#catchUps.delete(pos));
      this.#catchUps.set(pos, pending);
    }
    return pending;
  }

}

const ABORTED = Symbol('aborted');

/** When a read came back short of an id a delivery announced, it is read again after these delays, then left to polling. */
const LATE_ROW_REREADS_MS = [200, 1000];

/** Batches read ahead of a reader that is catching up. */
const READ_AHEAD = 2;

/** Waits for `p`, or stops waiting (not `p` itself) when `signal` aborts. */
function untilAborted<T>(p: Promise<T>, signal?: AbortSignal): Promise<T | typeof ABORTED> {
  if (signal === undefined) return p;
  if (signal.aborted) {
    p.catch(() => undefined);
    return Promise.resolve(ABORTED);
  }
  return new Promise((resolve, reject) => {
    const onAbort = (): void => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) resolve(ABORTED);
        else reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
