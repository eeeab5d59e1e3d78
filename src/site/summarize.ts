/**
 * `summarize` (protocol.md 1.8; python-api `Shotgun.summarize` docstring): totals of
 * the filtered records and, with `grouping`, nested groups `{group_name, group_value,
 * summaries, groups?}`. Computed over the matching rows in memory, which is fine at the
 * sizes a local site holds.
 */
import { z } from 'zod';
import type { EntityDef, FieldDef } from './schema.ts';
import type { LinkCache, Row, SiteStore, EntityLink } from './store.ts';
import { buildQuery } from './read.ts';
import { clientFault } from './faults.ts';

export const summarizeParamsSchema = z.object({
  type: z.string(),
  filters: z.unknown().optional(),
  summaries: z.array(z.object({ field: z.string(), type: z.string(), value: z.unknown().optional() }).passthrough()),
  grouping: z.array(z.object({ field: z.string(), type: z.string().optional(), direction: z.enum(['asc', 'desc']).optional() })).optional(),
  include_archived_projects: z.boolean().optional(),
}).passthrough();
export type SummarizeParams = z.infer<typeof summarizeParamsSchema>;

const SUMMARY_TYPES = new Set(['record_count', 'count', 'sum', 'maximum', 'minimum', 'average', 'earliest', 'latest',
  'percentage', 'status_percentage', 'status_list', 'checked', 'unchecked']);
const BUCKETS: Record<string, number> = { tens: 10, hundreds: 100, thousands: 1000, tensofthousands: 1e4, hundredsofthousands: 1e5, millions: 1e6 };

interface Group {
  group_name: string;
  group_value: unknown;
  summaries: Record<string, unknown>;
  groups?: Group[];
}

export function summarize(store: SiteStore, p: SummarizeParams): { summaries: Record<string, unknown>; groups: Group[] } {
  const schema = store.schema;
  const ent = schema.entity(p.type);
  for (const s of p.summaries) {
    if (!SUMMARY_TYPES.has(s.type)) throw clientFault('SITE_INVALID_SUMMARY', `unknown summary type ${s.type}`, { type: s.type });
    schema.field(ent, s.field);
  }
  const grouping = (p.grouping ?? []).map((g) => ({ field: schema.field(ent, g.field), type: g.type ?? 'exact', direction: g.direction ?? 'asc' }));
  const q = buildQuery(schema, ent, { filters: p.filters, includeArchived: p.include_archived_projects });
  const rows = store.db.prepare(`SELECT t.* FROM ${q.from} ${q.scope.joins.join(' ')} WHERE ${q.where} ORDER BY t.id`).all(...q.params) as Row[];
  const cache: LinkCache = new Map();
  const totals = summaries(store, ent, rows, p.summaries, cache);
  return { summaries: totals, groups: groupRows(store, ent, rows, p.summaries, grouping, cache) };
}

function summaries(store: SiteStore, ent: EntityDef, rows: Row[], specs: SummarizeParams['summaries'], cache: LinkCache): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of specs) {
    const f = ent.fields.get(s.field)!;
    const values = rows.map((r) => store.value(r, f, cache));
    const present = values.filter((v) => v !== null && v !== undefined && !(Array.isArray(v) && v.length === 0));
    const nums = present.filter((v): v is number => typeof v === 'number');
    const strs = present.map((v) => String(v)).sort();
    const pct = (n: number) => (rows.length === 0 ? 0 : Math.round((n / rows.length) * 100));
    switch (s.type) {
      case 'record_count': out[s.field] = rows.length; break;
      case 'count': out[s.field] = present.length; break;
      case 'sum': out[s.field] = nums.reduce((a, b) => a + b, 0); break;
      case 'maximum': out[s.field] = nums.length === 0 ? null : Math.max(...nums); break;
      case 'minimum': out[s.field] = nums.length === 0 ? null : Math.min(...nums); break;
      case 'average': out[s.field] = nums.length === 0 ? null : nums.reduce((a, b) => a + b, 0) / nums.length; break;
      case 'earliest': out[s.field] = strs[0] ?? null; break;
      case 'latest': out[s.field] = strs.at(-1) ?? null; break;
      case 'checked': out[s.field] = values.filter((v) => v === true).length; break;
      case 'unchecked': out[s.field] = values.filter((v) => v !== true).length; break;
      case 'percentage': case 'status_percentage':
        out[s.field] = pct(values.filter((v) => (s.value === undefined ? v === true : v === s.value)).length);
        break;
      case 'status_list': {
        const counts: Record<string, number> = {};
        for (const v of present) {
          const k = typeof v === 'string' ? v : JSON.stringify(v);
          counts[k] = (counts[k] ?? 0) + 1;
        }
        out[s.field] = counts;
        break;
      }
    }
  }
  return out;
}

function groupKey(f: FieldDef, type: string, v: unknown): { name: string; value: unknown; key: string } {
  if (v === null || v === undefined) return { name: '', value: null, key: '\u0000null' };
  if (typeof v === 'object' && !Array.isArray(v)) {
    const l = v as EntityLink;
    if (type === 'entitytype') return { name: l.type, value: l.type, key: l.type };
    return { name: l.name ?? '', value: l, key: `${l.type}:${l.id}` };
  }
  if (typeof v === 'number' && BUCKETS[type] !== undefined) {
    const b = Math.floor(v / BUCKETS[type]) * BUCKETS[type];
    return { name: String(b), value: b, key: String(b) };
  }
  if (typeof v === 'string' && (f.dataType === 'date' || f.dataType === 'date_time')) {
    const cut = type === 'year' ? 4 : type === 'month' ? 7 : type === 'day' ? 10 : undefined;
    if (cut !== undefined) return { name: v.slice(0, cut), value: v.slice(0, cut), key: v.slice(0, cut) };
  }
  if (typeof v === 'string' && type === 'firstletter') {
    const c = v.slice(0, 1).toUpperCase();
    return { name: c, value: c, key: c };
  }
  const name = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
  return { name, value: v, key: JSON.stringify(v) };
}

function groupRows(store: SiteStore, ent: EntityDef, rows: Row[], specs: SummarizeParams['summaries'],
  grouping: Array<{ field: FieldDef; type: string; direction: 'asc' | 'desc' }>, cache: LinkCache): Group[] {
  const [g, ...rest] = grouping;
  if (g === undefined) return [];
  const buckets = new Map<string, { name: string; value: unknown; rows: Row[] }>();
  for (const r of rows) {
    const v = store.value(r, g.field, cache);
    const keys = Array.isArray(v) ? (v.length === 0 ? [null] : v) : [v];
    for (const one of keys) {
      const k = groupKey(g.field, g.type, one);
      let b = buckets.get(k.key);
      if (b === undefined) buckets.set(k.key, (b = { name: k.name, value: k.value, rows: [] }));
      b.rows.push(r);
    }
  }
  const list = [...buckets.values()].sort((a, b) => {
    const av = typeof a.value === 'number' && typeof b.value === 'number' ? a.value - b.value : a.name.localeCompare(b.name);
    return g.direction === 'desc' ? -av : av;
  });
  return list.map((b) => {
    const out: Group = { group_name: b.name, group_value: b.value, summaries: summaries(store, ent, b.rows, specs, cache) };
    if (rest.length > 0) out.groups = groupRows(store, ent, b.rows, specs, rest, cache);
    return out;
  });
}
