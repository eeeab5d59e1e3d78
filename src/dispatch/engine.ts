import type { Logger } from 'pino';
import { pluginOptionsFor, type DaemonConfig, type PluginFolderConfig } from '../config/index.ts';
import { PluginFolderWatcher, type EmailRecipients, type PluginFileEntry } from '../plugins/index.ts';
import { HostFactory, type PluginHostFactory } from '../hosts/index.ts';
import { matchPluginIds, pluginId, type PluginState, type StateStore } from '../state/index.ts';
import type { EventLog } from '../source/index.ts';
import { SgeventdError } from '../shared/index.ts';
import { PluginCursor } from './cursor.ts';
import { ConcurrentCursor } from './concurrent-cursor.ts';
import { effectiveConcurrency } from './key-lanes.ts';
import { loadRetryDelayMs, type PluginFailure, type PluginLoadFailure, type TimingRecord } from './cursor-types.ts';
import { StateBatcher } from './state-batcher.ts';
import { buildScope, type ProjectDirectory } from './scope.ts';
import { keepStopped, newPluginRecord, snapshotOf, type PluginRecord, type PluginSnapshot } from './plugin-record.ts';
import { followFlags, type FlagSteps } from './plugin-flags.ts';
import { takeRetries } from './dead-letter-retries.ts';
import { FirstRead } from './first-read.ts';

export interface EngineOptions {
  config: DaemonConfig;
  store: StateStore;
  eventLog: EventLog;
  directory: ProjectDirectory;
  logger: Logger;
  /** The logger a plugin's own records go to (engine log or its own file). */
  pluginLogger?: (name: string) => Logger | Promise<Logger>;
  /** Start plugins with no state after this event id (`--from`), instead of the newest. */
  fromId?: number;
  onTiming?: (record: TimingRecord) => void;
  onFailure?: (failure: PluginFailure) => void;
  /** A plugin failed to load for its own reasons (import, registration); site errors are retried instead. */
  onLoadFailure?: (failure: PluginLoadFailure) => void;
  /** Writing the state file failed (once per run of failures). */
  onStateWriteFailure?: (err: unknown) => void;
  /** How long an event of a concurrent plugin waited in its key lane before it started (ms). */
  onLaneWait?: (plugin: string, ms: number) => void;
  /** Builds each plugin's host (with Toolkit as the daemon gives it); default: hosts without Toolkit. */
  hosts?: PluginHostFactory;
  /** For tests: how plugin folders are watched. */
  watch?: { pollIntervalMs?: number; debounceMs?: number; fsWatch?: boolean };
}

/**
 * The engine: owns the plugin folders, one cursor per active plugin, and the
 * state batcher. Plugins advance independently; hot reload replaces a
 * plugin's thread and cursor without touching the others.
 */
export class Engine {
  readonly #opts: EngineOptions;
  readonly #hosts: PluginHostFactory;
  readonly #batcher: StateBatcher;
  readonly #plugins = new Map<string, PluginRecord>();
  readonly #watchers: PluginFolderWatcher[] = [];
  #states = new Map<string, PluginState>();
  /** The log's newest id when the engine started (new plugins start after it); plugins load while it is read. */
  #newestAtStart: Promise<number> = Promise.resolve(0);
  #enablePoll: NodeJS.Timeout | null = null;
  #polling = false;
  #closing = false;

  constructor(opts: EngineOptions) {
    this.#opts = opts;
    this.#hosts = opts.hosts ?? new HostFactory(opts.config);
    this.#batcher = new StateBatcher(opts.store, {
      flushMs: opts.config.daemon.stateFlushMs,
      flushEvents: opts.config.daemon.stateFlushEvents,
      logger: opts.logger,
      ...(opts.onStateWriteFailure ? { onWriteFailure: opts.onStateWriteFailure } : {}),
    });
  }

  get batcher(): StateBatcher {
    return this.#batcher;
  }

  /** Binds the state to the site, reads the log's newest id, loads every plugin folder. */
  async start(): Promise<void> {
    const { config, store, logger } = this.#opts;
    await store.bindSite(config.site.url);
    this.#states = new Map((await store.loadPlugins()).map((s) => [s.id, s]));
    // The first read of the log and the plugins' loads (threads, processes) run side by side;
    // a plugin's cursor is placed once both are done (first-read.ts).
    const first = new FirstRead();
    this.#newestAtStart = first.newest;
    const loads: Promise<unknown>[] = [first.newest];
    for (const folder of config.plugins) {
      const watcher = new PluginFolderWatcher({ folder: folder.path, mode: folder.watch, pollIntervalMs: folder.watchPollMs, ...this.#opts.watch });
      watcher.on('add', (entry) => void this.#enqueue(folder, entry.name, () => this.#load(folder, entry)));
      watcher.on('change', (entry) => void this.#enqueue(folder, entry.name, () => this.#reload(folder, entry)));
      watcher.on('remove', (prev) => void this.#enqueue(folder, prev.name, () => this.#remove(folder, prev)));
      watcher.on('error', (err) => logger.error({ err, folder: folder.path }, 'plugin folder scan failed'));
      let entries: PluginFileEntry[];
      try {
        entries = await watcher.start();
      } catch (err) {
        logger.error({ err, folder: folder.path }, 'plugin folder refused');
        await watcher.close();
        continue;
      }
      this.#watchers.push(watcher);
      loads.push(...entries.map((entry) => first.track((started) => this.#enqueue(folder, entry.name, () => this.#load(folder, entry, true, started)))));
    }
    first.start(async () => {
      const newest = await this.#opts.eventLog.start();
      logger.info({ newestEventId: newest, plugins: this.#states.size }, 'event log opened');
      return newest;
    });
    // Every promise is awaited: a failed first read fails the start, after the loads it raced settle their own way.
    await Promise.all(loads);
    this.#enablePoll = setInterval(() => void this.#pollFlags(), 2000);
    this.#enablePoll.unref();
  }

  /** Per plugin: state, cursor, backlog, lag, errors, counters. */
  snapshot(): PluginSnapshot[] {
    const frontier = this.#opts.eventLog.frontier;
    return [...this.#plugins.values()].map((p) => snapshotOf(p, frontier)).sort((a, b) => a.id.localeCompare(b.id));
  }

  /**
   * `sgeventd plugin reload [NAME]`: replaces the thread (or process) of one
   * plugin, or of all, as a file change would: a fresh import picks up helper
   * modules the file watcher does not follow, and a plugin deactivated by an
   * error comes back at its cursor. Plugins removed, refused, disabled in the
   * config or paused are left alone. Resolves once the reloads are done; returns
   * the names reloaded.
   */
  async reloadPlugins(name?: string): Promise<string[]> {
    const all = [...this.#plugins.values()];
    const named = name === undefined ? all : matchPluginIds(all.map((r) => r.id), name).map((id) => this.#plugins.get(id)).filter((r) => r !== undefined);
    if (name !== undefined && named.length === 0) {
      throw new SgeventdError('PLUGIN_UNKNOWN', `no plugin named ${JSON.stringify(name)} is loaded (known: ${all.map((r) => r.name).sort().join(', ') || 'none'})`, { details: { name } });
    }
    const done: string[] = [];
    await Promise.all(named.map(async (rec) => {
      const entry = rec.entry;
      if (entry === null || entry.kind === 'refused' || rec.status === 'removed' || rec.status === 'disabled' || rec.status === 'paused') return;
      await this.#enqueue(rec.folder, rec.name, () => this.#reload(rec.folder, entry, 'plugin reload requested'));
      done.push(rec.name);
    }));
    return done.sort();
  }

  /** Graceful stop: in-flight callbacks finish, state is written, threads end. */
  async stop(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    for (const p of this.#plugins.values()) {
      if (p.loadRetry.timer !== null) clearTimeout(p.loadRetry.timer);
      if (p.reactivate.timer !== null) clearTimeout(p.reactivate.timer);
    }
    if (this.#enablePoll) clearInterval(this.#enablePoll);
    const steps: Array<Promise<unknown>> = this.#watchers.map((w) => w.close());
    this.#opts.eventLog.close();
    const cursors = Promise.allSettled([...this.#plugins.values()].map((p) => p.cursor?.stop() ?? Promise.resolve()));
    const { stopTimeoutMs } = this.#opts.config.daemon;
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([
      cursors.then(() => false),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), stopTimeoutMs); }),
    ]);
    clearTimeout(timer);
    if (late) {
      // Closing a host ends its running event as aborted: nothing is decided
      // for it, its cursor stays before it, and the next start runs it again.
      const running = [...this.#plugins.values()].filter((p) => p.cursor?.status === 'stopping').map((p) => p.name);
      this.#opts.logger.warn({ stopTimeoutMs, plugins: running }, 'callbacks still running after daemon.stopTimeoutMs: cutting them off; their events run again at the next start');
      await Promise.allSettled([...this.#plugins.values()].map((p) => p.host?.close() ?? Promise.resolve()));
    }
    await cursors;
    await Promise.allSettled(steps);
    await this.#batcher.close();
    await Promise.allSettled([...this.#plugins.values()].map((p) => p.host?.close() ?? Promise.resolve()));
  }

  #enqueue(folder: PluginFolderConfig, name: string, step: () => Promise<void>): Promise<void> {
    const id = pluginId({ folder: folder.path, name });
    let rec = this.#plugins.get(id);
    if (rec === undefined) {
      rec = newPluginRecord(id, name, folder, this.#states.get(id) ?? null);
      this.#plugins.set(id, rec);
    }
    const next = rec.busy.then(async () => {
      if (this.#closing) return;
      try {
        await step();
      } catch (err) {
        this.#opts.logger.error({ err, plugin: name }, 'plugin lifecycle step failed');
      }
    });
    rec.busy = next;
    return next;
  }

  async #load(folder: PluginFolderConfig, entry: PluginFileEntry, reactivate = true, started?: () => void): Promise<void> {
    const rec = this.#plugins.get(pluginId({ folder: folder.path, name: entry.name }));
    if (rec === undefined) return;
    rec.entry = entry;
    if (rec.loadRetry.timer !== null) clearTimeout(rec.loadRetry.timer);
    rec.loadRetry.timer = null;
    if (rec.reactivate.timer !== null) clearTimeout(rec.reactivate.timer);
    rec.reactivate.timer = null;
    const opts = pluginOptionsFor(folder, entry.name);
    const log = this.#opts.logger.child({ plugin: entry.name });
    if (entry.kind === 'refused') {
      rec.status = 'refused';
      rec.lastError = entry.error.message;
      log.error({ err: entry.error }, 'plugin refused');
      return;
    }
    if (!opts.enabled) {
      rec.status = 'disabled';
      log.info('plugin disabled in the config; its cursor stays where it is');
      return;
    }
    const state = await this.#opts.store.getPlugin(rec.id);
    rec.frozen = state ?? null;
    if (state?.paused) {
      rec.status = 'paused';
      log.info({ lastEventId: state.lastEventId }, 'plugin paused by `sgeventd plugin disable`; its cursor stays where it is');
      return;
    }
    const pluginLog = (await this.#opts.pluginLogger?.(entry.name)) ?? log;
    const host = this.#hosts.create(entry, folder, pluginLog);
    rec.host = host;
    const loading = host.load();
    started?.(); // the thread or process is starting: the first read may go (first-read.ts)
    const [loaded, newestAtStart] = await Promise.all([loading, this.#newestAtStart.catch(() => null)]);
    // The log could not be opened: the engine's start fails with that error; the host is closed with the engine.
    if (newestAtStart === null) return;
    if (!loaded.ok) {
      rec.status = 'load-failed';
      rec.lastError = loaded.error.message;
      if (loaded.error.code === 'PLUGIN_LOAD_SITE_ERROR' && !this.#closing) {
        // The site, not the plugin: try again with backoff (a changed file still reloads at once).
        const delayMs = loadRetryDelayMs(rec.loadRetry.attempts);
        rec.loadRetry.attempts++;
        log.warn({ err: loaded.error, retryInMs: delayMs, attempt: rec.loadRetry.attempts }, 'plugin load hit a site error; trying again');
        rec.loadRetry.timer = setTimeout(() => {
          rec.loadRetry.timer = null;
          void this.#enqueue(folder, entry.name, () => this.#reload(folder, entry, 'retrying the plugin load after a site error'));
        }, delayMs);
        rec.loadRetry.timer.unref();
        return;
      }
      log.error({ err: loaded.error }, 'plugin failed to load; it is retried when its file changes');
      this.#opts.onLoadFailure?.({ plugin: entry.name, error: loaded.error, emails: rec.emails });
      this.#scheduleReactivation(rec, entry, opts.reactivateAfterMs, false);
      return;
    }
    rec.loadRetry.attempts = 0;
    rec.emails = loaded.emails;
    rec.lastError = null;
    let lastEventId: number;
    if (state?.lastEventId != null) {
      lastEventId = state.lastEventId;
      if (!state.active && reactivate) log.info({ lastEventId }, 'plugin was inactive; resuming from its frozen cursor');
    } else {
      lastEventId = this.#opts.fromId ?? opts.startAt ?? newestAtStart;
      log.info({ lastEventId }, 'new plugin: starting after this event');
    }
    const scriptNames = [...new Set(loaded.callbacks.map((c) => c.scriptName))];
    const concurrency = effectiveConcurrency(loaded, opts.concurrency);
    rec.concurrency = concurrency;
    const daemon = this.#opts.config.daemon;
    const scope = buildScope({ projects: opts.projects, ignoreOwnEvents: opts.ignoreOwnEvents, scriptNames, directory: this.#opts.directory });
    const cursorOptions = {
      id: rec.id, folder: folder.path, name: entry.name,
      batchSize: daemon.maxEventBatchSize,
      fetchIntervalMs: daemon.fetchIntervalMs,
      backlogTimeoutMs: daemon.backlogTimeoutMs,
      retries: opts.retries, retryBackoffMs: opts.retryBackoffMs, deadLetter: opts.deadLetter,
      logger: log,
      ...(opts.coalesceCreation ? { coalesce: { windowMs: opts.coalesceWindowMs } } : {}),
      ...(this.#opts.onTiming ? { onTiming: this.#opts.onTiming } : {}),
      ...(this.#opts.onFailure ? { onFailure: this.#failureWithEmails(this.#opts.onFailure, loaded.emails) } : {}),
    };
    const stored = { lastEventId, backlog: state?.backlog ?? [], lastError: state?.lastError ?? null };
    let cursor: PluginCursor | ConcurrentCursor;
    if (concurrency.by === 'none') {
      // Events a concurrent run of this plugin left unfinished come back as late ids.
      const expiresAt = Date.now() + daemon.backlogTimeoutMs;
      const backlog = stored.backlog.map((b) => (b.kind === 'pending' ? { eventId: b.eventId, expiresAt } : b));
      cursor = new PluginCursor({ ...stored, backlog }, this.#opts.eventLog, host, scope, this.#batcher, cursorOptions);
    } else {
      log.info({ concurrency }, 'plugin runs events of different keys at once');
      cursor = new ConcurrentCursor(stored, this.#opts.eventLog, host, scope, this.#batcher, {
        ...cursorOptions, by: concurrency.by, max: Math.min(concurrency.max, host.capacity), window: daemon.concurrencyWindow,
        ...(this.#opts.onLaneWait ? { onLaneWait: this.#opts.onLaneWait } : {}),
      });
    }
    cursor.setRetrySource((limit) => takeRetries(this.#opts.store.deadLetters, rec.id, limit));
    this.#batcher.plugin({ id: rec.id, folder: folder.path, name: entry.name, lastEventId, active: true, lastError: null });
    rec.cursor = cursor;
    rec.status = 'running';
    void cursor.start().then(() => {
      if (cursor.status === 'deactivated' && rec.cursor === cursor) {
        rec.status = 'deactivated';
        this.#scheduleReactivation(rec, entry, opts.reactivateAfterMs, cursor.counters.processed > 0);
        // Once "inactive" is in the state file, any "active" read there later
        // is `plugin enable`: a poll need not have seen the inactive row first.
        this.#batcher.flush().then(() => {
          if (rec.cursor === cursor) rec.sawInactive = true;
        }, (err: unknown) => log.warn({ err }, 'writing the deactivation to the state file failed; `plugin enable` is followed once a poll sees it'));
      }
    });
  }

  #failureWithEmails(onFailure: (f: PluginFailure) => void, emails: EmailRecipients): (f: PluginFailure) => void {
    return (f) => onFailure({ ...f, emails });
  }

  /** The recipients a plugin chose with `setEmails` at its last successful load (true: the configured ones). */
  recipients(name: string): EmailRecipients {
    for (const rec of this.#plugins.values()) if (rec.name === name) return rec.emails;
    return true;
  }

  /**
   * `reactivateAfterMs`: loads a deactivated plugin again after the delay,
   * doubled for each try since it last ran an event, at most
   * `daemon.reactivateMaxMs`. The reload resumes at its cursor, so the event
   * that failed runs first.
   */
  #scheduleReactivation(rec: PluginRecord, entry: PluginFileEntry, afterMs: number | undefined, ranEvents: boolean): void {
    if (afterMs === undefined || afterMs <= 0 || this.#closing) return;
    if (ranEvents) rec.reactivate.attempts = 0;
    const delayMs = Math.min(afterMs * 2 ** rec.reactivate.attempts, Math.max(afterMs, this.#opts.config.daemon.reactivateMaxMs));
    rec.reactivate.attempts++;
    this.#opts.logger.warn({ plugin: rec.name, retryInMs: delayMs, attempt: rec.reactivate.attempts }, 'plugin deactivated; loading it again after reactivateAfterMs');
    if (rec.reactivate.timer !== null) clearTimeout(rec.reactivate.timer);
    rec.reactivate.timer = setTimeout(() => {
      rec.reactivate.timer = null;
      void this.#enqueue(rec.folder, rec.name, () => this.#reload(rec.folder, rec.entry ?? entry, 'reactivating the plugin (reactivateAfterMs)'));
    }, delayMs);
    rec.reactivate.timer.unref();
  }

  async #reload(folder: PluginFolderConfig, entry: PluginFileEntry, why = 'plugin file changed; reloading'): Promise<void> {
    const rec = this.#plugins.get(pluginId({ folder: folder.path, name: entry.name }));
    this.#opts.logger.info({ plugin: entry.name, file: entry.file }, why);
    if (rec) await this.#unload(rec);
    await this.#load(folder, entry);
  }

  async #remove(folder: PluginFolderConfig, prev: PluginFileEntry): Promise<void> {
    const rec = this.#plugins.get(pluginId({ folder: folder.path, name: prev.name }));
    if (!rec) return;
    this.#opts.logger.info({ plugin: prev.name }, 'plugin file removed; its cursor is kept');
    await this.#unload(rec);
    rec.status = 'removed';
  }

  async #unload(rec: PluginRecord): Promise<void> {
    if (rec.reactivate.timer !== null) clearTimeout(rec.reactivate.timer);
    rec.reactivate.timer = null;
    const cursor = rec.cursor;
    rec.cursor = null;
    if (cursor) {
      // A reload (new code, or a new concurrency and cursor kind) starts only
      // once the old cursor drained: callbacks in flight finished, state flushed below.
      rec.status = 'draining';
      rec.draining = cursor;
      try {
        await cursor.stop();
      } finally {
        rec.draining = null;
      }
      keepStopped(rec, cursor);
    }
    await this.#batcher.flush();
    await rec.host?.close();
    rec.host = null;
  }

  /**
   * Follows the flags the CLI writes into the state file (every 2 s): `plugin
   * disable` pauses a plugin (its thread stops, its cursor stays), `plugin
   * enable` brings back a paused plugin or one deactivated by an error.
   */
  async #pollFlags(): Promise<void> {
    if (this.#polling) return; // the last poll is still reading
    this.#polling = true;
    try {
      for (const rec of this.#plugins.values()) await followFlags(rec, this.#opts.store, this.#opts.logger, this.#flagSteps);
    } catch (err) {
      this.#opts.logger.warn({ err }, 'reading plugin flags from the state file failed; trying again');
    } finally {
      this.#polling = false;
    }
  }

  /** What a flag in the state file asks of a plugin, each run in the plugin's queue. */
  readonly #flagSteps: FlagSteps = {
    enqueue: (rec, step) => this.#enqueue(rec.folder, rec.name, step),
    unload: (rec) => this.#unload(rec),
    load: (rec, entry) => this.#load(rec.folder, entry),
    reload: (rec, entry, why) => this.#reload(rec.folder, entry, why),
  };
}
