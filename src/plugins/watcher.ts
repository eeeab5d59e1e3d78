// Hot reload: watches a plugin folder and reports plugins added, changed and
// removed. fs.watch is only a hint (it misses changes on NFS and other
// network filesystems, where studios keep plugins); every hint, and a
// periodic timer, trigger a rescan that compares mtime, size, mode and a
// content hash with the last scan.
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { PluginError } from './errors.ts';
import { scanPluginFolder, type PluginFileEntry } from './folder.ts';

export interface PluginFolderWatcherOptions {
  folder: string;
  /** Quiet time after a filesystem event before rescanning (editors write in steps). Default 250. */
  debounceMs?: number;
  /** Rescan period regardless of fs.watch. Default 5000. */
  pollIntervalMs?: number;
  /** Use fs.watch hints at all; false = polling only (for mounts where fs.watch misbehaves). Default true. */
  fsWatch?: boolean;
  /**
   * The folder's `watch` setting: `auto` (hints and the periodic rescan),
   * `poll` (the rescan alone: network filesystems, where fs.watch misses
   * other machines' changes), `events` (hints alone). Default auto.
   */
  mode?: 'auto' | 'poll' | 'events';
}

export interface PluginFolderWatcherEvents {
  add: [entry: PluginFileEntry];
  change: [entry: PluginFileEntry, previous: PluginFileEntry];
  remove: [previous: PluginFileEntry];
  error: [error: PluginError];
}

interface Known {
  entry: PluginFileEntry;
  fingerprint: string;
}

async function fingerprint(entry: PluginFileEntry): Promise<string | null> {
  let hash: string;
  try {
    hash = createHash('sha256').update(await readFile(entry.file)).digest('hex');
  } catch {
    return null; // Vanished or unreadable mid-scan: judged on the next scan.
  }
  const extra = entry.kind === 'refused' ? `${entry.error.code}:${JSON.stringify(entry.error.details.files ?? null)}` : '';
  return `${entry.kind}:${entry.file}:${entry.mtimeMs}:${entry.size}:${entry.mode}:${hash}:${extra}`;
}

/**
 * Emits `add`, `change` (new code, or new mode) and `remove` per plugin name
 * after `start()`. A scan that fails (folder gone on a flaky mount,
 * permissions) emits `error` and changes nothing: plugins are not removed
 * because the mount hiccuped. Listen to `error`; without a listener scan
 * errors are dropped.
 *
 * @example
 * const watcher = new PluginFolderWatcher({ folder: './plugins' });
 * watcher.on('change', (entry) => void reload(entry));
 * const initial = await watcher.start();
 */
export class PluginFolderWatcher extends EventEmitter<PluginFolderWatcherEvents> {
  readonly folder: string;
  readonly #debounceMs: number;
  readonly #pollIntervalMs: number;
  readonly #useFsWatch: boolean;
  readonly #polling: boolean;
  #known = new Map<string, Known>();
  #fsWatcher: FSWatcher | null = null;
  #debounce: NodeJS.Timeout | undefined;
  #poll: NodeJS.Timeout | undefined;
  #scanning: Promise<void> | null = null;
  #again = false;
  #closed = false;
  #lastErrorCode: string | null = null;

  constructor(options: PluginFolderWatcherOptions) {
    super();
    this.folder = options.folder;
    this.#debounceMs = options.debounceMs ?? 250;
    this.#pollIntervalMs = options.pollIntervalMs ?? 5000;
    this.#useFsWatch = (options.fsWatch ?? true) && options.mode !== 'poll';
    this.#polling = options.mode !== 'events';
  }

  /** Scans once (throws on folder faults), starts watching, and returns the plugins found. */
  async start(): Promise<PluginFileEntry[]> {
    const scan = await scanPluginFolder(this.folder);
    for (const entry of scan.plugins) {
      const fp = await fingerprint(entry);
      this.#known.set(entry.name, { entry, fingerprint: fp ?? '' });
    }
    this.#watch();
    if (this.#polling) {
      this.#poll = setInterval(() => this.#schedule(0), this.#pollIntervalMs);
      this.#poll.unref();
    }
    return scan.plugins;
  }

  /** The plugins as of the last successful scan. */
  get plugins(): PluginFileEntry[] {
    return [...this.#known.values()].map((k) => k.entry);
  }

  /** Rescans now (an explicit reload); resolves once the scan and its events are done. */
  async rescan(): Promise<void> {
    if (this.#scanning !== null) {
      this.#again = true;
      await this.#scanning;
      return;
    }
    this.#scanning = this.#scanLoop();
    try {
      await this.#scanning;
    } finally {
      this.#scanning = null;
    }
  }

  /** Stops watching; idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#debounce);
    clearInterval(this.#poll);
    this.#fsWatcher?.close();
    this.#fsWatcher = null;
    await this.#scanning;
  }

  #watch(): void {
    if (this.#fsWatcher !== null || this.#closed || !this.#useFsWatch) return;
    try {
      const w = watch(this.folder, { persistent: false }, () => this.#schedule(this.#debounceMs));
      w.on('error', () => {
        // The folder went away or the mount broke; polling carries on and re-arms the watch.
        w.close();
        if (this.#fsWatcher === w) this.#fsWatcher = null;
      });
      this.#fsWatcher = w;
    } catch {
      this.#fsWatcher = null; // Polling alone until the folder is back.
    }
  }

  #schedule(delayMs: number): void {
    if (this.#closed) return;
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => {
      this.rescan().catch((err: unknown) => this.#report(err));
    }, delayMs);
    this.#debounce.unref();
  }

  async #scanLoop(): Promise<void> {
    do {
      this.#again = false;
      await this.#scanOnce();
    } while (this.#again && !this.#closed);
  }

  async #scanOnce(): Promise<void> {
    let plugins: PluginFileEntry[];
    try {
      plugins = (await scanPluginFolder(this.folder)).plugins;
    } catch (err) {
      this.#report(err);
      return;
    }
    // An unmounted share shows its empty mount point: every plugin gone at
    // once is the folder dropping out, not a removal; the loaded plugins stay.
    if (plugins.length === 0 && this.#known.size > 0) {
      this.#report(new PluginError('PLUGIN_FOLDER_EMPTY', `plugin folder ${this.folder} shows no plugin any more; keeping the ${this.#known.size} loaded until it does`, { details: { path: this.folder } }));
      return;
    }
    this.#lastErrorCode = null;
    this.#watch();
    if (this.#closed) return;

    const seen = new Set<string>();
    for (const entry of plugins) {
      seen.add(entry.name);
      const fp = await fingerprint(entry);
      if (fp === null || this.#closed) continue;
      const known = this.#known.get(entry.name);
      this.#known.set(entry.name, { entry, fingerprint: fp });
      if (known === undefined) this.emit('add', entry);
      else if (known.fingerprint !== fp) this.emit('change', entry, known.entry);
    }
    for (const [name, known] of [...this.#known]) {
      if (seen.has(name) || this.#closed) continue;
      this.#known.delete(name);
      this.emit('remove', known.entry);
    }
  }

  #report(err: unknown): void {
    const error = err instanceof PluginError ? err : new PluginError('PLUGIN_FOLDER_UNREADABLE', `plugin folder ${this.folder} could not be scanned`, { cause: err, details: { path: this.folder } });
    // One report per kind of trouble, not one per poll.
    if (error.code === this.#lastErrorCode) return;
    this.#lastErrorCode = error.code;
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }
}
