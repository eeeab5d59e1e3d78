/**
 * Following and the activity stream (python-api `follow`, `unfollow`, `followers`,
 * `following`, `activity_stream_read`; protocol.md 6.1).
 *
 * - Follows live in their own table (user, entity); following twice or
 *   unfollowing what is not followed succeeds, as on a real site.
 * - The activity stream of a record is made from the event log: its own creation
 *   and the creation of the Notes linked to it, newest first, each an update
 *   `{id, created_at, created_by, meta, primary_entity, read, update_type}` whose
 *   id is the EventLogEntry id (so max_id/min_id page through it).
 */
import { z } from 'zod';
import type { SiteStore } from './store.ts';
import type { Reader } from './read.ts';
import { clientFault } from './faults.ts';
import type { LinkRef } from './values.ts';

const linkSchema = z.object({ type: z.string(), id: z.number().int() }).passthrough();
export const followParamsSchema = z.object({ user: linkSchema, entity: linkSchema }).passthrough();
export const followersParamsSchema = z.object({ entity: linkSchema }).passthrough();
export const followingParamsSchema = z.object({ user: linkSchema, project: linkSchema.nullish(), entity_type: z.string().nullish() }).passthrough();
export const activityParamsSchema = z.object({
  type: z.string(), id: z.number().int(),
  max_id: z.number().int().nullish(), min_id: z.number().int().nullish(), limit: z.number().int().positive().nullish(),
  entity_fields: z.record(z.string(), z.array(z.string())).nullish(),
}).passthrough();

/** `2015-07-15 11:06:55 UTC`, the activity stream's date form. */
function streamDate(iso: unknown): string | null {
  return typeof iso === 'string' ? `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC` : null;
}

export class Social {
  readonly #store: SiteStore;
  readonly #reader: Reader;

  constructor(store: SiteStore, reader: Reader) {
    this.#store = store;
    this.#reader = reader;
    store.db.exec(`CREATE TABLE IF NOT EXISTS follows (user_type TEXT NOT NULL, user_id INTEGER NOT NULL,
      entity_type TEXT NOT NULL, entity_id INTEGER NOT NULL, PRIMARY KEY (user_type, user_id, entity_type, entity_id))`);
  }

  #active(l: LinkRef): LinkRef {
    const ent = this.#store.schema.entity(l.type);
    this.#store.activeRow(ent, l.id);
    return { type: ent.name, id: l.id };
  }

  #user(l: LinkRef): LinkRef {
    if (l.type !== 'HumanUser') throw clientFault('SITE_INVALID_PARAMS', 'only a HumanUser can follow', { entityType: l.type });
    return this.#active(l);
  }

  follow(p: z.infer<typeof followParamsSchema>): Record<string, unknown> {
    const user = this.#user(p.user);
    const entity = this.#active(p.entity);
    this.#store.prepare('INSERT OR IGNORE INTO follows (user_type, user_id, entity_type, entity_id) VALUES (?, ?, ?, ?)').run(user.type, user.id, entity.type, entity.id);
    return { followed: true, user, entity };
  }

  unfollow(p: z.infer<typeof followParamsSchema>): Record<string, unknown> {
    const user = this.#user(p.user);
    const entity = this.#active(p.entity);
    this.#store.prepare('DELETE FROM follows WHERE user_type = ? AND user_id = ? AND entity_type = ? AND entity_id = ?').run(user.type, user.id, entity.type, entity.id);
    return { unfollowed: true, user, entity };
  }

  /** HumanUser links `{type, id, name, status, valid}` of the active users following the record. */
  followers(p: z.infer<typeof followersParamsSchema>): Array<Record<string, unknown>> {
    const entity = this.#active(p.entity);
    const rows = this.#store.prepare(`SELECT u.id, u.name, u.sg_status_list AS status FROM follows f JOIN e_HumanUser u ON u.id = f.user_id AND u._retired = 0
      WHERE f.user_type = 'HumanUser' AND f.entity_type = ? AND f.entity_id = ? ORDER BY u.id`).all(entity.type, entity.id) as Array<{ id: number; name: string | null; status: string | null }>;
    return rows.map((r) => ({ type: 'HumanUser', id: r.id, name: r.name, status: r.status, valid: 'valid' }));
  }

  /** `[{type, id}]` of the active records the user follows, optionally of one project and one type. */
  following(p: z.infer<typeof followingParamsSchema>): LinkRef[] {
    const user = this.#user(p.user);
    const rows = this.#store.prepare('SELECT entity_type AS type, entity_id AS id FROM follows WHERE user_type = ? AND user_id = ? ORDER BY entity_type, entity_id')
      .all(user.type, user.id) as LinkRef[];
    const out: LinkRef[] = [];
    for (const r of rows) {
      if (p.entity_type !== undefined && p.entity_type !== null && r.type !== p.entity_type) continue;
      const ent = this.#store.schema.entities.get(r.type);
      const row = ent === undefined ? undefined : this.#store.row(ent, r.id);
      if (ent === undefined || row === undefined || row._retired === 1) continue;
      if (p.project !== undefined && p.project !== null) {
        const projectId = ent.name === 'Project' ? row.id : row.project__id;
        if (projectId !== p.project.id) continue;
      }
      out.push({ type: r.type, id: r.id });
    }
    return out;
  }

  activityStream(p: z.infer<typeof activityParamsSchema>): Record<string, unknown> {
    const ent = this.#store.schema.entity(p.type);
    this.#store.activeRow(ent, p.id);
    const params: Array<string | number> = [`Shotgun_${ent.name}_New`, ent.name, p.id, ent.name, p.id];
    let range = '';
    if (p.max_id !== undefined && p.max_id !== null) { range += ' AND id <= ?'; params.push(p.max_id); }
    if (p.min_id !== undefined && p.min_id !== null) { range += ' AND id >= ?'; params.push(p.min_id); }
    params.push(p.limit ?? -1);
    const rows = this.#store.prepare(`SELECT id, created_at, meta, user__type AS ut, user__id AS ui, entity__type AS et, entity__id AS ei FROM e_EventLogEntry
      WHERE _hidden = 0 AND (
        (event_type = ? AND entity__type = ? AND entity__id = ?) OR
        (event_type = 'Shotgun_Note_New' AND entity__type = 'Note' AND entity__id IN
          (SELECT src_id FROM links WHERE src_type = 'Note' AND field = 'note_links' AND dst_type = ? AND dst_id = ?)))${range}
      ORDER BY id DESC LIMIT ?`).all(...params) as Array<{ id: number; created_at: string; meta: string | null; ut: string | null; ui: number | null; et: string; ei: number }>;
    const fields = p.entity_fields ?? {};
    const updates = rows.map((r) => {
      const pent = this.#store.schema.entity(r.et);
      const prow = this.#store.row(pent, r.ei);
      const status = pent.fields.has('sg_status_list') ? 'sg_status_list' : undefined;
      let primary: Record<string, unknown> = { type: pent.name, id: r.ei, name: null, status: null };
      if (prow !== undefined) {
        const rec = this.#reader.record(pent, prow, [pent.displayField, ...(status === undefined ? [] : [status]), ...(fields[pent.name] ?? [])]);
        primary = { ...rec, name: rec[pent.displayField] ?? null, status: status === undefined ? null : rec[status] ?? null };
        if (pent.displayField !== 'name' && !(fields[pent.name] ?? []).includes(pent.displayField)) delete primary[pent.displayField];
        if (status !== undefined && !(fields[pent.name] ?? []).includes(status)) delete primary[status];
      }
      const creator = r.ut !== null && r.ui !== null ? this.#store.link(r.ut, r.ui) : null;
      return {
        id: r.id, created_at: streamDate(r.created_at), created_by: creator === null ? null : { ...creator, status: this.#userStatus(creator) },
        meta: r.meta === null ? {} : JSON.parse(r.meta) as unknown, primary_entity: primary, read: false, update_type: 'create',
      };
    });
    return {
      entity_type: ent.name, entity_id: p.id, updates,
      earliest_update_id: updates.at(-1)?.id ?? null, latest_update_id: updates[0]?.id ?? null,
    };
  }

  #userStatus(l: LinkRef): string | null {
    if (l.type !== 'HumanUser') return 'act';
    const r = this.#store.prepare('SELECT sg_status_list AS s FROM e_HumanUser WHERE id = ?').get(l.id) as { s: string | null } | undefined;
    return r?.s ?? null;
  }
}
