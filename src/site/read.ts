/**
 * `read`: filters, sorts, paging and return fields (protocol.md 1.5).
 * Unknown return fields are answered with null, as python-api's mockgun notes
 * real sites do ("sg returns none for unknown stuff"); Toolkit relies on that when
 * it asks for `plugin_ids` and `sg_plugin_ids` together. `type` and `id` are always
 * present. Dotted return fields follow entity links (`project.Project.name`); through
 * a multi_entity link they give the list of values, as mockgun does. Links to a
 * retired record read null, so an event's `entity` is null once it is retired (SGE).
 */
import { z } from 'zod';
import type { EntityDef, Schema } from './schema.ts';
import { quoteIdent } from './schema.ts';
import type { LinkCache, Row, SiteStore } from './store.ts';
import { FilterCompiler, QueryScope } from './filters.ts';
import { clientFault } from './faults.ts';
import { presetConditions } from './presets.ts';
import type { SqlValue } from './values.ts';

export const readParamsSchema = z.object({
  type: z.string(),
  return_fields: z.array(z.string()).optional(),
  filters: z.unknown().optional(),
  return_only: z.enum(['active', 'retired']).optional(),
  paging: z.object({ entities_per_page: z.number().int().positive().optional(), current_page: z.number().int().positive().optional() }).optional(),
  sorts: z.array(z.object({ field_name: z.string(), direction: z.enum(['asc', 'desc']).optional() })).optional(),
  return_paging_info: z.boolean().optional(),
  return_paging_info_without_counts: z.boolean().optional(),
  include_archived_projects: z.boolean().optional(),
  api_return_image_urls: z.boolean().optional(),
  additional_filter_presets: z.unknown().optional(),
}).passthrough();
export type ReadParams = z.infer<typeof readParamsSchema>;

export interface Query {
  from: string;
  where: string;
  params: SqlValue[];
  scope: QueryScope;
}

/** Builds the FROM/WHERE of a query on `ent` (visibility, retirement, archived projects, filters). */
export function buildQuery(schema: Schema, ent: EntityDef, opts: { filters?: unknown; returnOnly?: 'active' | 'retired'; includeArchived?: boolean }): Query {
  const compiler = new FilterCompiler(schema);
  const scope = new QueryScope();
  const cond = compiler.compile(scope, 't', ent, opts.filters);
  const parts = ['t._hidden = 0', opts.returnOnly === 'retired' ? 't._retired = 1' : 't._retired = 0'];
  if (opts.includeArchived === false) {
    if (ent.name === 'Project') parts.push('t.archived = 0');
    else if (ent.hasProject) parts.push('NOT EXISTS (SELECT 1 FROM e_Project ap WHERE ap.id = t.project__id AND ap.archived = 1)');
  }
  parts.push(cond);
  return { from: `${quoteIdent(ent.table)} t`, where: parts.join(' AND '), params: compiler.params, scope };
}

/** SQL expression to sort by a (possibly dotted, through entity links) field. */
function sortExpr(schema: Schema, scope: QueryScope, alias: string, ent: EntityDef, parts: string[]): string {
  const f = schema.field(ent, parts[0]);
  const st = schema.storage(f);
  if (parts.length === 1) {
    if (st.kind === 'id') return `${alias}.id`;
    if (st.kind === 'column') return `${alias}.${quoteIdent(st.column)}`;
    if (st.kind === 'entity') {
      // Links sort by the linked record's name, as the web UI and API do.
      const types = f.validTypes.length > 0 ? f.validTypes : [...schema.entities.keys()];
      const arms: string[] = [];
      for (const t of types) {
        const te = schema.entities.get(t);
        const df = te?.fields.get(te.displayField);
        const dst = df === undefined ? undefined : schema.storage(df);
        if (te === undefined || dst?.kind !== 'column') continue;
        arms.push(`WHEN '${t}' THEN (SELECT x.${quoteIdent(dst.column)} FROM ${quoteIdent(te.table)} x WHERE x.id = ${alias}.${quoteIdent(st.idColumn)})`);
      }
      return arms.length === 0 ? `${alias}.${quoteIdent(st.idColumn)}` : `(CASE ${alias}.${quoteIdent(st.typeColumn)} ${arms.join(' ')} END)`;
    }
    throw clientFault('SITE_INVALID_SORT', `cannot sort on ${f.dataType} field ${ent.name}.${f.name}`, { entityType: ent.name, field: f.name });
  }
  const target = schema.entity(parts[1]);
  if (st.kind !== 'entity' || parts.length < 3) throw clientFault('SITE_INVALID_SORT', `cannot sort on ${parts.join('.')}`, { entityType: ent.name });
  const j = scope.joinFor(`${alias}.${f.name}.${target.name}`, (a) =>
    `LEFT JOIN ${quoteIdent(target.table)} ${a} ON ${a}.id = ${alias}.${quoteIdent(st.idColumn)} AND ${alias}.${quoteIdent(st.typeColumn)} = '${target.name}' AND ${a}._retired = 0`);
  return sortExpr(schema, scope, j, target, parts.slice(2));
}

export class Reader {
  readonly store: SiteStore;
  readonly maxPerPage: number;

  constructor(store: SiteStore, maxPerPage: number) {
    this.store = store;
    this.maxPerPage = maxPerPage;
  }

  read(p: ReadParams): { entities: Record<string, unknown>[]; paging_info?: Record<string, unknown> } {
    const schema = this.store.schema;
    const ent = schema.entity(p.type);
    const q = buildQuery(schema, ent, { filters: p.filters, returnOnly: p.return_only, includeArchived: p.include_archived_projects });
    for (const c of presetConditions(ent, p.additional_filter_presets, { from: q.from, joins: q.scope.joins.join(' '), where: q.where, params: q.params })) {
      q.where += ` AND ${c.sql}`;
      q.params.push(...c.params);
    }
    const order: string[] = [];
    for (const s of p.sorts ?? []) order.push(`${sortExpr(schema, q.scope, 't', ent, s.field_name.split('.'))} ${s.direction === 'desc' ? 'DESC' : 'ASC'}`);
    order.push('t.id ASC');
    const perPage = Math.min(p.paging?.entities_per_page ?? this.maxPerPage, this.maxPerPage);
    const page = p.paging?.current_page ?? 1;
    const extra = p.return_paging_info_without_counts === true ? 1 : 0;
    const joins = q.scope.joins.join(' ');
    const fields = p.return_fields ?? ['id'];
    const sql = `SELECT ${this.#columns(ent, fields)} FROM ${q.from} ${joins} WHERE ${q.where} ORDER BY ${order.join(', ')} LIMIT ? OFFSET ?`;
    const rows = this.store.prepare(sql).all(...q.params, perPage + extra, (page - 1) * perPage) as Row[];
    const hasNext = rows.length > perPage;
    if (hasNext) rows.pop();
    const cache: LinkCache = new Map();
    const paths = fields.filter((n) => n !== 'type' && n !== 'id').map((n) => ({ name: n, parts: n.split('.'), field: ent.fields.get(n) }));
    const refs: Array<{ type: string; id: number }> = [];
    for (const p of paths) {
      const st = p.field !== undefined && p.parts.length === 1 ? schema.storage(p.field) : undefined;
      if (st?.kind !== 'entity') continue;
      for (const r of rows) {
        const t = r[st.typeColumn];
        const i = r[st.idColumn];
        if (typeof t === 'string' && typeof i === 'number') refs.push({ type: t, id: i });
      }
    }
    this.store.prefetchLinks(refs, cache);
    const entities = rows.map((r) => {
      const out: Record<string, unknown> = { type: ent.name, id: r.id };
      for (const p of paths) {
        out[p.name] = p.parts.length === 1 ? (p.field === undefined ? null : this.store.value(r, p.field, cache)) : this.#fieldValue(ent, r, p.parts, cache);
      }
      return out;
    });
    if (p.return_paging_info_without_counts === true) return { entities, paging_info: { has_next_page: hasNext } };
    if (p.return_paging_info === true) {
      const c = this.store.prepare(`SELECT COUNT(*) AS n FROM ${q.from} ${joins} WHERE ${q.where}`).get(...q.params) as { n: number };
      return { entities, paging_info: { entity_count: c.n, current_page: page, page_count: Math.ceil(c.n / perPage) } };
    }
    return { entities };
  }

  /** The columns the asked fields are made from: a page of events reads only those. */
  #columns(ent: EntityDef, fields: readonly string[]): string {
    const cols = new Set<string>(['id']);
    for (const name of fields) {
      const f = ent.fields.get(name.split('.')[0] ?? '');
      if (f === undefined) continue;
      const st = this.store.schema.storage(f);
      if (st.kind === 'column') cols.add(st.column);
      else if (st.kind === 'entity') {
        cols.add(st.typeColumn);
        cols.add(st.idColumn);
      }
    }
    return [...cols].map((c) => `t.${quoteIdent(c)}`).join(', ');
  }

  /** A record of `ent` with the asked fields; `type` and `id` always. */
  record(ent: EntityDef, row: Row, fields: readonly string[], cache: LinkCache = new Map()): Record<string, unknown> {
    const out: Record<string, unknown> = { type: ent.name, id: row.id };
    for (const name of fields) {
      if (name === 'type' || name === 'id') continue;
      out[name] = this.#fieldValue(ent, row, name.split('.'), cache);
    }
    return out;
  }

  #fieldValue(ent: EntityDef, row: Row, parts: string[], cache: LinkCache): unknown {
    const f = ent.fields.get(parts[0]!);
    if (f === undefined) return null;
    if (parts.length === 1) return this.store.value(row, f, cache);
    if (parts.length < 3) return null;
    const target = this.store.schema.entities.get(parts[1]!);
    if (target === undefined) return null;
    const v = this.store.value(row, f, cache);
    const follow = (l: { type: string; id: number } | null): unknown => {
      if (l === null || l.type !== target.name) return null;
      const r = this.store.row(target, l.id);
      return r === undefined ? null : this.#fieldValue(target, r, parts.slice(2), cache);
    };
    if (Array.isArray(v)) return (v as Array<{ type: string; id: number }>).filter((l) => l.type === target.name).map(follow);
    return follow(v as { type: string; id: number } | null);
  }
}
