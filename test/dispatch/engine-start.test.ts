// The engine's start: plugins load while the log's newest id is read, and a
// failed first read fails the start without leaving anything behind.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/index.ts';
import { Engine } from '../../src/dispatch/index.ts';
import { HostFactory, type PluginHostFactory } from '../../src/hosts/index.ts';
import { EventLog } from '../../src/source/index.ts';
import { openSqliteState } from '../../src/state/index.ts';
import { MemorySource, memoryLogger, waitFor } from '../support/memory-source.ts';

/** A memory source whose first `newestId` waits for `open()` (or fails with `fail()`). */
class GatedSource extends MemorySource {
  #gate = Promise.withResolvers<void>();
  /** What happened, in order: `read` at the first newestId, `load <plugin>` from the hosts (see `bed`). */
  readonly order: string[] = [];
  open(): void {
    this.#gate.resolve();
  }
  fail(err: Error): void {
    this.#gate.reject(err);
  }
  override async newestId(signal?: AbortSignal): Promise<number> {
    if (!this.order.includes('read')) this.order.push('read');
    await this.#gate.promise;
    return super.newestId(signal);
  }
}

async function bed(t: TestContext, more: string[] = []): Promise<{ source: GatedSource; engine: Engine; imported: string; record: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'sgeventd-start-'));
  await chmod(dir, 0o755);
  const plugins = join(dir, 'plugins');
  await mkdir(plugins, { mode: 0o755 });
  const imported = join(dir, 'imported');
  const record = join(dir, 'record');
  const file = join(plugins, 'p.mjs');
  await writeFile(file, `import { appendFileSync, writeFileSync } from 'node:fs';
writeFileSync(${JSON.stringify(imported)}, 'yes');
export function registerCallbacks(reg) {
  reg.registerCallback('sgeventd', 'sgeventd-key', (ctx) => appendFileSync(${JSON.stringify(record)}, ctx.event.id + '\\n'));
}
`);
  await chmod(file, 0o644);
  for (const name of more) {
    await writeFile(join(plugins, name), 'export function registerCallbacks(reg) { reg.registerCallback(\'sgeventd\', \'sgeventd-key\', () => {}); }\n');
    await chmod(join(plugins, name), 0o644);
  }
  const config = parseConfig({
    site: { url: 'http://127.0.0.1:9', script: { name: 'sgeventd', key: 'sgeventd-key' } },
    daemon: { state: join(dir, 'state.db'), pidFile: join(dir, 'sgeventd.pid'), fetchIntervalMs: 50, stateFlushMs: 50 },
    plugins: [{ path: plugins }],
    logging: { dir: join(dir, 'logs'), level: 'warn' },
    http: { enabled: false },
  }, { source: join(dir, 'sgeventd.yaml') });
  const { logger } = memoryLogger();
  const source = new GatedSource();
  const eventLog = new EventLog(source, { batchSize: config.daemon.maxEventBatchSize, fetchIntervalMs: config.daemon.fetchIntervalMs, maxCachedEvents: 10_000, logger });
  const store = await openSqliteState(config.daemon.state, { synchronous: 'normal' });
  const directory = { tankName: (): Promise<string | null> => Promise.resolve(null) };
  const factory = new HostFactory(config);
  const hosts: PluginHostFactory = {
    create: (entry, folder, log) => {
      const host = factory.create(entry, folder, log);
      const load = host.load.bind(host);
      host.load = () => {
        source.order.push(`load ${entry.name}`);
        return load();
      };
      return host;
    },
  };
  const engine = new Engine({ config, store, eventLog, directory, logger, hosts, watch: { pollIntervalMs: 50, debounceMs: 20, fsWatch: false } });
  t.after(async () => {
    await engine.stop();
    eventLog.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { source, engine, imported, record };
}

describe('engine start', () => {
  it('loads the plugins while the log is opened; a new plugin starts after the newest event', async (t) => {
    const b = await bed(t);
    b.source.append(2);
    const started = b.engine.start();
    // The plugin's module runs in its thread although the log's newest id is not read yet.
    await waitFor(() => existsSync(b.imported), 'the plugin imported before the log opened', 30_000);
    assert.equal(b.engine.snapshot()[0]?.lastEventId ?? null, null, 'no cursor placed before the log opened');
    b.source.open();
    await started;
    const newest = b.source.lastId;
    b.source.append(1);
    await waitFor(async () => existsSync(b.record) && (await readFile(b.record, 'utf8')).trim() !== '', 'the new event handled', 30_000);
    assert.deepEqual((await readFile(b.record, 'utf8')).trim().split('\n').map(Number), [newest + 1], 'only the event after the newest at start');
  });

  it('starts the first read once every plugin\'s thread is starting', async (t) => {
    const b = await bed(t, ['q.mjs', 'r.mjs']);
    const started = b.engine.start();
    await waitFor(() => b.source.order.includes('read'), 'the first read', 30_000);
    // Node compiles its fetch at the first request: that block of the main thread comes after the threads' start.
    assert.deepEqual(b.source.order.slice().sort(), ['load p', 'load q', 'load r', 'read']);
    assert.equal(b.source.order.at(-1), 'read', `order: ${b.source.order.join(', ')}`);
    b.source.open();
    await started;
  });

  it('a failed first read fails the start with its error; no unhandled rejection', async (t) => {
    const b = await bed(t);
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown): void => void unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    t.after(() => process.off('unhandledRejection', onUnhandled));
    const started = b.engine.start();
    await waitFor(() => existsSync(b.imported), 'the plugin importing', 30_000);
    b.source.fail(Object.assign(new Error('site down'), { code: 'SITE_UNREACHABLE' }));
    await assert.rejects(started, { code: 'SITE_UNREACHABLE' });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(unhandled, []);
    assert.equal(existsSync(b.record), false, 'nothing delivered');
  });
});
