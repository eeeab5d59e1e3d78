import type { Logger } from 'pino';
import { setLongTimeout, type LongTimer } from '../shared/index.ts';
import type { BacklogKind, CounterDelta, NewDeadLetter, PluginRow, StateBatch, StateStore } from '../state/index.ts';

interface BacklogChange {
  expiresAt: number;
  kind: BacklogKind;
}

export interface StateBatcherOptions {
  flushMs: number;
  flushEvents: number;
  logger: Logger;
  /** The first failed commit after a good one (or the start): told once per run of failures. */
  onWriteFailure?: (err: unknown) => void;
}

/**
 * Collects what the cursors changed and writes it to the state store in one
 * transaction every `flushMs` or `flushEvents` events, whichever comes first,
 * so the state cost per event is a few map writes. A crash loses at most the
 * unflushed window, which is then delivered again (at least once), never
 * skipped. A failed commit keeps its changes for the next flush.
 */
export class StateBatcher {
  readonly #store: StateStore;
  readonly #opts: StateBatcherOptions;
  #plugins = new Map<string, PluginRow>();
  #backlog = new Map<string, Map<number, BacklogChange | null>>(); // pluginId → eventId → row (null = remove)
  #counters = new Map<string, CounterDelta>();
  #deadLetters: NewDeadLetter[] = [];
  #events = 0;
  #timer: LongTimer | null = null;
  #flushing: Promise<void> | null = null;
  #closed = false;
  #failing = false;
  readonly stats = { flushes: 0, failures: 0 };

  constructor(store: StateStore, opts: StateBatcherOptions) {
    this.#store = store;
    this.#opts = opts;
  }

  /** The plugin's row as it is now; the batcher keeps `row` (callers hand over a fresh object). */
  plugin(row: PluginRow): void {
    this.#plugins.set(row.id, row);
    this.#dirty();
  }

  /** A gap waiting for a late id (with its expiry), or an event handed out and not finished ('pending', no expiry). */
  backlogAdd(pluginId: string, eventId: number, expiresAt: number, kind: BacklogKind = 'gap'): void {
    this.#backlogFor(pluginId).set(eventId, { expiresAt, kind });
    this.#dirty();
  }

  backlogRemove(pluginId: string, eventId: number): void {
    this.#backlogFor(pluginId).set(eventId, null);
    this.#dirty();
  }

  counter(delta: CounterDelta): void {
    const key = `${delta.pluginId}\u0000${delta.callback}`;
    const prev = this.#counters.get(key);
    if (prev === undefined) this.#counters.set(key, { ...delta });
    else {
      prev.processed += delta.processed;
      prev.failed += delta.failed;
      prev.totalMs += delta.totalMs;
      if (delta.lastEventId !== undefined) prev.lastEventId = delta.lastEventId;
      if (delta.lastError !== undefined) prev.lastError = delta.lastError;
    }
    this.#dirty();
  }

  deadLetter(entry: NewDeadLetter): void {
    this.#deadLetters.push(entry);
    this.#dirty();
  }

  /** Counts one processed event; flushes when the batch is full. */
  eventDone(): void {
    if (++this.#events >= this.#opts.flushEvents) void this.flush();
  }

  /** Writes everything pending now; concurrent calls share one commit. */
  async flush(): Promise<void> {
    if (this.#flushing) {
      await this.#flushing;
      if (!this.#hasPending()) return;
    }
    if (!this.#hasPending()) return;
    this.#flushing = this.#flushOnce().finally(() => {
      this.#flushing = null;
    });
    await this.#flushing;
  }

  /** Flushes and stops the timer. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#timer?.clear();
    this.#timer = null;
    await this.flush();
  }

  async #flushOnce(): Promise<void> {
    this.#timer?.clear();
    this.#timer = null;
    const batch = this.#take();
    try {
      await this.#store.commit(batch);
      this.stats.flushes++;
      this.#failing = false;
    } catch (err) {
      this.stats.failures++;
      this.#opts.logger.error({ err }, 'writing daemon state failed; keeping the changes for the next flush');
      if (!this.#failing) this.#opts.onWriteFailure?.(err);
      this.#failing = true;
      this.#putBack(batch);
      this.#dirty();
    }
  }

  #take(): StateBatch {
    const batch: StateBatch = {
      plugins: [...this.#plugins.values()],
      backlogAdd: [],
      backlogRemove: [],
      counters: [...this.#counters.values()],
      deadLetters: this.#deadLetters,
    };
    for (const [pluginId, ids] of this.#backlog) {
      for (const [eventId, row] of ids) {
        if (row === null) batch.backlogRemove?.push({ pluginId, eventId });
        else batch.backlogAdd?.push(row.kind === 'gap' ? { pluginId, eventId, expiresAt: row.expiresAt } : { pluginId, eventId, expiresAt: row.expiresAt, kind: row.kind });
      }
    }
    this.#plugins = new Map();
    this.#backlog = new Map();
    this.#counters = new Map();
    this.#deadLetters = [];
    this.#events = 0;
    return batch;
  }

  /** Merges a failed batch under anything newer that arrived meanwhile. */
  #putBack(batch: StateBatch): void {
    for (const row of batch.plugins ?? []) if (!this.#plugins.has(row.id)) this.#plugins.set(row.id, row);
    for (const b of batch.backlogAdd ?? []) {
      const m = this.#backlogFor(b.pluginId);
      if (!m.has(b.eventId)) m.set(b.eventId, { expiresAt: b.expiresAt, kind: b.kind ?? 'gap' });
    }
    for (const b of batch.backlogRemove ?? []) {
      const m = this.#backlogFor(b.pluginId);
      if (!m.has(b.eventId)) m.set(b.eventId, null);
    }
    for (const c of batch.counters ?? []) {
      // Sums add up; the last event and error stay the newer ones when a change arrived meanwhile.
      const newer = this.#counters.get(`${c.pluginId}\u0000${c.callback}`);
      if (newer === undefined) this.#counters.set(`${c.pluginId}\u0000${c.callback}`, { ...c });
      else {
        newer.processed += c.processed;
        newer.failed += c.failed;
        newer.totalMs += c.totalMs;
        if (newer.lastEventId === undefined && c.lastEventId !== undefined) newer.lastEventId = c.lastEventId;
        if (newer.lastError === undefined && c.lastError !== undefined) newer.lastError = c.lastError;
      }
    }
    this.#deadLetters.unshift(...(batch.deadLetters ?? []));
  }

  #backlogFor(pluginId: string): Map<number, BacklogChange | null> {
    let m = this.#backlog.get(pluginId);
    if (m === undefined) {
      m = new Map<number, BacklogChange | null>();
      this.#backlog.set(pluginId, m);
    }
    return m;
  }

  #hasPending(): boolean {
    return this.#plugins.size > 0 || this.#backlog.size > 0 || this.#counters.size > 0 || this.#deadLetters.length > 0;
  }

  #dirty(): void {
    if (this.#timer !== null || this.#closed) return;
    this.#timer = setLongTimeout(() => {
      this.#timer = null;
      void this.flush();
    }, this.#opts.flushMs);
    this.#timer.unref();
  }
}
