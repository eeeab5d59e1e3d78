import { resolve } from 'node:path';
import type { Database, Statement } from 'better-sqlite3';
import { StateError } from './errors.ts';
import { normalizeSiteUrl } from './plugin-id.ts';
import { openStateDatabase } from './sqlite-open.ts';
import type {
  BacklogKind, CallbackCounters, DeadLetter, DeadLetterStatus, DeadLetterStore, PluginState, StateBatch, StateStore,
} from './types.ts';

export interface SqliteStateOptions {
  /**
   * 'full' (default): each commit is fsynced, so a committed batch survives a
   * power cut. 'normal' survives a killed process but may lose the last
   * commits on power loss (they would be replayed, never skipped: cursors,
   * backlog and dead letters of one batch always go together).
   */
  synchronous?: 'full' | 'normal';
  /** How long a write waits for another process's write (the CLI beside a running daemon). Default 5000. */
  busyTimeoutMs?: number;
  /** Fail with STATE_MISSING rather than create the file (CLI tools beside a daemon). Default false. */
  mustExist?: boolean;
  /** Clock for updated_at columns (tests). */
  now?: () => number;
  /**
   * Applied to every error text before it is stored (plugins' and callbacks'
   * last errors, dead letters): the daemon masks its configured secrets here,
   * so none is written to the state file.
   */
  maskText?: (text: string) => string;
}

/**
 * Opens the SQLite state store at `path` (created with its schema if missing,
 * parent folders included). Fails with StateError STATE_CORRUPT,
 * STATE_FOREIGN, STATE_TOO_NEW or STATE_IO.
 *
 * @example
 * const state = await openSqliteState(config.daemon.state);
 * await state.bindSite(config.site.url);
 * const plugins = await state.loadPlugins();
 */
export function openSqliteState(path: string, opts: SqliteStateOptions = {}): Promise<SqliteStateStore> {
  return attempt(() => new SqliteStateStore(resolve(path), opts));
}

interface PluginDbRow { id: string; folder: string; name: string; last_event_id: number | null; active: number; paused: number; last_error: string | null; updated_at: number }
interface BacklogDbRow { plugin_id: string; event_id: number; expires_at: number; kind: BacklogKind }
interface CounterDbRow { plugin_id: string; callback: string; processed: number; failed: number; total_ms: number; last_event_id: number | null; last_error: string | null; updated_at: number }
interface DeadLetterDbRow { id: number; plugin_id: string; callback: string; event_id: number; event: string; error: string; attempts: number; status: DeadLetterStatus; created_at: number; updated_at: number }

export class SqliteStateStore implements StateStore {
  readonly path: string;
  readonly deadLetters: DeadLetterStore;
  readonly #db: Database;
  readonly #now: () => number;
  readonly #mask: (text: string) => string;
  readonly #s: ReturnType<typeof prepare>;
  readonly #taken = new Set<number>();
  #closed = false;

  constructor(path: string, opts: SqliteStateOptions) {
    this.path = path;
    this.#now = opts.now ?? Date.now;
    this.#mask = opts.maskText ?? ((text) => text);
    this.#db = openStateDatabase(path, { synchronous: opts.synchronous ?? 'full', busyTimeoutMs: opts.busyTimeoutMs ?? 5000, mustExist: opts.mustExist ?? false });
    this.#s = prepare(this.#db);
    this.deadLetters = {
      list: (filter) => this.#run(() => this.#listDeadLetters(filter ?? {})),
      requestRetry: (ids, pluginId) => this.#run(() => this.#changeDeadLetters('retry', ids, pluginId)),
      drop: (ids, pluginId) => this.#run(() => this.#changeDeadLetters('drop', ids, pluginId)),
      takeRetries: (pluginId, limit) => this.#run(() => this.#takeRetries(pluginId, limit)),
      resolve: (id) => this.#run(() => {
        this.#s.deleteDeadLetter.run(id);
        this.#taken.delete(id);
      }),
      fail: (id, error) => this.#run(() => {
        this.#s.failDeadLetter.run({ id, error: this.#mask(error), now: this.#now() });
        this.#taken.delete(id);
      }),
      release: (id) => {
        this.#taken.delete(id);
      },
    };
  }

  bindSite(siteUrl: string): Promise<void> {
    return this.#run(() => {
      const wanted = normalizeSiteUrl(siteUrl);
      this.#db.transaction(() => {
        const recorded = this.#s.getMeta.get('site') as { value: string } | undefined;
        if (recorded === undefined) {
          this.#s.setMeta.run('site', wanted);
        } else if (recorded.value !== wanted) {
          throw new StateError('STATE_SITE_MISMATCH', `state file ${this.path} belongs to site ${recorded.value}, not ${wanted}; run one daemon (and one state file) per site`, {
            details: { path: this.path, recorded: recorded.value, requested: wanted },
          });
        }
      }).immediate();
    });
  }

  boundSite(): Promise<string | undefined> {
    return this.#run(() => (this.#s.getMeta.get('site') as { value: string } | undefined)?.value);
  }

  loadPlugins(): Promise<PluginState[]> {
    return this.#run(() => this.#db.transaction(() => {
      const backlog = new Map<string, PluginState['backlog']>();
      for (const b of this.#s.allBacklog.iterate() as IterableIterator<BacklogDbRow>) {
        const list = backlog.get(b.plugin_id) ?? [];
        list.push(toBacklogEntry(b));
        backlog.set(b.plugin_id, list);
      }
      return (this.#s.allPlugins.all() as PluginDbRow[]).map((p) => toPluginState(p, backlog.get(p.id) ?? []));
    })());
  }

  getPlugin(id: string): Promise<PluginState | undefined> {
    return this.#run(() => this.#db.transaction(() => {
      const row = this.#s.getPlugin.get(id) as PluginDbRow | undefined;
      if (row === undefined) return undefined;
      const backlog = (this.#s.pluginBacklog.all(id) as BacklogDbRow[]).map(toBacklogEntry);
      return toPluginState(row, backlog);
    })());
  }

  commit(batch: StateBatch): Promise<void> {
    return this.#run(() => {
      const now = this.#now();
      const s = this.#s;
      this.#db.transaction(() => {
        for (const p of batch.plugins ?? []) {
          s.upsertPlugin.run({ id: p.id, folder: p.folder, name: p.name, lastEventId: p.lastEventId, active: p.active ? 1 : 0, lastError: p.lastError === null ? null : this.#mask(p.lastError), now });
        }
        for (const b of batch.backlogRemove ?? []) s.removeBacklog.run(b.pluginId, b.eventId);
        for (const b of batch.backlogAdd ?? []) s.addBacklog.run(b.pluginId, b.eventId, b.expiresAt, b.kind ?? 'gap');
        for (const c of batch.counters ?? []) {
          s.addCounters.run({
            pluginId: c.pluginId, callback: c.callback, processed: c.processed, failed: c.failed, totalMs: c.totalMs,
            lastEventId: c.lastEventId ?? null, lastError: c.lastError === undefined || c.lastError === null ? null : this.#mask(c.lastError), setError: c.lastError === undefined ? 0 : 1, now,
          });
        }
        for (const d of batch.deadLetters ?? []) {
          s.addDeadLetter.run({ pluginId: d.pluginId, callback: d.callback, eventId: d.eventId, event: JSON.stringify(d.event ?? null), error: this.#mask(d.error), attempts: d.attempts, now });
        }
      }).immediate();
    });
  }

  counters(pluginId?: string): Promise<CallbackCounters[]> {
    return this.#run(() => (this.#s.counters.all({ pluginId: pluginId ?? null }) as CounterDbRow[]).map((c) => ({
      pluginId: c.plugin_id, callback: c.callback, processed: c.processed, failed: c.failed, totalMs: c.total_ms,
      lastEventId: c.last_event_id, lastError: c.last_error, updatedAt: c.updated_at,
    })));
  }

  setPluginActive(id: string, active: boolean): Promise<void> {
    return this.#setFlag(this.#s.setActive, id, { active: active ? 1 : 0 });
  }

  setPluginPaused(id: string, paused: boolean): Promise<void> {
    return this.#setFlag(this.#s.setPaused, id, { paused: paused ? 1 : 0 });
  }

  #setFlag(statement: Statement, id: string, flag: Record<string, number>): Promise<void> {
    return this.#run(() => {
      const r = statement.run({ id, ...flag, now: this.#now() });
      if (r.changes === 0) throw new StateError('STATE_UNKNOWN_PLUGIN', `no plugin ${id} in state file ${this.path}`, { details: { path: this.path, pluginId: id } });
    });
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.#db.close();
      } catch (err) {
        return Promise.reject(new StateError('STATE_IO', `closing state file ${this.path} failed: ${(err as Error).message}`, { cause: err, details: { path: this.path } }));
      }
    }
    return Promise.resolve();
  }

  #listDeadLetters(filter: { pluginId?: string; status?: DeadLetterStatus }): DeadLetter[] {
    return (this.#s.listDeadLetters.all({ pluginId: filter.pluginId ?? null, status: filter.status ?? null }) as DeadLetterDbRow[]).map(toDeadLetter);
  }

  #changeDeadLetters(action: 'retry' | 'drop', ids: number[] | 'all', pluginId: string | undefined): number {
    const params = { all: ids === 'all' ? 1 : 0, ids: JSON.stringify(ids === 'all' ? [] : ids), pluginId: pluginId ?? null, now: this.#now() };
    if (action === 'retry') return this.#s.retryDeadLetters.run(params).changes;
    const dropped = this.#db.transaction(() => {
      const gone = (this.#s.selectForDrop.all(params) as Array<{ id: number }>).map((r) => r.id);
      this.#s.dropDeadLetters.run(params);
      return gone;
    }).immediate();
    for (const id of dropped) this.#taken.delete(id);
    return dropped.length;
  }

  #takeRetries(pluginId: string, limit: number): DeadLetter[] {
    const out: DeadLetter[] = [];
    if (limit <= 0) return out;
    for (const row of this.#s.retriesOf.iterate(pluginId) as IterableIterator<DeadLetterDbRow>) {
      if (this.#taken.has(row.id)) continue;
      out.push(toDeadLetter(row));
      if (out.length >= limit) break;
    }
    for (const d of out) this.#taken.add(d.id);
    return out;
  }

  #run<T>(fn: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(new StateError('STATE_CLOSED', `state store ${this.path} is closed`, { details: { path: this.path } }));
    return attempt(fn);
  }
}

/** Runs synchronous SQLite work and turns a throw into a rejected promise (coded errors kept as they are). */
function attempt<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err instanceof StateError ? err : new StateError('STATE_IO', `state store: ${(err as Error).message}`, { cause: err }));
  }
}

function toPluginState(p: PluginDbRow, backlog: PluginState['backlog']): PluginState {
  return { id: p.id, folder: p.folder, name: p.name, lastEventId: p.last_event_id, active: p.active === 1, paused: p.paused === 1, lastError: p.last_error, backlog, updatedAt: p.updated_at };
}

function toBacklogEntry(b: BacklogDbRow): PluginState['backlog'][number] {
  return b.kind === 'pending' ? { eventId: b.event_id, expiresAt: b.expires_at, kind: 'pending' } : { eventId: b.event_id, expiresAt: b.expires_at };
}

function toDeadLetter(r: DeadLetterDbRow): DeadLetter {
  return {
    id: r.id, pluginId: r.plugin_id, callback: r.callback, eventId: r.event_id, event: JSON.parse(r.event) as unknown, error: r.error,
    attempts: r.attempts, status: r.status, createdAt: r.created_at, updatedAt: r.updated_at,
  };
}

const DEAD_LETTER_MATCH = `(@all = 1 OR id IN (SELECT value FROM json_each(@ids))) AND (@pluginId IS NULL OR plugin_id = @pluginId)`;

function prepare(db: Database): Record<
  'getMeta' | 'setMeta' | 'allPlugins' | 'getPlugin' | 'allBacklog' | 'pluginBacklog' | 'upsertPlugin' | 'removeBacklog' | 'addBacklog' |
  'addCounters' | 'addDeadLetter' | 'counters' | 'setActive' | 'setPaused' | 'listDeadLetters' | 'retryDeadLetters' | 'selectForDrop' | 'dropDeadLetters' |
  'retriesOf' | 'deleteDeadLetter' | 'failDeadLetter', Statement
> {
  return {
    getMeta: db.prepare('SELECT value FROM meta WHERE key = ?'),
    setMeta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
    allPlugins: db.prepare('SELECT * FROM plugins ORDER BY id'),
    getPlugin: db.prepare('SELECT * FROM plugins WHERE id = ?'),
    allBacklog: db.prepare('SELECT * FROM backlog ORDER BY plugin_id, event_id'),
    pluginBacklog: db.prepare('SELECT * FROM backlog WHERE plugin_id = ? ORDER BY event_id'),
    upsertPlugin: db.prepare(`INSERT INTO plugins (id, folder, name, last_event_id, active, last_error, updated_at)
      VALUES (@id, @folder, @name, @lastEventId, @active, @lastError, @now)
      ON CONFLICT (id) DO UPDATE SET folder = excluded.folder, name = excluded.name, last_event_id = excluded.last_event_id,
        active = excluded.active, last_error = excluded.last_error, updated_at = excluded.updated_at`),
    removeBacklog: db.prepare('DELETE FROM backlog WHERE plugin_id = ? AND event_id = ?'),
    addBacklog: db.prepare('INSERT INTO backlog (plugin_id, event_id, expires_at, kind) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET expires_at = excluded.expires_at, kind = excluded.kind'),
    addCounters: db.prepare(`INSERT INTO counters (plugin_id, callback, processed, failed, total_ms, last_event_id, last_error, updated_at)
      VALUES (@pluginId, @callback, @processed, @failed, @totalMs, @lastEventId, @lastError, @now)
      ON CONFLICT (plugin_id, callback) DO UPDATE SET processed = processed + excluded.processed, failed = failed + excluded.failed,
        total_ms = total_ms + excluded.total_ms, last_event_id = COALESCE(excluded.last_event_id, last_event_id),
        last_error = CASE WHEN @setError = 1 THEN excluded.last_error ELSE last_error END, updated_at = excluded.updated_at`),
    addDeadLetter: db.prepare(`INSERT INTO dead_letters (plugin_id, callback, event_id, event, error, attempts, status, created_at, updated_at)
      VALUES (@pluginId, @callback, @eventId, @event, @error, @attempts, 'dead', @now, @now)`),
    counters: db.prepare('SELECT * FROM counters WHERE @pluginId IS NULL OR plugin_id = @pluginId ORDER BY plugin_id, callback'),
    setActive: db.prepare('UPDATE plugins SET active = @active, updated_at = @now WHERE id = @id'),
    setPaused: db.prepare('UPDATE plugins SET paused = @paused, updated_at = @now WHERE id = @id'),
    listDeadLetters: db.prepare('SELECT * FROM dead_letters WHERE (@pluginId IS NULL OR plugin_id = @pluginId) AND (@status IS NULL OR status = @status) ORDER BY id'),
    retryDeadLetters: db.prepare(`UPDATE dead_letters SET status = 'retry', updated_at = @now WHERE status = 'dead' AND ${DEAD_LETTER_MATCH}`),
    selectForDrop: db.prepare(`SELECT id FROM dead_letters WHERE ${DEAD_LETTER_MATCH}`),
    dropDeadLetters: db.prepare(`DELETE FROM dead_letters WHERE ${DEAD_LETTER_MATCH}`),
    retriesOf: db.prepare(`SELECT * FROM dead_letters WHERE plugin_id = ? AND status = 'retry' ORDER BY id`),
    deleteDeadLetter: db.prepare('DELETE FROM dead_letters WHERE id = ?'),
    failDeadLetter: db.prepare(`UPDATE dead_letters SET status = 'dead', attempts = attempts + 1, error = @error, updated_at = @now WHERE id = @id`),
  };
}
