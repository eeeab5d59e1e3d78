// A plugin lane on the bench: the real EventLog over a MemorySource, the real
// SQLite state store behind a StateBatcher, and a scripted plugin standing in
// for a host (it records what it got and answers as told).
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { EventLog, toEventLogEntry } from '../../src/source/index.ts';
import { PluginLane, StateBatcher, type EventScope, type LaneFailure, type LaneHandler, type LaneOptions } from '../../src/dispatch/index.ts';
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
  /** performance.now() when the lane handed the event over. */
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
  readonly handler: LaneHandler;

  constructor(script: Script = {}) {
    const answer = async (e: EventLogEntry, attempt: number, replay: boolean, via: Delivery['via']): Promise<ProcessResult> => {
      this.deliveries.push({ id: e.id, attempt, replay, at: performance.now(), via });
      return result(await (script.outcome?.(e.id, attempt) ?? 'ok'));
    };
    const handler: LaneHandler = {
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
          // A host's batch ends at a failure; the lane decides what follows.
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

// --- the bed: source, log, store, batcher, lane --------------------------

export const PLUGIN_ID = 'plugin-under-test';

export interface Bed {
  source: MemorySource;
  log: EventLog;
  store: SqliteStateStore;
  batcher: StateBatcher;
  records: LogRecord[];
  failures: LaneFailure[];
  /**
   * A lane over the bed's log and batcher, started (unless `start: false`);
   * stopped when the test ends. With `dlqRetries` it takes the dead letters
   * marked for retry from the store, as the engine wires it.
   */
  lane(plugin: ScriptedPlugin, opts?: Partial<LaneOptions> & { state?: LaneState; scope?: EventScope; start?: boolean; dlqRetries?: boolean }): PluginLane;
  /** The lane's start() promise: resolves when its loop ends. */
  running(lane: PluginLane): Promise<void>;
  /** Flushes the batcher and reads the plugin's stored row. */
  stored(): Promise<PluginState | undefined>;
}

export type LaneState = ConstructorParameters<typeof PluginLane>[0];

export async function laneBed(t: TestContext, opts: { events?: number; batchSize?: number; fetchIntervalMs?: number } = {}): Promise<Bed> {
  const dir = await mkdtemp(join(tmpdir(), 'sgeventd-cursor-'));
  const { logger, records } = memoryLogger();
  const source = new MemorySource();
  if (opts.events !== undefined) source.append(opts.events);
  const fetchIntervalMs = opts.fetchIntervalMs ?? 20;
  const log = new EventLog(source, { batchSize: opts.batchSize ?? 10, fetchIntervalMs, maxCachedEvents: 1000, logger });
  const store = await openSqliteState(join(dir, 'state.db'), { synchronous: 'normal' });
  const batcher = new StateBatcher(store, { flushMs: 50, flushEvents: 1000, logger });
  const failures: LaneFailure[] = [];
  const lanes = new Map<PluginLane, Promise<void>>();
  t.after(async () => {
    for (const lane of lanes.keys()) await lane.stop();
    await Promise.all(lanes.values());
    log.close();
    await batcher.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  await log.start();
  return {
    source, log, store, batcher, records, failures,
    lane(plugin, o = {}) {
      const { state, scope, start, dlqRetries, ...laneOpts } = o;
      const lane = new PluginLane(state ?? { lastEventId: 0, backlog: [], lastError: null }, log, plugin.handler, scope ?? (() => true), batcher, {
        id: PLUGIN_ID, folder: '/plugins', name: 'scripted', batchSize: opts.batchSize ?? 10, fetchIntervalMs,
        backlogTimeoutMs: 60_000, retries: 0, retryBackoffMs: 0, deadLetter: true, logger: logger.child({ plugin: 'scripted' }),
        onFailure: (f) => failures.push(f),
        ...laneOpts,
      });
      if (dlqRetries === true) {
        lane.setRetrySource(async (limit) => (await store.deadLetters.takeRetries(PLUGIN_ID, limit)).map((letter) => ({
          event: toEventLogEntry(letter.event as Record<string, unknown>),
          resolve: () => store.deadLetters.resolve(letter.id),
          fail: (err: string) => store.deadLetters.fail(letter.id, err),
        })));
      }
      if (start !== false) lanes.set(lane, lane.start());
      return lane;
    },
    running(lane) {
      const p = lanes.get(lane);
      assert.ok(p, 'the lane was started by the bed');
      return p;
    },
    async stored() {
      await batcher.flush();
      return store.getPlugin(PLUGIN_ID);
    },
  };
}

export const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** The state a restarted daemon would hand a new lane. */
export function restartState(row: PluginState | undefined): LaneState {
  assert.ok(row, 'the plugin has a stored row');
  return { lastEventId: row.lastEventId ?? 0, backlog: row.backlog, lastError: row.lastError };
}

/** The `code` of a log record's `err`. */
export function errCode(r: LogRecord): unknown {
  const err = r['err'];
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}
