/**
 * `text_search` (wire `query_display_name_cache`) and `note_thread_read` (wire
 * `note_thread_contents`), in the shapes of python-api's `Shotgun.text_search`
 * and `Shotgun.note_thread_read` (protocol.md 6.1).
 *
 * Text search matches the display name of each asked type: every lower-cased
 * word of the text must appear in it; each type's own filters and `project_ids`
 * narrow it; matches come grouped in the order the types were given, at most
 * `max_results` in all.
 */
import { z } from 'zod';
import type { SiteStore } from './store.ts';
import { buildQuery, type Reader } from './read.ts';
import { quoteIdent } from './schema.ts';
import { clientFault } from './faults.ts';
import type { Row } from './store.ts';

export const textSearchParamsSchema = z.object({
  text: z.string(),
  entity_types: z.record(z.string(), z.unknown()),
  project_ids: z.array(z.number().int()).nullish(),
  max_results: z.number().int().positive().nullish(),
}).passthrough();

export const noteThreadParamsSchema = z.object({
  note_id: z.number().int(),
  entity_fields: z.record(z.string(), z.array(z.string())).nullish(),
}).passthrough();

export function textSearch(store: SiteStore, p: z.infer<typeof textSearchParamsSchema>): Record<string, unknown> {
  const terms = p.text.toLowerCase().split(/\s+/).filter((t) => t.length > 0);
  if (p.text.trim().length < 3) throw clientFault('SITE_INVALID_PARAMS', 'text_search needs at least 3 characters', { method: 'text_search' });
  const matches: Array<Record<string, unknown>> = [];
  const limit = p.max_results ?? Number.MAX_SAFE_INTEGER;
  for (const [type, filters] of Object.entries(p.entity_types)) {
    if (matches.length >= limit) break;
    const ent = store.schema.entity(type);
    const df = ent.fields.get(ent.displayField);
    const st = df === undefined ? undefined : store.schema.storage(df);
    if (st?.kind !== 'column') continue;
    const q = buildQuery(store.schema, ent, { filters });
    const col = `t.${quoteIdent(st.column)}`;
    const parts = [q.where, ...terms.map(() => `instr(lower(${col}), ?) > 0`)];
    const params = [...q.params, ...terms];
    if (ent.hasProject && p.project_ids !== undefined && p.project_ids !== null && p.project_ids.length > 0) {
      parts.push(`t.project__id IN (${p.project_ids.map(() => '?').join(', ')})`);
      params.push(...p.project_ids);
    }
    const rows = store.prepare(`SELECT t.* FROM ${q.from} ${q.scope.joins.join(' ')} WHERE ${parts.join(' AND ')} ORDER BY t.id LIMIT ?`)
      .all(...params, limit - matches.length) as Row[];
    for (const r of rows) matches.push(match(store, ent.name, r, st.column));
  }
  return { matches, terms };
}

function match(store: SiteStore, type: string, r: Row, nameColumn: string): Record<string, unknown> {
  const ent = store.schema.entity(type);
  let links: [string, string] = ['', ''];
  const link = ent.fields.get('entity');
  if (link !== undefined && link.dataType === 'entity') {
    const l = store.value(r, link) as { type: string; name: string | null } | null;
    if (l !== null) links = [l.type, l.name ?? ''];
  }
  const image = ent.fields.has('image') ? r.image ?? null : null;
  return {
    id: r.id, type, name: r[nameColumn] ?? null, project_id: typeof r.project__id === 'number' ? r.project__id : null,
    image, links, status: typeof r.sg_status_list === 'string' ? r.sg_status_list : null,
  };
}

const THREAD_DEFAULTS: Record<string, string[]> = {
  Note: ['content', 'created_at', 'created_by'],
  Reply: ['content', 'created_at', 'user'],
  Attachment: ['created_at', 'created_by'],
};

/** The Note, then its Replies and Attachments by creation, each as a find_one of its fields would give it. */
export function noteThread(store: SiteStore, reader: Reader, p: z.infer<typeof noteThreadParamsSchema>): Array<Record<string, unknown>> {
  const noteEnt = store.schema.entity('Note');
  const note = store.activeRow(noteEnt, p.note_id);
  const fieldsOf = (type: string) => [...new Set([...(THREAD_DEFAULTS[type] ?? []), ...(p.entity_fields?.[type] ?? [])])];
  const out: Array<{ at: string; rec: Record<string, unknown> }> = [];
  const head = reader.record(noteEnt, note, fieldsOf('Note'));
  const replyEnt = store.schema.entities.get('Reply');
  if (replyEnt !== undefined) {
    const rows = store.prepare("SELECT * FROM e_Reply WHERE entity__type = 'Note' AND entity__id = ? AND _retired = 0 AND _hidden = 0 ORDER BY id").all(note.id) as Row[];
    for (const r of rows) {
      const rec = reader.record(replyEnt, r, fieldsOf('Reply'));
      const user = rec.user as Record<string, unknown> | null;
      // The thread adds the user's thumbnail to the reply's user.
      if (user !== null && typeof user === 'object') {
        const uEnt = store.schema.entities.get(String(user.type));
        const uRow = uEnt === undefined ? undefined : store.row(uEnt, Number(user.id));
        rec.user = { ...user, image: uRow?.image ?? null };
      }
      out.push({ at: String(r.created_at), rec });
    }
  }
  const attEnt = store.schema.entities.get('Attachment');
  const attLinks = attEnt?.fields.get('attachment_links');
  if (attEnt !== undefined && attLinks !== undefined) {
    const rows = store.prepare(`SELECT a.* FROM e_Attachment a JOIN links l ON l.src_type = 'Attachment' AND l.field = 'attachment_links' AND l.src_id = a.id
      WHERE l.dst_type = 'Note' AND l.dst_id = ? AND a._retired = 0 AND a._hidden = 0 ORDER BY a.id`).all(note.id) as Row[];
    for (const r of rows) out.push({ at: String(r.created_at), rec: reader.record(attEnt, r, fieldsOf('Attachment')) });
  }
  out.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  return [head, ...out.map((o) => o.rec)];
}
