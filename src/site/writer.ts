/**
 * Writes (create, update, retire, revive) and the EventLogEntry rows they produce,
 * in one transaction, shaped as a real site writes them (protocol.md 3):
 * - `Shotgun_<Type>_New`, meta `{type: 'new_entity', entity_type, entity_id}` (SGC `events.py`);
 * - one `Shotgun_<Type>_Change` per field set in create (`in_create: true`) and per changed
 *   field: `attribute_change` with `old_value`/`new_value`, or `added`/`removed` for links lists;
 * - back-reference rows on the other side of a link that has a reverse field: meta carries
 *   the *source* entity_type/entity_id/field_data_type plus `actual_attribute_changed` and
 *   `original_event_log_entry_id` (SGE `reverse_engineering.rst` "Back-references invade metadata");
 * - `Shotgun_<Type>_Retirement`, meta `entity_retirement` with class_name, display_name,
 *   entity_id, entity_type, id, retirement_date "YYYY-MM-DD HH:MM:SS UTC" (SGC);
 * - `Shotgun_<Type>_Revival`: the same keys without `type`, as the only sample had none
 *   (protocol.md 3 marks the revival meta type unverified; SGC `events.py`).
 * Under sudo, meta gets `sudo_actual_user` (protocol.md 3, PY:L561-564).
 * Writes to EventLogEntry itself (Toolkit's `Toolkit_Folders_Create`) log nothing more.
 */
import type { EntityDef, FieldDef } from './schema.ts';
import { quoteIdent } from './schema.ts';
import type { EntityLink, Row, SiteStore } from './store.ts';
import { encodeScalar, formatDateTime, parseLink, type LinkRef, type SqlValue } from './values.ts';
import { clientFault } from './faults.ts';
import { normalizeFileLink } from './file-links.ts';

export interface Actor {
  /** The ApiUser of the script, or the HumanUser acting (login, or sudo_as_login). */
  user: LinkRef;
  /** The script's ApiUser when it acts as a HumanUser through sudo_as_login. */
  sudoActualUser?: LinkRef;
  sessionUuid: string | null;
}

export type UpdateMode = 'set' | 'add' | 'remove';

export interface FieldWrite {
  field_name: string;
  value: unknown;
  multi_entity_update_mode?: UpdateMode;
}

interface EventInput {
  eventType: string;
  attributeName: string | null;
  entity: LinkRef | null;
  project: LinkRef | null;
  meta: Record<string, unknown>;
  description: string;
}

const EVENT_TYPE = 'EventLogEntry';

export class SiteWriter {
  readonly store: SiteStore;
  /** How many of the next EventLogEntry ids are allocated hidden (late commits). */
  holdCount = 0;
  /** Off while seeding: seed data writes no events. */
  eventsEnabled = true;
  /** Clock of the writes; tests may pin it. */
  now: () => Date = () => new Date();

  constructor(store: SiteStore) {
    this.store = store;
  }

  get #schema() {
    return this.store.schema;
  }

  /** Runs `fn` in one transaction (nested calls become savepoints). */
  transaction<T>(fn: () => T): T {
    return this.store.db.transaction(fn)();
  }

  create(actor: Actor, type: string, fields: readonly FieldWrite[]): { id: number; fieldsSet: string[] } {
    const ent = this.#schema.entity(type);
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
      const hidden = ent.name === EVENT_TYPE && this.#takeHold();
      const id = Number(this.store.prepare(sql).run(...vals).lastInsertRowid);
      if (hidden) this.store.prepare('UPDATE e_EventLogEntry SET _hidden = 1 WHERE id = ?').run(id);
      const self: LinkRef = { type: ent.name, id };
      const logging = this.eventsEnabled && ent.name !== EVENT_TYPE;
      const fieldsSet = [...given.keys()].filter((n) => !(n in auto) || fields.some((w) => w.field_name === n));
      const row = this.store.row(ent, id, true)!;
      const project = this.#projectOf(ent, row);
      const actorName = this.#name(actor.user);
      const display = this.#display(ent, row);
      if (logging) {
        this.#log(actor, {
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
        const evId = this.#logChange(actor, ent, self, project, f, { old_value: null, new_value: newValue }, true, display);
        if (f.dataType === 'entity' && newValue !== null) this.#backref(actor, f, self, evId, [newValue as EntityLink], [], true);
      }
      for (const [f, w] of lists) this.#writeList(actor, ent, row, f, w.value, 'set', logging, true, project, display);
      return { id, fieldsSet };
    });
  }

  update(actor: Actor, type: string, id: unknown, fields: readonly FieldWrite[], defaultMode?: UpdateMode): { fieldsSet: string[] } {
    const ent = this.#mutable(type);
    return this.transaction(() => {
      const row = this.store.activeRow(ent, id);
      const self: LinkRef = { type: ent.name, id: row.id };
      const logging = this.eventsEnabled && ent.name !== EVENT_TYPE;
      const fieldsSet: string[] = [];
      let changed = false;
      for (const w of fields) {
        const f = this.#schema.field(ent, w.field_name);
        if (!f.editable) throw clientFault('SITE_FIELD_NOT_EDITABLE', `${ent.name}.${f.name} is not editable`, { entityType: ent.name, field: f.name });
        fieldsSet.push(f.name);
        const cur = this.store.row(ent, row.id, true)!;
        const project = this.#projectOf(ent, cur);
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
          const evId = this.#logChange(actor, ent, self, this.#projectOf(ent, after), f, { old_value: oldValue, new_value: newValue }, false, display);
          if (st.kind === 'entity') {
            const old = oldValue as EntityLink | null;
            const oldRef = old ?? this.#rawEntity(cur, f);
            this.#backref(actor, f, self, evId, newValue === null ? [] : [newValue as EntityLink], oldRef === null ? [] : [this.#linkOrRef(oldRef)], false);
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
      return { fieldsSet };
    });
  }

  retire(actor: Actor, type: string, id: unknown): boolean {
    const ent = this.#mutable(type);
    return this.transaction(() => {
      const row = typeof id === 'number' ? this.store.row(ent, id) : undefined;
      if (row === undefined) throw clientFault('SITE_ENTITY_NOT_FOUND', `${ent.name} with id ${String(id)} does not exist`, { entityType: ent.name, id });
      if (row._retired === 1) return false;
      this.store.prepare(`UPDATE ${quoteIdent(ent.table)} SET _retired = 1 WHERE id = ?`).run(row.id);
      if (this.eventsEnabled && ent.name !== EVENT_TYPE) {
        const now = this.now();
        const display = this.#display(ent, row);
        this.#log(actor, {
          eventType: `Shotgun_${ent.name}_Retirement`, attributeName: null, entity: { type: ent.name, id: row.id }, project: this.#projectOf(ent, row),
          meta: { type: 'entity_retirement', class_name: ent.name, display_name: display, entity_id: row.id, entity_type: ent.name, id: row.id,
            retirement_date: `${now.toISOString().slice(0, 19).replace('T', ' ')} UTC` },
          description: `${this.#name(actor.user)} retired ${ent.name} ${display}`,
        });
      }
      return true;
    });
  }

  revive(actor: Actor, type: string, id: unknown): boolean {
    const ent = this.#mutable(type);
    return this.transaction(() => {
      const row = typeof id === 'number' ? this.store.row(ent, id) : undefined;
      if (row === undefined) throw clientFault('SITE_ENTITY_NOT_FOUND', `${ent.name} with id ${String(id)} does not exist`, { entityType: ent.name, id });
      if (row._retired === 0) return false;
      this.store.prepare(`UPDATE ${quoteIdent(ent.table)} SET _retired = 0 WHERE id = ?`).run(row.id);
      if (this.eventsEnabled && ent.name !== EVENT_TYPE) {
        const display = this.#display(ent, row);
        this.#log(actor, {
          eventType: `Shotgun_${ent.name}_Revival`, attributeName: null, entity: { type: ent.name, id: row.id }, project: this.#projectOf(ent, row),
          meta: { class_name: ent.name, display_name: display, entity_id: row.id, entity_type: ent.name, id: row.id },
          description: `${this.#name(actor.user)} revived ${ent.name} ${display}`,
        });
      }
      return true;
    });
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
    const named = (ls: LinkRef[]) => ls.map((l) => this.#linkOrRef(l));
    const meta: Record<string, unknown> = {
      type: 'attribute_change', attribute_name: f.name, entity_type: ent.name, entity_id: row.id, field_data_type: f.dataType,
      added: named(added), removed: named(removed),
    };
    if (inCreate) meta.in_create = true;
    const evId = this.#log(actor, {
      eventType: `Shotgun_${ent.name}_Change`, attributeName: f.name, entity: self, project, meta,
      description: `${this.#name(actor.user)} changed "${f.displayName}" on ${ent.name} ${display}`,
    });
    if (st.kind === 'links') this.#backref(actor, f, self, evId, named(added), named(removed), inCreate);
    else if (st.kind === 'reverse-links' || st.kind === 'reverse-entity') this.#ownerSide(actor, st.owner, f, self, evId, added, removed, inCreate);
    return true;
  }

  /** Back-reference events on the targets' reverse fields after `f` of `self` changed. */
  #backref(actor: Actor, f: FieldDef, self: LinkRef, originalId: number, added: EntityLink[], removed: EntityLink[], inCreate: boolean): void {
    const selfLink = this.#linkOrRef(self);
    const emit = (target: EntityLink, isAdd: boolean) => {
      const rev = this.#schema.reverseOn(f, target.type);
      if (rev === undefined) return;
      const tEnt = this.#schema.entity(target.type);
      const tRow = this.store.row(tEnt, target.id, true);
      const meta: Record<string, unknown> = {
        type: 'attribute_change', attribute_name: rev.name, entity_type: self.type, entity_id: self.id, field_data_type: f.dataType,
        added: isAdd ? [selfLink] : [], removed: isAdd ? [] : [selfLink],
        actual_attribute_changed: `${f.entityType}.${f.name}`, original_event_log_entry_id: originalId,
      };
      if (inCreate) meta.in_create = true;
      this.#log(actor, {
        eventType: `Shotgun_${target.type}_Change`, attributeName: rev.name, entity: { type: target.type, id: target.id },
        project: tRow === undefined ? null : this.#projectOf(tEnt, tRow), meta,
        description: `${this.#name(actor.user)} changed "${rev.displayName}" on ${target.type} ${target.name ?? target.id}`,
      });
    };
    for (const a of added) emit(a, true);
    for (const r of removed) emit(r, false);
  }

  /** Events on the owning side when a back-reference field (`rev`) of `self` was written. */
  #ownerSide(actor: Actor, owner: FieldDef, rev: FieldDef, self: LinkRef, originalId: number, added: LinkRef[], removed: LinkRef[], inCreate: boolean): void {
    const ownerEnt = this.#schema.entity(owner.entityType);
    const selfLink = this.#linkOrRef(self);
    const emit = (target: LinkRef, isAdd: boolean) => {
      const tRow = this.store.row(ownerEnt, target.id, true);
      const meta: Record<string, unknown> = {
        type: 'attribute_change', attribute_name: owner.name, entity_type: self.type, entity_id: self.id, field_data_type: rev.dataType,
        actual_attribute_changed: `${rev.entityType}.${rev.name}`, original_event_log_entry_id: originalId,
      };
      if (owner.dataType === 'entity') {
        meta.old_value = isAdd ? null : selfLink;
        meta.new_value = isAdd ? selfLink : null;
      } else {
        meta.added = isAdd ? [selfLink] : [];
        meta.removed = isAdd ? [] : [selfLink];
      }
      if (inCreate) meta.in_create = true;
      this.#log(actor, {
        eventType: `Shotgun_${owner.entityType}_Change`, attributeName: owner.name, entity: target,
        project: tRow === undefined ? null : this.#projectOf(ownerEnt, tRow), meta,
        description: `${this.#name(actor.user)} changed "${owner.displayName}" on ${owner.entityType} ${target.id}`,
      });
    };
    for (const a of added) emit(a, true);
    for (const r of removed) emit(r, false);
  }

  #logChange(actor: Actor, ent: EntityDef, self: LinkRef, project: LinkRef | null, f: FieldDef,
    values: { old_value: unknown; new_value: unknown }, inCreate: boolean, display: string): number {
    const meta: Record<string, unknown> = {
      type: 'attribute_change', attribute_name: f.name, entity_type: ent.name, entity_id: self.id, field_data_type: f.dataType, ...values,
    };
    if (inCreate) meta.in_create = true;
    return this.#log(actor, {
      eventType: `Shotgun_${ent.name}_Change`, attributeName: f.name, entity: self, project, meta,
      description: `${this.#name(actor.user)} changed "${f.displayName}" on ${ent.name} ${display}`,
    });
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

  #takeHold(): boolean {
    if (this.holdCount <= 0) return false;
    this.holdCount -= 1;
    return true;
  }

  #log(actor: Actor, e: EventInput): number {
    const meta = actor.sudoActualUser === undefined ? e.meta : { ...e.meta, sudo_actual_user: this.#linkOrRef(actor.sudoActualUser) };
    const hidden = this.#takeHold() ? 1 : 0;
    const r = this.store.prepare(`INSERT INTO e_EventLogEntry (_hidden, event_type, attribute_name, meta, entity__type, entity__id,
      user__type, user__id, project__type, project__id, session_uuid, created_at, description) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(hidden, e.eventType, e.attributeName, JSON.stringify(meta), e.entity?.type ?? null, e.entity?.id ?? null,
        actor.user.type, actor.user.id, e.project?.type ?? null, e.project?.id ?? null, actor.sessionUuid, formatDateTime(this.now()), e.description);
    return Number(r.lastInsertRowid);
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

  #linkOrRef(l: LinkRef): EntityLink {
    return this.store.link(l.type, l.id) ?? { type: l.type, id: l.id, name: null };
  }

  #projectOf(ent: EntityDef, row: Row): LinkRef | null {
    if (ent.name === 'Project') return { type: 'Project', id: row.id };
    if (!ent.hasProject) return null;
    return typeof row.project__id === 'number' ? { type: 'Project', id: row.project__id } : null;
  }

  #display(ent: EntityDef, row: Row): string {
    const v = row[ent.displayField];
    return typeof v === 'string' || typeof v === 'number' ? String(v) : `#${row.id}`;
  }

  #name(l: LinkRef): string {
    return this.store.link(l.type, l.id)?.name ?? `${l.type} ${l.id}`;
  }
}
