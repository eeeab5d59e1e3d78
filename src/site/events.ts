/**
 * The EventLogEntry rows a write produces, shaped as a real site writes them (protocol.md 3):
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
 * Links inside meta carry `valid: "valid"` and the record's `uuid`, and Task links its
 * `status` (protocol.md 3.2; JB #53, SGC). Retiring or reviving a record also writes a
 * `retirement_date` change with a null entity (protocol.md 3.3; SGC row 2017315).
 * Reply rows have no project (AYS `listener.py`).
 */
import type { EntityDef, FieldDef } from './schema.ts';
import type { EntityLink, Row, SiteStore } from './store.ts';
import { createHash } from 'node:crypto';
import { formatDateTime, type LinkRef } from './values.ts';

/** A stable uuid per record (a site gives every record one; its value carries no meaning here). */
export function recordUuid(l: LinkRef): string {
  const h = createHash('sha1').update(`${l.type}:${l.id}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const LINK_META_KEYS = ['old_value', 'new_value', 'added', 'removed'] as const;

export interface Actor {
  /** The ApiUser of the script, or the HumanUser acting (login, or sudo_as_login). */
  user: LinkRef;
  /** The script's ApiUser when it acts as a HumanUser through sudo_as_login. */
  sudoActualUser?: LinkRef;
  sessionUuid: string | null;
}

export interface EventInput {
  eventType: string;
  attributeName: string | null;
  entity: LinkRef | null;
  project: LinkRef | null;
  meta: Record<string, unknown>;
  description: string;
}

export class EventLog {
  readonly store: SiteStore;
  readonly now: () => Date;
  /** How many of the next EventLogEntry ids are allocated hidden (late commits). */
  holdCount = 0;
  /** Ids written by the open transaction, handed to `onCommit` once it commits. */
  readonly uncommitted: number[] = [];
  /** Called with the ids of the rows one transaction wrote, right after it commits (webhooks). */
  onCommit: ((ids: number[]) => void) | undefined;

  constructor(store: SiteStore, now: () => Date) {
    this.store = store;
    this.now = now;
  }

  /** Back-reference events on the targets' reverse fields after `f` of `self` changed. */
  backref(actor: Actor, f: FieldDef, self: LinkRef, originalId: number, added: EntityLink[], removed: EntityLink[], inCreate: boolean): void {
    const selfLink = this.linkOrRef(self);
    const emit = (target: EntityLink, isAdd: boolean) => {
      const rev = this.store.schema.reverseOn(f, target.type);
      if (rev === undefined) return;
      const tEnt = this.store.schema.entity(target.type);
      const tRow = this.store.row(tEnt, target.id, true);
      const meta: Record<string, unknown> = {
        type: 'attribute_change', attribute_name: rev.name, entity_type: self.type, entity_id: self.id, field_data_type: f.dataType,
        added: isAdd ? [selfLink] : [], removed: isAdd ? [] : [selfLink],
        actual_attribute_changed: `${f.entityType}.${f.name}`, original_event_log_entry_id: originalId,
      };
      if (inCreate) meta.in_create = true;
      this.log(actor, {
        eventType: `Shotgun_${target.type}_Change`, attributeName: rev.name, entity: { type: target.type, id: target.id },
        project: tRow === undefined ? null : this.projectOf(tEnt, tRow), meta,
        description: `${this.name(actor.user)} changed "${rev.displayName}" on ${target.type} ${target.name ?? target.id}`,
      });
    };
    for (const a of added) emit(a, true);
    for (const r of removed) emit(r, false);
  }

  /** Events on the owning side when a back-reference field (`rev`) of `self` was written. */
  ownerSide(actor: Actor, owner: FieldDef, rev: FieldDef, self: LinkRef, originalId: number, added: LinkRef[], removed: LinkRef[], inCreate: boolean): void {
    const ownerEnt = this.store.schema.entity(owner.entityType);
    const selfLink = this.linkOrRef(self);
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
      this.log(actor, {
        eventType: `Shotgun_${owner.entityType}_Change`, attributeName: owner.name, entity: target,
        project: tRow === undefined ? null : this.projectOf(ownerEnt, tRow), meta,
        description: `${this.name(actor.user)} changed "${owner.displayName}" on ${owner.entityType} ${target.id}`,
      });
    };
    for (const a of added) emit(a, true);
    for (const r of removed) emit(r, false);
  }

  change(actor: Actor, ent: EntityDef, self: LinkRef, project: LinkRef | null, f: FieldDef,
    values: { old_value: unknown; new_value: unknown }, inCreate: boolean, display: string): number {
    const meta: Record<string, unknown> = {
      type: 'attribute_change', attribute_name: f.name, entity_type: ent.name, entity_id: self.id, field_data_type: f.dataType, ...values,
    };
    if (inCreate) meta.in_create = true;
    return this.log(actor, {
      eventType: `Shotgun_${ent.name}_Change`, attributeName: f.name, entity: self, project, meta,
      description: `${this.name(actor.user)} changed "${f.displayName}" on ${ent.name} ${display}`,
    });
  }

  takeHold(): boolean {
    if (this.holdCount <= 0) return false;
    this.holdCount -= 1;
    return true;
  }

  /** A link as meta carries it: `valid`, `uuid`, and a Task's `status`. */
  metaLink(v: unknown): unknown {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const l = v as Record<string, unknown>;
    if (typeof l.type !== 'string' || typeof l.id !== 'number' || !('name' in l) || 'valid' in l) return v;
    const out: Record<string, unknown> = { ...l, valid: 'valid', uuid: recordUuid({ type: l.type, id: l.id }) };
    if (l.type === 'Task') {
      const t = this.store.schema.entities.get('Task');
      const row = t === undefined ? undefined : this.store.row(t, l.id, true);
      out.status = row?.sg_status_list ?? null;
    }
    return out;
  }

  /** The `retirement_date` side row of a retirement (a date) or revival (null). */
  retirementSide(actor: Actor, ent: EntityDef, self: LinkRef, project: LinkRef | null, values: { old_value: string | null; new_value: string | null }, display: string): void {
    this.log(actor, {
      eventType: `Shotgun_${ent.name}_Change`, attributeName: 'retirement_date', entity: null, project,
      meta: { type: 'attribute_change', attribute_name: 'retirement_date', entity_type: ent.name, entity_id: self.id, ...values },
      description: `${this.name(actor.user)} changed "Date Retired" on ${ent.name} ${display}`,
    });
  }

  log(actor: Actor, e: EventInput): number {
    const enriched: Record<string, unknown> = { ...e.meta };
    for (const k of LINK_META_KEYS) {
      const v = enriched[k];
      if (v !== undefined) enriched[k] = Array.isArray(v) ? v.map((x) => this.metaLink(x)) : this.metaLink(v);
    }
    const meta = actor.sudoActualUser === undefined ? enriched : { ...enriched, sudo_actual_user: this.linkOrRef(actor.sudoActualUser) };
    const hidden = this.takeHold() ? 1 : 0;
    const r = this.store.prepare(`INSERT INTO e_EventLogEntry (_hidden, event_type, attribute_name, meta, entity__type, entity__id,
      user__type, user__id, project__type, project__id, session_uuid, created_at, description) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(hidden, e.eventType, e.attributeName, JSON.stringify(meta), e.entity?.type ?? null, e.entity?.id ?? null,
        actor.user.type, actor.user.id, e.project?.type ?? null, e.project?.id ?? null, actor.sessionUuid, formatDateTime(this.now()), e.description);
    const id = Number(r.lastInsertRowid);
    // A held row becomes visible (and is announced) when it is released, not at this commit.
    if (hidden === 0) this.uncommitted.push(id);
    return id;
  }

  /** The outermost transaction committed: hand its rows on. */
  committed(): void {
    if (this.uncommitted.length === 0) return;
    const ids = this.uncommitted.splice(0);
    this.onCommit?.(ids);
  }

  /** A transaction (or savepoint) rolled back: forget the rows it wrote after `mark`. */
  rolledBack(mark: number): void {
    this.uncommitted.length = Math.min(this.uncommitted.length, mark);
  }

  linkOrRef(l: LinkRef): EntityLink {
    return this.store.link(l.type, l.id) ?? { type: l.type, id: l.id, name: null };
  }

  projectOf(ent: EntityDef, row: Row): LinkRef | null {
    if (ent.name === 'Project') return { type: 'Project', id: row.id };
    if (ent.name === 'Reply') return null;
    if (!ent.hasProject) return null;
    return typeof row.project__id === 'number' ? { type: 'Project', id: row.project__id } : null;
  }

  name(l: LinkRef): string {
    return this.store.link(l.type, l.id)?.name ?? `${l.type} ${l.id}`;
  }
}
