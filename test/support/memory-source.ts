// An event source held in memory, for driving the real EventLog and plugin
// cursors without a site: events are appended by the test, ids can arrive late
// (held back, then released), never (burnt), and reads can fail on demand.
import { pino, type Logger } from 'pino';
import type { EventLogEntry } from '../../src/shared/index.ts';
import type { EventSource } from '../../src/source/index.ts';
import { SgeventdError } from '../../src/shared/index.ts';

export type SourceCall = 'newestId' | 'readAfter' | 'readIds';

/** What a read that was told to fail throws. */
export class MemorySourceReadError extends SgeventdError {
  constructor(call: SourceCall) {
    super('MEMORY_SOURCE_READ_FAILED', `memory source: ${call} failed on request`, { details: { call } });
  }
}

/**
 * The site's event log as an array the test controls. Ids are handed out in
 * order; an id may be held back (committed late: invisible until released) or
 * burnt (never visible, as a rolled-back transaction leaves it).
 */
export class MemorySource implements EventSource {
  readonly #events: EventLogEntry[] = [];
  readonly #held = new Set<number>();
  #lastId: number;
  #failures: Array<{ call: SourceCall | 'any'; left: number }> = [];
  readonly calls: Record<SourceCall, number> = { newestId: 0, readAfter: 0, readIds: 0 };
  /** Every id asked for through readIds, in order (the backlog lookups). */
  readonly lookedUp: number[][] = [];

  constructor(opts: { firstId?: number } = {}) {
    this.#lastId = (opts.firstId ?? 1) - 1;
  }

  /** Appends `count` visible events; returns their ids. */
  append(count = 1, opts: { createdAt?: Date; held?: boolean } = {}): number[] {
    const ids: number[] = [];
    for (let i = 0; i < count; i++) {
      const id = ++this.#lastId;
      this.#events.push(makeEvent(id, opts.createdAt ?? new Date()));
      if (opts.held === true) this.#held.add(id);
      ids.push(id);
    }
    return ids;
  }

  /** Appends one event that stays invisible until `release(id)`. */
  appendHeld(opts: { createdAt?: Date } = {}): number {
    const [id] = this.append(1, { ...opts, held: true });
    return id as number;
  }

  /** Hides events already appended until they are released (ids the site had not committed yet). */
  hold(...ids: number[]): void {
    for (const id of ids) this.#held.add(id);
  }

  /** Makes held ids visible (all of them when none are named); returns how many. */
  release(...ids: number[]): number {
    const which = ids.length > 0 ? ids : [...this.#held];
    let n = 0;
    for (const id of which) if (this.#held.delete(id)) n++;
    return n;
  }

  /** Uses up the next id: no event will ever carry it. */
  burn(): number {
    return ++this.#lastId;
  }

  /** The next `times` calls of `call` (of any call by default) throw MemorySourceReadError. */
  failNext(times: number, call: SourceCall | 'any' = 'any'): void {
    this.#failures.push({ call, left: times });
  }

  /** Failures asked for by failNext that have not happened yet. */
  get pendingFailures(): number {
    return this.#failures.reduce((n, f) => n + f.left, 0);
  }

  /** The last id handed out (held and burnt ids included). */
  get lastId(): number {
    return this.#lastId;
  }

  get heldIds(): number[] {
    return [...this.#held].sort((a, b) => a - b);
  }

  newestId(signal?: AbortSignal): Promise<number> {
    return this.#answer('newestId', signal, () => this.#visible().at(-1)?.id ?? 0);
  }

  readAfter(afterId: number, limit: number, signal?: AbortSignal): Promise<EventLogEntry[]> {
    return this.#answer('readAfter', signal, () => this.#visible().filter((e) => e.id > afterId).slice(0, limit));
  }

  readIds(ids: readonly number[], signal?: AbortSignal): Promise<EventLogEntry[]> {
    return this.#answer('readIds', signal, () => {
      this.lookedUp.push([...ids]);
      const want = new Set(ids);
      return this.#visible().filter((e) => want.has(e.id));
    });
  }

  async #answer<T>(call: SourceCall, signal: AbortSignal | undefined, read: () => T): Promise<T> {
    this.calls[call]++;
    // Answer on a later tick, as a real read would.
    await Promise.resolve();
    signal?.throwIfAborted();
    const failure = this.#failures.find((f) => f.left > 0 && (f.call === 'any' || f.call === call));
    if (failure !== undefined) {
      failure.left--;
      this.#failures = this.#failures.filter((f) => f.left > 0);
      throw new MemorySourceReadError(call);
    }
    // Copies, so a reader never shares objects with the test's array.
    return structuredClone(read());
  }

  #visible(): EventLogEntry[] {
    return this.#events.filter((e) => !this.#held.has(e.id));
  }
}

/** A Shot status change with id `id`. */
export function makeEvent(id: number, createdAt = new Date()): EventLogEntry {
  return {
    type: 'EventLogEntry',
    id,
    event_type: 'Shotgun_Shot_Change',
    attribute_name: 'sg_status_list',
    meta: { type: 'attribute_change', old_value: 'wtg', new_value: 'ip' },
    entity: { type: 'Shot', id: 1 },
    user: { type: 'ApiUser', id: 1 },
    project: { type: 'Project', id: 1 },
    session_uuid: null,
    created_at: createdAt,
  };
}

/** One JSON log record as pino wrote it. */
export type LogRecord = Record<string, unknown> & { level: number; msg?: string };

/** A pino logger (debug and up) whose records are kept in `records`. */
export function memoryLogger(): { logger: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const stream = {
    write(chunk: string): void {
      for (const line of chunk.split('\n')) if (line.length > 0) records.push(JSON.parse(line) as LogRecord);
    },
  };
  return { logger: pino({ level: 'debug' }, stream), records };
}

export { waitFor } from './wait.ts';
