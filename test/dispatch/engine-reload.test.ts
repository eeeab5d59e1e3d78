// Hot reload in the engine keeps each plugin's cursor: the real Engine, real
// plugin threads loaded from files the test writes, the real SQLite state
// store, and the real EventLog over an in-memory source.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/index.ts';
import { Engine } from '../../src/dispatch/index.ts';
import { EventLog } from '../../src/source/index.ts';
import { openSqliteState, type SqliteStateStore } from '../../src/state/index.ts';
import { MemorySource, memoryLogger, waitFor } from '../support/memory-source.ts';

const NAME = 'versioned';

/**
 * A plugin that appends "<version> <event id>" per event to `record`. It may
 * throw on one event (stopOnError, the default) and take `slowMs` per event.
 */
function pluginSource(version: number, record: string, opts: { throwOn?: number; slowMs?: number } = {}): string {
  return `
import { appendFileSync } from 'node:fs';
const pause = new Int32Array(new SharedArrayBuffer(4));
export function registerCallbacks(reg) {
  reg.registerCallback('sgeventd', 'sgeventd-key', (ctx) => {
    if (ctx.event.id === ${opts.throwOn ?? -1}) throw new Error('scripted failure');
    ${opts.slowMs ? `Atomics.wait(pause, 0, 0, ${opts.slowMs});` : ''}
    appendFileSync(${JSON.stringify(record)}, '${version} ' + ctx.event.id + '\\n');
  });
}
`;
}

interface Bed {
  source: MemorySource;
  engine: Engine;
  store: SqliteStateStore;
  /** Rewrites the plugin file (the watcher sees the change and reloads it). */
  write(version: number, opts?: { throwOn?: number; slowMs?: number }): Promise<void>;
  /** [version, event id] per callback run, in order. */
  records(): Promise<Array<[number, number]>>;
}

async function bed(t: TestContext, first: { throwOn?: number; slowMs?: number } = {}): Promise<Bed> {
  const dir = await mkdtemp(join(tmpdir(), 'sgeventd-reload-'));
  await chmod(dir, 0o755);
  const plugins = join(dir, 'plugins');
  await mkdir(plugins, { mode: 0o755 });
  const record = join(dir, 'record.txt');
  const file = join(plugins, `${NAME}.mjs`);
  const write = async (version: number, opts: { throwOn?: number; slowMs?: number } = {}): Promise<void> => {
    await writeFile(file, pluginSource(version, record, opts));
    await chmod(file, 0o644);
  };
  await write(1, first);
  const config = parseConfig(
    {
      site: { url: 'http://127.0.0.1:9', script: { name: 'sgeventd', key: 'sgeventd-key' } },
      daemon: { state: join(dir, 'state.db'), pidFile: join(dir, 'sgeventd.pid'), fetchIntervalMs: 50, stateFlushMs: 50 },
      plugins: [{ path: plugins }],
      logging: { dir: join(dir, 'logs'), level: 'warn' },
      http: { enabled: false },
    },
    { source: join(dir, 'sgeventd.yaml') },
  );
  const { logger } = memoryLogger();
  const source = new MemorySource();
  const eventLog = new EventLog(source, { batchSize: config.daemon.maxEventBatchSize, fetchIntervalMs: config.daemon.fetchIntervalMs, maxCachedEvents: 10_000, logger });
  const store = await openSqliteState(config.daemon.state, { synchronous: 'normal' });
  // No plugin here limits projects, so the directory is never asked.
  const directory = { tankName: (): Promise<string | null> => Promise.resolve(null) };
  const engine = new Engine({ config, store, eventLog, directory, logger, fromId: 0, watch: { pollIntervalMs: 50, debounceMs: 20, fsWatch: false } });
  t.after(async () => {
    await engine.stop();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  await engine.start();
  return {
    source, engine, store, write,
    async records() {
      if (!existsSync(record)) return [];
      return (await readFile(record, 'utf8')).split('\n').filter(Boolean).map((l) => l.split(' ').map(Number) as [number, number]);
    },
  };
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

function plugin(b: Bed): ReturnType<Engine['snapshot']>[number] {
  const snap = b.engine.snapshot().find((p) => p.name === NAME);
  assert.ok(snap, 'the plugin is known to the engine');
  return snap;
}

async function recordsUpTo(b: Bed, id: number, version?: number): Promise<Array<[number, number]>> {
  return waitFor(async () => {
    const r = await b.records();
    return r.some(([v, e]) => e === id && (version === undefined || v === version)) ? r : undefined;
  }, `event ${id} to be recorded${version === undefined ? '' : ` by version ${version}`}`, 30_000);
}

/**
 * Appends `chunk` events whenever the plugin is within a few of the last one,
 * until an event is recorded by `version`; returns the last id appended.
 */
async function feedUntilVersion(b: Bed, version: number, chunk: number): Promise<number> {
  let appended = b.source.lastId;
  await waitFor(async () => {
    const r = await b.records();
    if (r.some(([v]) => v === version)) return true;
    const last = Math.max(0, ...r.map(([, id]) => id));
    if (appended - last < Math.max(1, chunk / 5)) appended = b.source.append(chunk).at(-1) ?? appended;
    return false;
  }, `version ${version} to take over`, 30_000);
  return appended;
}

describe('engine: hot reload keeps the cursor', () => {
  it('a plugin file changed mid-stream: the new code takes over where the old one stopped, every event once, in order', async (t) => {
    const b = await bed(t, { slowMs: 3 });
    b.source.append(50);
    await waitFor(async () => (await b.records()).length >= 20, 'the first version to be under way', 30_000);
    await b.write(2, { slowMs: 3 });
    // Keep the plugin busy (new events before it runs out) until the new code answers.
    const last = await feedUntilVersion(b, 2, 50);
    b.source.append(50);
    const records = await recordsUpTo(b, last + 50);
    assert.deepEqual(records.map(([, id]) => id), range(1, last + 50), 'every event once, in id order, across the reload');
    const firstNew = records.findIndex(([v]) => v === 2);
    assert.ok(firstNew > 0, `the reload happened mid-stream (first event of version 2: #${firstNew + 1})`);
    assert.ok(records.slice(firstNew).every(([v]) => v === 2), 'no event ran on the old code after the new one took over');
    await waitFor(async () => (await b.store.getPlugin(plugin(b).id))?.lastEventId === last + 50, 'the stored cursor');
  });

  it('the backlog survives a reload: a late id that shows up afterwards reaches the new code once', async (t) => {
    const b = await bed(t);
    b.source.append(2);
    const late = b.source.appendHeld();
    b.source.append(2);
    await recordsUpTo(b, 5, 1);
    assert.equal(plugin(b).backlog, 1);
    await b.write(2);
    const last = await feedUntilVersion(b, 2, 1);
    assert.equal(plugin(b).backlog, 1, 'the new cursor took the backlog over');
    b.source.release(late);
    const records = await recordsUpTo(b, late, 2);
    assert.deepEqual(records.map(([, id]) => id), [1, 2, ...range(4, last), late], 'each event once, the late id after the others');
    assert.deepEqual(records.at(-1), [2, late], 'the late id reached the new code');
    await waitFor(() => plugin(b).backlog === 0, 'the backlog to empty');
  });

  it('a plugin deactivated by an error resumes at the failed event when its file is fixed', async (t) => {
    const b = await bed(t, { throwOn: 3 });
    b.source.append(5);
    await waitFor(() => plugin(b).status === 'deactivated', 'the plugin to be deactivated');
    assert.equal(plugin(b).lastEventId, 2, 'the cursor is on the event before the failed one');
    await waitFor(async () => (await b.store.getPlugin(plugin(b).id))?.active === false, 'the stored row to say inactive');
    await b.write(2);
    const records = await recordsUpTo(b, 5, 2);
    assert.deepEqual(records, [[1, 1], [1, 2], [2, 3], [2, 4], [2, 5]]);
    await waitFor(() => plugin(b).status === 'running' && plugin(b).lastEventId === 5, 'the plugin to run again');
    await waitFor(async () => (await b.store.getPlugin(plugin(b).id))?.active === true, 'the stored row to say active');
  });
});
