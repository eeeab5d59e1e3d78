import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PluginFolderWatcher, type PluginFileEntry } from '../../src/plugins/index.ts';
import type { WorkerPluginHost } from '../../src/hosts/index.ts';
import { captureLogger, fixtureHost, makeEvent, within } from '../hosts/js/helpers.ts';

async function put(dir: string, name: string, text: string, mode = 0o644): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, text);
  await chmod(file, mode);
  return file;
}

function next<K extends 'add' | 'change' | 'remove' | 'error'>(watcher: PluginFolderWatcher, event: K, what: string): Promise<unknown[]> {
  return within(once(watcher, event) as Promise<unknown[]>, 20_000, what);
}

const pluginSource = (version: number, helper: string): string => `
import { VERSION } from './${helper}';
export function registerCallbacks(reg) {
  reg.registerCallback('s', 'k', function report({ logger, event }) {
    logger.info({ version: ${version}, helperVersion: VERSION, eventId: event.id }, 'version');
  });
}
`;

const tsPluginSource = (version: number): string => `
import type { Registrar, CallbackContext } from ${JSON.stringify(path.resolve('src/index.ts'))};
import { VERSION } from './lib/tshelper.ts';
const mine: number = ${version};
export function registerCallbacks(reg: Registrar): void {
  reg.registerCallback('s', 'k', function report({ logger, event }: CallbackContext) {
    logger.info({ version: mine, helperVersion: VERSION, eventId: event.id }, 'version');
  });
}
`;

describe('PluginFolderWatcher', () => {
  let dir: string;
  const watchers: PluginFolderWatcher[] = [];
  const hosts: WorkerPluginHost[] = [];
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sgeventd-watch-'));
    await chmod(dir, 0o755);
  });
  after(async () => {
    await Promise.all(watchers.map((w) => w.close()));
    await Promise.all(hosts.map((h) => h.close()));
    await rm(dir, { recursive: true, force: true });
  });

  for (const fsWatch of [true, false]) {
    it(`reports add, change and remove (fsWatch=${fsWatch})`, async () => {
      const sub = await mkdtemp(path.join(dir, 'w-'));
      await chmod(sub, 0o755);
      await put(sub, 'stay.ts', 'export function registerCallbacks() {}\n');
      const watcher = new PluginFolderWatcher({ folder: sub, debounceMs: 50, pollIntervalMs: 200, fsWatch });
      watchers.push(watcher);
      const initial = await watcher.start();
      assert.deepEqual(initial.map((p) => p.name), ['stay']);

      const added = next(watcher, 'add', 'add');
      await put(sub, 'fresh.mjs', 'export function registerCallbacks() {}\n');
      const [addedEntry] = await added as [PluginFileEntry];
      assert.equal(addedEntry.name, 'fresh');
      assert.equal(addedEntry.kind, 'js');

      // Same size, same mtime, different content: only the hash tells.
      const file = path.join(sub, 'fresh.mjs');
      const before = await stat(file);
      const changed = next(watcher, 'change', 'change');
      await writeFile(file, 'export function registerCallbacks() {}\n'.replace('{}', '{ }').slice(0, before.size));
      await utimes(file, before.atime, before.mtime);
      const [changedEntry, previous] = await changed as [PluginFileEntry, PluginFileEntry];
      assert.equal(changedEntry.name, 'fresh');
      assert.equal(previous.name, 'fresh');
      assert.equal(changedEntry.size, previous.size);

      // A mode change that makes the file unsafe is a change to `refused`.
      const refused = next(watcher, 'change', 'refused');
      await chmod(file, 0o666);
      const [refusedEntry] = await refused as [PluginFileEntry];
      assert.equal(refusedEntry.kind, 'refused');

      const removed = next(watcher, 'remove', 'remove');
      await unlink(file);
      const [removedEntry] = await removed as [PluginFileEntry];
      assert.equal(removedEntry.name, 'fresh');
      assert.deepEqual(watcher.plugins.map((p) => p.name), ['stay']);
    });
  }

  it('watch: poll notices a change with no fs.watch hint; a folder that shows no plugin at all keeps them (PLUGIN_FOLDER_EMPTY)', async () => {
    const sub = await mkdtemp(path.join(dir, 'm-'));
    await chmod(sub, 0o755);
    await put(sub, 'a.mjs', 'export function registerCallbacks() {}\n');
    await put(sub, 'b.mjs', 'export function registerCallbacks() {}\n');
    const watcher = new PluginFolderWatcher({ folder: sub, debounceMs: 50, pollIntervalMs: 200, mode: 'poll' });
    watchers.push(watcher);
    await watcher.start();
    const changed = next(watcher, 'change', 'change by polling');
    await put(sub, 'a.mjs', 'export function registerCallbacks(reg) { void reg; }\n');
    const [entry] = await changed as [PluginFileEntry];
    assert.equal(entry.name, 'a');
    const removes: unknown[] = [];
    watcher.on('remove', (e) => removes.push(e));
    // An unmounted share: the mount point is there, empty.
    const empty = next(watcher, 'error', 'the empty folder reported');
    await unlink(path.join(sub, 'a.mjs'));
    await unlink(path.join(sub, 'b.mjs'));
    const [err] = await empty as [{ code: string }];
    assert.equal(err.code, 'PLUGIN_FOLDER_EMPTY');
    await watcher.rescan();
    assert.deepEqual(watcher.plugins.map((p) => p.name).sort(), ['a', 'b']);
    assert.equal(removes.length, 0);
    // Back: removing one of them is a removal again.
    await put(sub, 'a.mjs', 'export function registerCallbacks() {}\n');
    const removed = next(watcher, 'remove', 'b removed once the folder is back');
    const [gone] = await removed as [PluginFileEntry];
    assert.equal(gone.name, 'b');
  });

  it('keeps its plugins when the folder becomes unreadable, and reports it once', async () => {
    const sub = await mkdtemp(path.join(dir, 'e-'));
    await chmod(sub, 0o755);
    await put(sub, 'p.ts', 'export function registerCallbacks() {}\n');
    const watcher = new PluginFolderWatcher({ folder: sub, debounceMs: 50, pollIntervalMs: 200 });
    watchers.push(watcher);
    await watcher.start();
    const removes: unknown[] = [];
    watcher.on('remove', (e) => removes.push(e));
    const failed = next(watcher, 'error', 'error');
    await chmod(sub, 0o777);
    const [err] = await failed as [{ code: string }];
    assert.equal(err.code, 'PLUGIN_UNSAFE_PERMISSIONS');
    await watcher.rescan();
    assert.deepEqual(watcher.plugins.map((p) => p.name), ['p']);
    assert.equal(removes.length, 0);
    await chmod(sub, 0o755);
  });

  for (const flavour of ['mjs', 'ts'] as const) {
    it(`a change reloads new code in a new thread, helpers included (${flavour})`, async () => {
      const sub = await mkdtemp(path.join(dir, `r-${flavour}-`));
      await chmod(sub, 0o755);
      // Helpers live in a subfolder: every script directly in the folder is a plugin.
      await mkdir(path.join(sub, 'lib'), { mode: 0o755 });
      const helper = flavour === 'ts' ? 'lib/tshelper.ts' : 'lib/helper.mjs';
      const write = async (version: number) => {
        await put(sub, helper, `export const VERSION${flavour === 'ts' ? ': number' : ''} = ${version * 10};\n`);
        await put(sub, `reload.${flavour}`, flavour === 'ts' ? tsPluginSource(version) : pluginSource(version, helper));
      };
      await write(1);
      const watcher = new PluginFolderWatcher({ folder: sub, debounceMs: 50, pollIntervalMs: 200 });
      watchers.push(watcher);
      const [entry] = await watcher.start();
      assert.ok(entry !== undefined);
      assert.equal(entry.name, 'reload');
      const { logger, records } = captureLogger();
      const host = fixtureHost(entry.file, { logger });
      hosts.push(host);
      assert.ok((await within(host.load(), 30_000, 'load')).ok);
      await within(host.process(makeEvent(1, 'x')), 30_000, 'process');

      const changed = next(watcher, 'change', 'change');
      await write(2);
      await changed;
      assert.ok((await within(host.load(), 30_000, 'reload')).ok);
      await within(host.process(makeEvent(2, 'x')), 30_000, 'process');
      const versions = records.filter((r) => r.msg === 'version').map((r) => [r.eventId, r.version, r.helperVersion]);
      assert.deepEqual(versions, [[1, 1, 10], [2, 2, 20]]);
    });
  }

  it('a plugin that failed to load is retried when its file changes', async () => {
    const sub = await mkdtemp(path.join(dir, 'f-'));
    await chmod(sub, 0o755);
    const file = await put(sub, 'later.mjs', 'export const nothing = 1;\n');
    const watcher = new PluginFolderWatcher({ folder: sub, debounceMs: 50, pollIntervalMs: 200 });
    watchers.push(watcher);
    await watcher.start();
    const { logger } = captureLogger();
    const host = fixtureHost(file, { logger });
    hosts.push(host);
    const first = await within(host.load(), 30_000, 'load');
    assert.ok(!first.ok);
    assert.equal(first.error.code, 'PLUGIN_NO_REGISTER');
    assert.equal(host.state, 'failed');

    const changed = next(watcher, 'change', 'change');
    await put(sub, 'later.mjs', 'export function registerCallbacks(reg) { reg.registerCallback("s", "k", function fixed() {}); }\n');
    await changed;
    const second = await within(host.load(), 30_000, 'reload');
    assert.ok(second.ok);
    assert.deepEqual(second.callbacks.map((c) => c.name), ['fixed']);
    assert.equal(host.state, 'ready');
  });
});
