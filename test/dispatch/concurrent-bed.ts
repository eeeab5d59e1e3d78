// A concurrent plugin cursor on the bench: the real EventLog over a
// MemorySource whose events carry a project chosen by id, the real SQLite
// store behind a StateBatcher, and any handler (scripted, or a real host).
import type { TestContext } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventLog, type EventSource } from '../../src/source/index.ts';
import { ConcurrentCursor, StateBatcher, type ConcurrentCursorOptions, type CursorHandler, type PluginFailure } from '../../src/dispatch/index.ts';
import { openSqliteState, type PluginState, type SqliteStateStore } from '../../src/state/index.ts';
import type { EventLogEntry } from '../../src/shared/index.ts';
import { MemorySource, memoryLogger, type LogRecord } from '../support/memory-source.ts';

export const PLUGIN_ID = 'concurrent-under-test';

/** The memory source with a project per event: `projectOf(id)` (null: no project). */
export class KeyedSource implements EventSource {
  readonly inner = new MemorySource();
  readonly #projectOf: (id: number) => number | null;

  constructor(projectOf: (id: number) => number | null) {
    this.#projectOf = projectOf;
  }

  newestId(signal?: AbortSignal): Promise<number> {
    return this.inner.newestId(signal);
  }

  async readAfter(afterId: number, limit: number, signal?: AbortSignal): Promise<EventLogEntry[]> {
    return (await this.inner.readAfter(afterId, limit, signal)).map((e) => this.#keyed(e));
  }

  async readIds(ids: readonly number[], signal?: AbortSignal): Promise<EventLogEntry[]> {
    return (await this.inner.readIds(ids, signal)).map((e) => this.#keyed(e));
  }

  #keyed(e: EventLogEntry): EventLogEntry {
    const project = this.#projectOf(e.id);
    return { ...e, project: project === null ? null : { type: 'Project', id: project }, entity: { type: 'Shot', id: e.id % 3 } };
  }
}

export interface ConcurrentBed {
  source: KeyedSource;
  log: EventLog;
  store: SqliteStateStore;
  batcher: StateBatcher;
  records: LogRecord[];
  failures: PluginFailure[];
  cursor(handler: CursorHandler, opts?: Partial<ConcurrentCursorOptions> & { state?: CursorState }): ConcurrentCursor;
  running(cursor: ConcurrentCursor): Promise<void>;
  stored(): Promise<PluginState | undefined>;
}

export type CursorState = ConstructorParameters<typeof ConcurrentCursor>[0];

export async function concurrentBed(t: TestContext, projectOf: (id: number) => number | null, opts: { batchSize?: number } = {}): Promise<ConcurrentBed> {
  const dir = await mkdtemp(join(tmpdir(), 'sgeventd-conc-'));
  const { logger, records } = memoryLogger();
  const source = new KeyedSource(projectOf);
  const log = new EventLog(source, { batchSize: opts.batchSize ?? 50, fetchIntervalMs: 20, maxCachedEvents: 20_000, logger });
  const store = await openSqliteState(join(dir, 'state.db'), { synchronous: 'normal' });
  const batcher = new StateBatcher(store, { flushMs: 50, flushEvents: 1000, logger });
  const failures: PluginFailure[] = [];
  const cursors = new Map<ConcurrentCursor, Promise<void>>();
  t.after(async () => {
    for (const cursor of cursors.keys()) await cursor.stop();
    await Promise.all(cursors.values());
    log.close();
    await batcher.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  await log.start();
  return {
    source, log, store, batcher, records, failures,
    cursor(handler, o = {}) {
      const { state, ...rest } = o;
      const cursor = new ConcurrentCursor(state ?? { lastEventId: 0, backlog: [], lastError: null }, log, handler, () => true, batcher, {
        id: PLUGIN_ID, folder: '/plugins', name: 'concurrent', batchSize: opts.batchSize ?? 50, fetchIntervalMs: 20,
        backlogTimeoutMs: 60_000, retries: 0, retryBackoffMs: 0, deadLetter: true, logger: logger.child({ plugin: 'concurrent' }),
        onFailure: (f) => failures.push(f), by: 'project', max: 4, window: 10_000,
        ...rest,
      });
      cursors.set(cursor, cursor.start());
      return cursor;
    },
    running(cursor) {
      const p = cursors.get(cursor);
      if (p === undefined) throw new Error('not started by the bed');
      return p;
    },
    async stored() {
      await batcher.flush();
      return store.getPlugin(PLUGIN_ID);
    },
  };
}

/** The state a restarted daemon hands a new cursor. */
export function restartState(row: PluginState | undefined): CursorState {
  if (row === undefined) throw new Error('no stored row');
  return { lastEventId: row.lastEventId ?? 0, backlog: row.backlog, lastError: row.lastError };
}
