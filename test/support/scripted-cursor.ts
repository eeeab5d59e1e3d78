// Plugin cursors on the bench: the real EventLog over a MemorySource, the real
// SQLite state store behind a StateBatcher, and a scripted plugin standing in
// for a host (it records what it got and answers as told), or any handler.
// One bed for both cursor kinds: `cursorBed` (serial) and `concurrentBed`.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { EventLog, toEventLogEntry, type EventSource } from '../../src/source/index.ts';
import {
  ConcurrentCursor, PluginCursor, StateBatcher, type ConcurrentCursorOptions, type CursorHandler, type CursorLifecycle, type CursorOptions,
  type EventScope, type PluginFailure, type RetryItem,
} from '../../src/dispatch/index.ts';
import { openSqliteState, type PluginState, type SqliteStateStore } from '../../src/state/index.ts';
import type { SerializedError } from '../../src/plugins/index.ts';
import type { CallbackResult, ProcessResult } from '../../src/hosts/index.ts';
import type { EventLogEntry } from '../../src/shared/index.ts';
import { MemorySource, memoryLogger, type LogRecord } from './memory-source.ts';

// --- the scripted plugin -------------------------------------------------

export interface Delivery {
  id: number;
  attempt: number;
  replay: boolean;
  /** performance.now() when the cursor handed the event over. */
  at: number;
  via: 'process' | 'batch';
}

export type Outcome = 'ok' | 'fail' | 'deactivate' | ProcessResult;

export interface Script {
  /** What the plugin does with an event on an attempt (default: ok). */
  outcome?: (id: number, attempt: number) => Outcome | Promise<Outcome>;
  matches?: (event: EventLogEntry) => boolean;
  /** Take batches; answer at most `batchLimit` events of each (all by default). */
  batch?: boolean;
  batchLimit?: number;
}

export const CALLBACK = 'onShotChange';

export function error(code = 'PLUGIN_CALLBACK_ERROR'): SerializedError {
  return { name: 'Error', message: 'scripted failure', code };
}

export function result(outcome: Outcome): ProcessResult {
  if (typeof outcome !== 'string') return outcome;
  const ran: CallbackResult = { callback: CALLBACK, index: 0, startedAt: new Date(), durationMs: 1 };
  if (outcome === 'ok') return { outcome: 'ok', results: [ran], failures: [] };
  const err = error();
  if (outcome === 'fail') return { outcome: 'ok', results: [{ ...ran, error: err }], failures: [{ callback: CALLBACK, error: err }] };
  return { outcome: 'deactivate', callback: CALLBACK, error: err, results: [{ ...ran, error: err }], failures: [] };
}

/** A plugin that records what it got and answers as scripted. */
export class ScriptedPlugin {
  readonly deliveries: Delivery[] = [];
  readonly batches: number[][] = [];
  readonly handler: CursorHandler;

  constructor(script: Script = {}) {
    const answer = async (e: EventLogEntry, attempt: number, replay: boolean, via: Delivery['via']): Promise<ProcessResult> => {
      this.deliveries.push({ id: e.id, attempt, replay, at: performance.now(), via });
      return result(await (script.outcome?.(e.id, attempt) ?? 'ok'));
    };
    const handler: CursorHandler = {
      matches: (event) => script.matches?.(event) ?? true,
      process: (event, o) => answer(event, o.attempt, o.replay, 'process'),
    };
    if (script.batch === true) {
      handler.processBatch = async (events, o) => {
        this.batches.push(events.map((e) => e.id));
        const out: ProcessResult[] = [];
        for (const e of events.slice(0, script.batchLimit ?? events.length)) {
          const r = await answer(e, o.attempt, o.replay, 'batch');
          out.push(r);
          // A host's batch ends at a failure; the cursor decides what follows.
          if (r.outcome !== 'ok' || r.failures.length > 0) break;
        }
        return out;
      };
    }
    this.handler = handler;
  }

  get ids(): number[] {
    return this.deliveries.map((d) => d.id);
  }

  saw(id: number): boolean {
    return this.deliveries.some((d) => d.id === id);
  }
}

/** A promise the test resolves by hand. */
export function gate(): { wait: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}

/** An outcome script that holds event `at` until `g` opens. */
export function holdAt(at: number, g: { wait: Promise<void> }): (id: number) => Promise<Outcome> {
  return async (id) => {
    if (id === at) await g.wait;
    return 'ok';
  };
}

// --- the bed: source, log, store, batcher, cursors --------------------------

export const PLUGIN_ID = 'plugin-under-test';

/** What every bed holds: the log over its source, the real SQLite store behind a batcher, and what the cursors logged and reported. */
interface BedParts<S extends EventSource> {
  source: S;
  log: EventLog;
  store: SqliteStateStore;
  batcher: StateBatcher;
  records: LogRecord[];
  failures: PluginFailure[];
  /** The cursor's start() promise: resolves when its loop ends. */
  running(cursor: CursorLifecycle): Promise<void>;
  /** Flushes the batcher and reads the plugin's stored row. */
  stored(): Promise<PluginState | undefined>;
}

/** Opens the parts for `source`; `started` records the cursors it must stop when the test ends. */
async function openBed<S extends EventSource>(t: TestContext, source: S, opts: { batchSize: number; fetchIntervalMs: number; maxCachedEvents: number }): Promise<BedParts<S> & { started: Map<CursorLifecycle, Promise<void>>; logger: ReturnType<typeof memoryLogger>['logger'] }> {
  const dir = await mkdtemp(join(tmpdir(), 'sgeventd-cursor-'));
  const { logger, records } = memoryLogger();
  const log = new EventLog(source, { batchSize: opts.batchSize, fetchIntervalMs: opts.fetchIntervalMs, maxCachedEvents: opts.maxCachedEvents, logger });
  const store = await openSqliteState(join(dir, 'state.db'), { synchronous: 'normal' });
  const batcher = new StateBatcher(store, { flushMs: 50, flushEvents: 1000, logger });
  const started = new Map<CursorLifecycle, Promise<void>>();
  t.after(async () => {
    for (const cursor of started.keys()) await cursor.stop();
    await Promise.all(started.values());
    log.close();
    await batcher.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  await log.start();
  return {
    source, log, store, batcher, records, failures: [], started, logger,
    running(cursor) {
      const p = started.get(cursor);
      assert.ok(p, 'the cursor was started by the bed');
      return p;
    },
    async stored() {
      await batcher.flush();
      return store.getPlugin(PLUGIN_ID);
    },
  };
}

/** Dead letters marked for retry in the bed's store, as the engine wires them into a cursor. */
function storeRetries(store: SqliteStateStore): (limit: number) => Promise<RetryItem[]> {
  return async (limit) => (await store.deadLetters.takeRetries(PLUGIN_ID, limit)).map((letter) => ({
    event: toEventLogEntry(letter.event as Record<string, unknown>),
    resolve: () => store.deadLetters.resolve(letter.id),
    fail: (err: string) => store.deadLetters.fail(letter.id, err),
    release: () => store.deadLetters.release(letter.id),
  }));
}

export interface Bed extends BedParts<MemorySource> {
  /**
   * A cursor over the bed's log and batcher, started (unless `start: false`);
   * stopped when the test ends. With `dlqRetries` it takes the dead letters
   * marked for retry from the store, as the engine wires it.
   */
  cursor(plugin: ScriptedPlugin, opts?: Partial<CursorOptions> & { state?: LaneState; scope?: EventScope; start?: boolean; dlqRetries?: boolean }): PluginCursor;
  running(cursor: CursorLifecycle): Promise<void>;
}

export type LaneState = ConstructorParameters<typeof PluginCursor>[0];

/** A serial plugin cursor (`PluginCursor`) on the bench. */
export async function cursorBed(t: TestContext, opts: { events?: number; batchSize?: number; fetchIntervalMs?: number } = {}): Promise<Bed> {
  const source = new MemorySource();
  if (opts.events !== undefined) source.append(opts.events);
  const fetchIntervalMs = opts.fetchIntervalMs ?? 20;
  const parts = await openBed(t, source, { batchSize: opts.batchSize ?? 10, fetchIntervalMs, maxCachedEvents: 1000 });
  const { log, batcher, store, failures, logger, started } = parts;
  return {
    ...parts,
    cursor(plugin, o = {}) {
      const { state, scope, start, dlqRetries, ...laneOpts } = o;
      const cursor = new PluginCursor(state ?? { lastEventId: 0, backlog: [], lastError: null }, log, plugin.handler, scope ?? (() => true), batcher, {
        id: PLUGIN_ID, folder: '/plugins', name: 'scripted', batchSize: opts.batchSize ?? 10, fetchIntervalMs,
        backlogTimeoutMs: 60_000, retries: 0, retryBackoffMs: 0, deadLetter: true, logger: logger.child({ plugin: 'scripted' }),
        onFailure: (f) => failures.push(f),
        ...laneOpts,
      });
      if (dlqRetries === true) cursor.setRetrySource(storeRetries(store));
      if (start !== false) started.set(cursor, cursor.start());
      return cursor;
    },
  };
}

/** The memory source with a project per event: `projectOf(id)` (null: no project), and entity `Shot:(id % 3)`. */
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

export type ConcurrentState = ConstructorParameters<typeof ConcurrentCursor>[0];

export interface ConcurrentBed extends BedParts<KeyedSource> {
  /** A concurrent cursor (by project, max 4 unless told), started; with `dlqRetries` it takes dead letters marked for retry. */
  cursor(handler: CursorHandler, opts?: Partial<ConcurrentCursorOptions> & { state?: ConcurrentState; dlqRetries?: boolean }): ConcurrentCursor;
}

/** A concurrent plugin cursor (`ConcurrentCursor`) on the bench, over events keyed by `projectOf`, with any handler (scripted, or a real host). */
export async function concurrentBed(t: TestContext, projectOf: (id: number) => number | null, opts: { batchSize?: number } = {}): Promise<ConcurrentBed> {
  const parts = await openBed(t, new KeyedSource(projectOf), { batchSize: opts.batchSize ?? 50, fetchIntervalMs: 20, maxCachedEvents: 20_000 });
  const { log, batcher, store, failures, logger, started } = parts;
  return {
    ...parts,
    cursor(handler, o = {}) {
      const { state, dlqRetries, ...rest } = o;
      const cursor = new ConcurrentCursor(state ?? { lastEventId: 0, backlog: [], lastError: null }, log, handler, () => true, batcher, {
        id: PLUGIN_ID, folder: '/plugins', name: 'concurrent', batchSize: opts.batchSize ?? 50, fetchIntervalMs: 20,
        backlogTimeoutMs: 60_000, retries: 0, retryBackoffMs: 0, deadLetter: true, logger: logger.child({ plugin: 'concurrent' }),
        onFailure: (f) => failures.push(f), by: 'project', max: 4, window: 10_000,
        ...rest,
      });
      if (dlqRetries === true) cursor.setRetrySource(storeRetries(store));
      started.set(cursor, cursor.start());
      return cursor;
    },
  };
}

export const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** The state a restarted daemon would hand a new cursor (either kind). */
export function restartState(row: PluginState | undefined): LaneState {
  assert.ok(row, 'the plugin has a stored row');
  return { lastEventId: row.lastEventId ?? 0, backlog: row.backlog, lastError: row.lastError };
}

/** The `code` of a log record's `err`. */
export function errCode(r: LogRecord): unknown {
  const err = r['err'];
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}
