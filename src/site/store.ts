/**
 * SiteStore: the site's records in SQLite (better-sqlite3, WAL).
 *
 * Storage layout, chosen for fast reads that filter in SQL:
 * - one table per entity type, `e_<Type>`: `id INTEGER PRIMARY KEY AUTOINCREMENT`
 *   (ids never reused, strictly increasing per type), `_retired` (retire/revive),
 *   `_hidden` (an EventLogEntry allocated but not yet visible: a late-committing
 *   transaction), and one column per scalar field, named after the field;
 * - an entity link field `f` is two columns `f__type`, `f__id`, indexed;
 * - every stored multi_entity field lives in one table `links(src_type, src_id,
 *   field, pos, dst_type, dst_id)`, ordered by `pos`, indexed from both ends;
 * - a back-reference field (Sequence.shots, Version.playlists...) has no storage:
 *   it is read from the field it mirrors, so both sides can never disagree.
 * Adding fields through `--schema` is an ALTER TABLE ADD COLUMN at open.
 * Filters compile to parameterized SQL over these tables (filters.ts).
 *
 * Every write runs in one SQLite transaction together with its EventLogEntry rows
 * (writer.ts), so the log never shows a change that did not happen, or misses one.
 */
import Database from 'better-sqlite3';
import type { Database as Db, Statement } from 'better-sqlite3';
import type { EntityDef, FieldDef, Schema } from './schema.ts';
import { quoteIdent } from './schema.ts';
import { columnType, decodeScalar, type LinkRef } from './values.ts';
import { clientFault } from './faults.ts';

export interface EntityLink {
  type: string;
  id: number;
  name: string | null;
}

export type Row = Record<string, unknown> & { id: number; _retired: number; _hidden: number };

export interface StoreOptions {
  /** SQLite file, or ':memory:'. */
  path: string;
  schema: Schema;
}

/** A cache of link names for the length of one request. */
export type LinkCache = Map<string, EntityLink | null>;

export class SiteStore {
  readonly db: Db;
  readonly schema: Schema;
  readonly #rowStmts = new Map<string, Statement>();
  readonly #linkStmts = new Map<string, Statement>();
  readonly #linksOf: Statement;
  readonly #linksTo: Statement;

  constructor(options: StoreOptions) {
    this.schema = options.schema;
    this.db = new Database(options.path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    // Reads of the event log jump to random ids in a large table: keep its pages in memory.
    this.db.pragma('cache_size = -65536');
    this.db.pragma('mmap_size = 268435456');
    this.db.defaultSafeIntegers(false);
    this.#migrate();
    this.#linksOf = this.db.prepare('SELECT dst_type AS type, dst_id AS id FROM links WHERE src_type = ? AND field = ? AND src_id = ? ORDER BY pos');
    this.#linksTo = this.db.prepare('SELECT src_id AS id FROM links WHERE src_type = ? AND field = ? AND dst_type = ? AND dst_id = ? ORDER BY src_id');
  }

  readonly #stmts = new Map<string, Statement>();

  /** A prepared statement, cached by its SQL text (the schema bounds how many there are). */
  prepare(sql: string): Statement {
    let st = this.#stmts.get(sql);
    if (st === undefined) {
      st = this.db.prepare(sql);
      if (this.#stmts.size < 2000) this.#stmts.set(sql, st);
    }
    return st;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  #migrate(): void {
    this.db.exec(`CREATE TABLE IF NOT EXISTS links (
      src_type TEXT NOT NULL, src_id INTEGER NOT NULL, field TEXT NOT NULL, pos INTEGER NOT NULL,
      dst_type TEXT NOT NULL, dst_id INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS links_src ON links (src_type, field, src_id, pos);
      CREATE INDEX IF NOT EXISTS links_dst ON links (dst_type, dst_id, field, src_type);`);
    for (const ent of this.schema.entities.values()) {
      const t = quoteIdent(ent.table);
      this.db.exec(`CREATE TABLE IF NOT EXISTS ${t} (id INTEGER PRIMARY KEY AUTOINCREMENT, _retired INTEGER NOT NULL DEFAULT 0, _hidden INTEGER NOT NULL DEFAULT 0)`);
      const have = new Set((this.db.prepare(`PRAGMA table_info(${t})`).all() as Array<{ name: string }>).map((c) => c.name));
      for (const f of ent.fields.values()) {
        const st = this.schema.storage(f);
        if (st.kind === 'column' && !have.has(st.column)) {
          const dflt = f.dataType === 'checkbox' ? ' NOT NULL DEFAULT 0' : '';
          this.db.exec(`ALTER TABLE ${t} ADD COLUMN ${quoteIdent(st.column)} ${columnType(f)}${dflt}`);
        } else if (st.kind === 'entity' && !have.has(st.idColumn)) {
          this.db.exec(`ALTER TABLE ${t} ADD COLUMN ${quoteIdent(st.typeColumn)} TEXT`);
          this.db.exec(`ALTER TABLE ${t} ADD COLUMN ${quoteIdent(st.idColumn)} INTEGER`);
        }
        if (st.kind === 'entity') {
          this.db.exec(`CREATE INDEX IF NOT EXISTS ${quoteIdent(`${ent.table}__${f.name}`)} ON ${t} (${quoteIdent(st.idColumn)}, ${quoteIdent(st.typeColumn)})`);
        }
      }
    }
  }

  /** The raw row (retired or not; hidden rows only when asked). */
  row(ent: EntityDef, id: number, includeHidden = false): Row | undefined {
    let st = this.#rowStmts.get(ent.name);
    if (st === undefined) {
      st = this.db.prepare(`SELECT * FROM ${quoteIdent(ent.table)} WHERE id = ?`);
      this.#rowStmts.set(ent.name, st);
    }
    const row = st.get(id) as Row | undefined;
    if (row !== undefined && row._hidden === 1 && !includeHidden) return undefined;
    return row;
  }

  /** An active record must exist: otherwise a 103 fault. */
  activeRow(ent: EntityDef, id: unknown): Row {
    const row = typeof id === 'number' && Number.isInteger(id) ? this.row(ent, id) : undefined;
    if (row === undefined || row._retired === 1) {
      throw clientFault('SITE_ENTITY_NOT_FOUND', `${ent.name} with id ${String(id)} does not exist`, { entityType: ent.name, id });
    }
    return row;
  }

  /** `{type, id, name}` of an active record, or null when it is missing or retired. */
  link(type: string, id: number, cache?: LinkCache): EntityLink | null {
    const key = `${type}:${id}`;
    const hit = cache?.get(key);
    if (hit !== undefined) return hit;
    const ent = this.schema.entities.get(type);
    let out: EntityLink | null = null;
    if (ent !== undefined) {
      let st = this.#linkStmts.get(type);
      if (st === undefined) {
        const df = ent.fields.get(ent.displayField);
        const col = df !== undefined ? this.schema.storage(df) : undefined;
        const nameExpr = col?.kind === 'column' ? quoteIdent(col.column) : col?.kind === 'id' ? 'id' : 'NULL';
        st = this.db.prepare(`SELECT ${nameExpr} AS name FROM ${quoteIdent(ent.table)} WHERE id = ? AND _retired = 0 AND _hidden = 0`);
        this.#linkStmts.set(type, st);
      }
      const r = st.get(id) as { name: unknown } | undefined;
      if (r !== undefined) out = { type, id, name: typeof r.name === 'string' ? r.name : typeof r.name === 'number' ? String(r.name) : null };
    }
    cache?.set(key, out);
    return out;
  }

  /** Loads the names of many links with one query per entity type (reads of 500 events). */
  prefetchLinks(refs: Iterable<LinkRef>, cache: LinkCache): void {
    const byType = new Map<string, Set<number>>();
    for (const r of refs) {
      if (cache.has(`${r.type}:${r.id}`)) continue;
      let s = byType.get(r.type);
      if (s === undefined) byType.set(r.type, (s = new Set()));
      s.add(r.id);
    }
    for (const [type, ids] of byType) {
      const ent = this.schema.entities.get(type);
      if (ent === undefined) continue;
      const df = ent.fields.get(ent.displayField);
      const col = df !== undefined ? this.schema.storage(df) : undefined;
      const nameExpr = col?.kind === 'column' ? quoteIdent(col.column) : col?.kind === 'id' ? 'id' : 'NULL';
      const rows = this.prepare(`SELECT id, ${nameExpr} AS name FROM ${quoteIdent(ent.table)} WHERE id IN (SELECT value FROM json_each(?)) AND _retired = 0 AND _hidden = 0`)
        .all(JSON.stringify([...ids])) as Array<{ id: number; name: unknown }>;
      for (const id of ids) cache.set(`${type}:${id}`, null);
      for (const r of rows) cache.set(`${type}:${r.id}`, { type, id: r.id, name: typeof r.name === 'string' ? r.name : typeof r.name === 'number' ? String(r.name) : null });
    }
  }

  /** Ids/types linked by a multi_entity field, in order, including retired targets. */
  rawLinks(f: FieldDef, id: number): LinkRef[] {
    const st = this.schema.storage(f);
    if (st.kind === 'links') return this.#linksOf.all(f.entityType, f.name, id) as LinkRef[];
    if (st.kind === 'reverse-links') {
      return (this.#linksTo.all(st.owner.entityType, st.owner.name, f.entityType, id) as Array<{ id: number }>).map((r) => ({ type: st.owner.entityType, id: r.id }));
    }
    if (st.kind === 'reverse-entity') {
      const owner = this.schema.entity(st.owner.entityType);
      const rows = this.prepare(`SELECT id FROM ${quoteIdent(owner.table)} WHERE ${quoteIdent(`${st.owner.name}__id`)} = ? AND ${quoteIdent(`${st.owner.name}__type`)} = ? AND _retired = 0 ORDER BY id`)
        .all(id, f.entityType) as Array<{ id: number }>;
      return rows.map((r) => ({ type: owner.name, id: r.id }));
    }
    return [];
  }

  /** The wire value of a field of a row (links carry `name`; retired targets drop out). */
  value(row: Row, f: FieldDef, cache?: LinkCache): unknown {
    const st = this.schema.storage(f);
    switch (st.kind) {
      case 'id': return row.id;
      case 'column': return decodeScalar(f, row[st.column]);
      case 'entity': {
        const t = row[st.typeColumn];
        const i = row[st.idColumn];
        if (typeof t !== 'string' || typeof i !== 'number') return null;
        return this.link(t, i, cache);
      }
      default: {
        const out: EntityLink[] = [];
        for (const l of this.rawLinks(f, row.id)) {
          const v = this.link(l.type, l.id, cache);
          if (v !== null) out.push(v);
        }
        return out;
      }
    }
  }

  /** Highest EventLogEntry id allocated so far (visible or not). */
  lastEventId(): number {
    const r = this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'e_EventLogEntry'").get() as { seq: number } | undefined;
    return r?.seq ?? 0;
  }

  /** Leaves `count` EventLogEntry ids unused forever (a failed transaction's hole). */
  burnEventIds(count: number): void {
    this.db.transaction(() => {
      const next = this.lastEventId() + count;
      const r = this.db.prepare("UPDATE sqlite_sequence SET seq = ? WHERE name = 'e_EventLogEntry'").run(next);
      if (r.changes === 0) this.db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES ('e_EventLogEntry', ?)").run(next);
    })();
  }

  /** Makes hidden EventLogEntry rows visible; all of them when `ids` is absent. Returns how many. */
  releaseEvents(ids?: readonly number[]): number {
    if (ids === undefined) return this.db.prepare('UPDATE e_EventLogEntry SET _hidden = 0 WHERE _hidden = 1').run().changes;
    const st = this.db.prepare('UPDATE e_EventLogEntry SET _hidden = 0 WHERE id = ? AND _hidden = 1');
    let n = 0;
    this.db.transaction(() => {
      for (const id of ids) n += st.run(id).changes;
    })();
    return n;
  }

  /**
   * Deletes the EventLogEntry rows below `beforeId`, as a hosted site culls
   * its log after about six months (ids stay used). Returns how many.
   */
  cullEventLog(beforeId: number): number {
    return this.db.prepare('DELETE FROM e_EventLogEntry WHERE id < ?').run(beforeId).changes;
  }

  /** Moves every EventLogEntry's created_at back by `ms` (an old log, for tests of its age). Returns how many. */
  backdateEventLog(ms: number): number {
    const rows = this.db.prepare('SELECT id, created_at FROM e_EventLogEntry').all() as Array<{ id: number; created_at: string | null }>;
    const st = this.db.prepare('UPDATE e_EventLogEntry SET created_at = ? WHERE id = ?');
    this.db.transaction(() => {
      for (const r of rows) {
        if (r.created_at === null) continue;
        st.run(new Date(Date.parse(r.created_at) - ms).toISOString().replace(/\.\d{3}Z$/, 'Z'), r.id);
      }
    })();
    return rows.length;
  }

  /** Ids of EventLogEntry rows still hidden. */
  hiddenEventIds(): number[] {
    return (this.db.prepare('SELECT id FROM e_EventLogEntry WHERE _hidden = 1 ORDER BY id').all() as Array<{ id: number }>).map((r) => r.id);
  }
}
