/**
 * Writes: create, update (with multi_entity_update_mode), retire and revive, each in
 * one SQLite transaction together with the EventLogEntry rows it produces (events.ts).
 * Writes to EventLogEntry itself (Toolkit's `Toolkit_Folders_Create`) log nothing
 * more; existing entries are immutable.
 */
import { randomUUID } from 'node:crypto';
import type { EntityDef, FieldDef } from './schema.ts';
import { quoteIdent } from './schema.ts';
import type { EntityLink, Row, SiteStore } from './store.ts';
import { encodeScalar, formatDateTime, parseLink, type LinkRef, type SqlValue } from './values.ts';
import { clientFault } from './faults.ts';
import { derivedPathCache, normalizeFileLink } from './file-links.ts';
import { EventLog, type Actor } from './events.ts';
import { Retirement } from './retirement.ts';
import { NoteReading, READ_FIELD } from './reading.ts';

export type { Actor } from './events.ts';

export type UpdateMode = 'set' | 'add' | 'remove';

export interface FieldWrite {
  field_name: string;
  value: unknown;
  multi_entity_update_mode?: UpdateMode;
}

const EVENT_TYPE = 'EventLogEntry';

export class SiteWriter {
  readonly store: SiteStore;
  /** Off while seeding: seed data writes no events. */
  eventsEnabled = true;
  /** Clock of the writes; tests may pin it. */
  now: () => Date = () => new Date();

  readonly events: EventLog;

  readonly retirement: Retirement;

  /** Notes read per user (`read_by_current_user`). */
  readonly reading: NoteReading;

  constructor(store: SiteStore) {
    this.store = store;
    this.reading = new NoteReading(store);
    this.events = new EventLog(store, () => this.now());
    this.retirement = new Retirement(store, this.events, () => this.eventsEnabled);
  }

  get #schema() {
    return this.store.schema;
  }

  /**
   * Runs `fn` in one transaction (nested calls become savepoints). The event rows
   * it wrote are announced (`events.onCommit`) only once the outermost one commits.
   */
  transaction<T>(fn: () => T): T {
    const mark = this.events.uncommitted.length;
    let out: T;
    try {
      out = this.store.db.transaction(fn)();
    } catch (err) {
      this.events.rolledBack(mark);
      throw err;
    }
    if (!this.store.db.inTransaction) this.events.committed();
    return out;
  }

  create(actor: Actor, type: string, written: readonly FieldWrite[]): { id: number; fieldsSet: string[] } {
    const ent = this.#schema.entity(type);
    const fields = [...written, ...derivedPathCache(this.store, ent.fields, written)];
    return this.transaction(() => {
      const now = formatDateTime(this.now());
      const given = new Map<string, FieldWrite>();
      for (const w of fields) {
        const f = this.#schema.field(ent, w.field_name);
        if (f.name === 'id') throw clientFault('SITE_FIELD_NOT_EDITABLE', `${ent.name}.id cannot be set`, { entityType: ent.name, field: 'id' });
        given.set(f.name, w);
      }
      for (const f of ent.fields.values()) {
        if (!given.has(f.name) && f.defaultValue !== null && f.dataType !== 'checkbox' && this.#schema.storage(f).kind === 'column') {
          given.set(f.name, { field_name: f.name, value: f.defaultValue });
        }
        // A record's own `uuid` is made by the site (LocalStorage.uuid, HumanUser.uuid).
        if (f.name === 'uuid' && f.dataType === 'uuid' && !given.has(f.name)) given.set(f.name, { field_name: f.name, value: randomUUID() });
      }
      const cols: string[] = [];
      const vals: SqlValue[] = [];
      const put = (c: string, v: SqlValue) => { cols.push(quoteIdent(c)); vals.push(v); };
      const auto: Record<string, unknown> = ent.name === EVENT_TYPE
        ? { created_at: now, user: actor.user, session_uuid: actor.sessionUuid }
        : { created_at: now, updated_at: now, created_by: actor.user, updated_by: actor.user };
      const scalars: FieldDef[] = [];
      const lists: Array<[FieldDef, FieldWrite]> = [];
      for (const [name, v] of Object.entries(auto)) {
        if (!given.has(name) && ent.fields.has(name)) given.set(name, { field_name: name, value: v });
      }
      for (const [name, w] of given) {
        const f = ent.fields.get(name)!;
        const st = this.#schema.storage(f);
        if (st.kind === 'column') { put(st.column, this.#encode(f, w.value)); scalars.push(f); }
        else if (st.kind === 'entity') {
          const l = w.value === null ? null : this.#target(f, w.value);
          put(st.typeColumn, l?.type ?? null); put(st.idColumn, l?.id ?? null); scalars.push(f);
        } else lists.push([f, w]);
      }
      const sql = cols.length > 0
        ? `INSERT INTO ${quoteIdent(ent.table)} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`
        : `INSERT INTO ${quoteIdent(ent.table)} DEFAULT VALUES`;
      const hidden = ent.name === EVENT_TYPE && this.events.takeHold();
      const id = Number(this.store.prepare(sql).run(...vals).lastInsertRowid);
      if (hidden) this.store.prepare('UPDATE e_EventLogEntry SET _hidden = 1 WHERE id = ?').run(id);
      const self: LinkRef = { type: ent.name, id };
      const logging = this.eventsEnabled && ent.name !== EVENT_TYPE;
      const fieldsSet = [...given.keys()].filter((n) => !(n in auto) || fields.some((w) => w.field_name === n));
      const row = this.store.row(ent, id, true)!;
      const project = this.events.projectOf(ent, row);
      const actorName = this.events.name(actor.user);
      const display = this.#display(ent, row);
      if (logging) {
        this.events.log(actor, {
          eventType: `Shotgun_${ent.name}_New`, attributeName: null, entity: self, project,
          meta: { type: 'new_entity', entity_type: ent.name, entity_id: id },
          description: `${actorName} created new ${ent.name} ${display}`,
        });
      }
      const creating = new Set(fieldsSet);
      for (const f of scalars) {
        if (!logging || !creating.has(f.name)) continue;
        const newValue = this.store.value(row, f);
        if (f.dataType === 'checkbox' ? newValue === false : newValue === null) continue;
        const evId = this.events.change(actor, ent, self, project, f, { old_value: null, new_value: newValue }, true, display);
        if (f.dataType === 'entity' && newValue !== null) this.events.backref(actor, f, self, evId, [newValue as EntityLink], [], true);
      }
      for (const [f, w] of lists) this.#writeList(actor, ent, row, f, w.value, 'set', logging, true, project, display);
      return { id, fieldsSet };
    });
  }

  update(actor: Actor, type: string, id: unknown, written: readonly FieldWrite[], defaultMode?: UpdateMode): { fieldsSet: string[]; reading?: 'read' | 'unread' } {
    const ent = this.#mutable(type);
    // A Note's read state is per user and has its own event type (reading.ts).
    const readWrite = ent.name === 'Note' ? written.find((w) => w.field_name === READ_FIELD) : undefined;
    const own = readWrite === undefined ? written : written.filter((w) => w !== readWrite);
    const fields = [...own, ...derivedPathCache(this.store, ent.fields, own)];
    return this.transaction(() => {
      const row = this.store.activeRow(ent, id);
      const self: LinkRef = { type: ent.name, id: row.id };
      const logging = this.eventsEnabled && ent.name !== EVENT_TYPE;
      const reading = readWrite === undefined ? undefined : this.reading.mark(actor, this.events, ent, row, readWrite.value, logging, this.#display(ent, row));
      const fieldsSet: string[] = [];
      let changed = false;
      for (const w of fields) {
        const f = this.#schema.field(ent, w.field_name);
        if (!f.editable) throw clientFault('SITE_FIELD_NOT_EDITABLE', `${ent.name}.${f.name} is not editable`, { entityType: ent.name, field: f.name });
        fieldsSet.push(f.name);
        const cur = this.store.row(ent, row.id, true)!;
        const project = this.events.projectOf(ent, cur);
        const display = this.#display(ent, cur);
        const st = this.#schema.storage(f);
        if (st.kind === 'column' || st.kind === 'entity') {
          const oldValue = this.store.value(cur, f);
          if (st.kind === 'column') {
            const enc = this.#encode(f, w.value);
            if (enc === cur[st.column]) continue;
            this.store.prepare(`UPDATE ${quoteIdent(ent.table)} SET ${quoteIdent(st.column)} = ? WHERE id = ?`).run(enc, row.id);
          } else {
            const newLink = w.value === null ? null : this.#target(f, w.value);
            if (newLink?.type === cur[st.typeColumn] && newLink?.id === cur[st.idColumn]) continue;
            if (newLink === null && cur[st.idColumn] === null) continue;
            this.store.prepare(`UPDATE ${quoteIdent(ent.table)} SET ${quoteIdent(st.typeColumn)} = ?, ${quoteIdent(st.idColumn)} = ? WHERE id = ?`)
              .run(newLink?.type ?? null, newLink?.id ?? null, row.id);
          }
          changed = true;
          if (!logging) continue;
          const after = this.store.row(ent, row.id, true)!;
          const newValue = this.store.value(after, f);
          const evId = this.events.change(actor, ent, self, this.events.projectOf(ent, after), f, { old_value: oldValue, new_value: newValue }, false, display);
          if (st.kind === 'entity') {
            const old = oldValue as EntityLink | null;
            const oldRef = old ?? this.#rawEntity(cur, f);
            this.events.backref(actor, f, self, evId, newValue === null ? [] : [newValue as EntityLink], oldRef === null ? [] : [this.events.linkOrRef(oldRef)], false);
          }
        } else {
          const mode = w.multi_entity_update_mode ?? defaultMode ?? 'set';
          if (mode !== 'set' && mode !== 'add' && mode !== 'remove') throw clientFault('SITE_INVALID_UPDATE_MODE', `multi_entity_update_mode must be set, add or remove`, { mode });
          if (this.#writeList(actor, ent, cur, f, w.value, mode, logging, false, project, display)) changed = true;
        }
      }
      if (changed && ent.name !== EVENT_TYPE) {
        this.store.prepare(`UPDATE ${quoteIdent(ent.table)} SET updated_at = ?, updated_by__type = ?, updated_by__id = ? WHERE id = ?`)
          .run(formatDateTime(this.now()), actor.user.type, actor.user.id, row.id);
      }
      return reading === undefined ? { fieldsSet } : { fieldsSet, reading };
    });
  }

  retire(actor: Actor, type: string, id: unknown): boolean {
    const ent = this.#mutable(type);
    return this.transaction(() => this.retirement.retire(actor, ent, id, this.now()));
  }

  revive(actor: Actor, type: string, id: unknown): boolean {
    const ent = this.#mutable(type);
    return this.transaction(() => this.retirement.revive(actor, ent, id));
  }

  /** Writes a multi_entity field (stored, or a back-reference) and logs it; true when it changed. */
  #writeList(actor: Actor, ent: EntityDef, row: Row, f: FieldDef, value: unknown, mode: UpdateMode, logging: boolean,
    inCreate: boolean, project: LinkRef | null, display: string): boolean {
    if (!Array.isArray(value)) {
      if (value === null && mode === 'set') value = [];
      else throw clientFault('SITE_INVALID_VALUE', `${ent.name}.${f.name} expects a list of entity hashes`, { entityType: ent.name, field: f.name });
    }
    const wanted: LinkRef[] = [];
    for (const v of value as unknown[]) {
      const l = this.#target(f, v);
      if (!wanted.some((w) => w.type === l.type && w.id === l.id)) wanted.push(l);
    }
    const old = this.store.rawLinks(f, row.id);
    const has = (list: LinkRef[], l: LinkRef) => list.some((o) => o.type === l.type && o.id === l.id);
    const next = mode === 'set' ? wanted : mode === 'add' ? [...old, ...wanted.filter((w) => !has(old, w))] : old.filter((o) => !has(wanted, o));
    const added = next.filter((n) => !has(old, n));
    const removed = old.filter((o) => !has(next, o));
    const orderChanged = mode === 'set' && added.length === 0 && removed.length === 0 && next.some((n, i) => n.type !== old[i]?.type || n.id !== old[i]?.id);
    if (added.length === 0 && removed.length === 0 && !orderChanged) return false;
    const self: LinkRef = { type: ent.name, id: row.id };
    const st = this.#schema.storage(f);
    if (st.kind === 'links') {
      this.store.prepare('DELETE FROM links WHERE src_type = ? AND field = ? AND src_id = ?').run(ent.name, f.name, row.id);
      const ins = this.store.prepare('INSERT INTO links (src_type, src_id, field, pos, dst_type, dst_id) VALUES (?, ?, ?, ?, ?, ?)');
      next.forEach((l, i) => ins.run(ent.name, row.id, f.name, i, l.type, l.id));
    } else if (st.kind === 'reverse-links') {
      const o = st.owner;
      const ins = this.store.prepare(`INSERT INTO links (src_type, src_id, field, pos, dst_type, dst_id)
        VALUES (?, ?, ?, (SELECT COALESCE(MAX(pos), -1) + 1 FROM links WHERE src_type = ? AND field = ? AND src_id = ?), ?, ?)`);
      for (const a of added) ins.run(o.entityType, a.id, o.name, o.entityType, o.name, a.id, ent.name, row.id);
      const del = this.store.prepare('DELETE FROM links WHERE src_type = ? AND field = ? AND src_id = ? AND dst_type = ? AND dst_id = ?');
      for (const r of removed) del.run(o.entityType, o.name, r.id, ent.name, row.id);
    } else if (st.kind === 'reverse-entity') {
      const o = st.owner;
      const ownerEnt = this.#schema.entity(o.entityType);
      const set = this.store.prepare(`UPDATE ${quoteIdent(ownerEnt.table)} SET ${quoteIdent(`${o.name}__type`)} = ?, ${quoteIdent(`${o.name}__id`)} = ? WHERE id = ?`);
      for (const a of added) set.run(ent.name, row.id, a.id);
      for (const r of removed) set.run(null, null, r.id);
    }
    if (!logging) return true;
    const named = (ls: LinkRef[]) => ls.map((l) => this.events.linkOrRef(l));
    const meta: Record<string, unknown> = {
      type: 'attribute_change', attribute_name: f.name, entity_type: ent.name, entity_id: row.id, field_data_type: f.dataType,
      added: named(added), removed: named(removed),
    };
    if (inCreate) meta.in_create = true;
    const evId = this.events.log(actor, {
      eventType: `Shotgun_${ent.name}_Change`, attributeName: f.name, entity: self, project, meta,
      description: `${this.events.name(actor.user)} changed "${f.displayName}" on ${ent.name} ${display}`,
    });
    if (st.kind === 'links') this.events.backref(actor, f, self, evId, named(added), named(removed), inCreate);
    else if (st.kind === 'reverse-links' || st.kind === 'reverse-entity') this.events.ownerSide(actor, st.owner, f, self, evId, added, removed, inCreate);
    return true;
  }

  /** Event log entries are immutable once written (PYREF:L858-935). */
  #mutable(type: string): EntityDef {
    const ent = this.#schema.entity(type);
    if (ent.name === EVENT_TYPE) throw clientFault('SITE_EVENT_IMMUTABLE', 'EventLogEntry records cannot be changed', { entityType: ent.name });
    return ent;
  }

  #encode(f: FieldDef, v: unknown): SqlValue {
    if (f.dataType === 'url' && typeof v === 'object' && v !== null && !Array.isArray(v)) return encodeScalar(f, normalizeFileLink(this.store, v as Record<string, unknown>));
    return encodeScalar(f, v);
  }

  /** A link value in a write: the target must exist, be active and of a valid type. */
  #target(f: FieldDef, v: unknown): LinkRef {
    const l = parseLink(f, v);
    const ent = this.#schema.entities.get(l.type);
    const row = ent === undefined ? undefined : this.store.row(ent, l.id);
    if (row === undefined || row._retired === 1) {
      throw clientFault('SITE_LINK_NOT_FOUND', `${f.entityType}.${f.name} links to ${l.type} ${l.id}, which does not exist`, { entityType: f.entityType, field: f.name, link: l });
    }
    return l;
  }

  #rawEntity(row: Row, f: FieldDef): LinkRef | null {
    const t = row[`${f.name}__type`];
    const i = row[`${f.name}__id`];
    return typeof t === 'string' && typeof i === 'number' ? { type: t, id: i } : null;
  }

  #display(ent: EntityDef, row: Row): string {
    const v = row[ent.displayField];
    return typeof v === 'string' || typeof v === 'number' ? String(v) : `#${row.id}`;
  }

}
