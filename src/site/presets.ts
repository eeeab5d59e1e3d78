/**
 * `additional_filter_presets` of `read` (python-api docs/reference.rst "Additional
 * Filter Presets"): named filters ANDed with the query's own filters.
 *
 * - Version `LATEST`, `latest_by: ENTITIES_CREATED_AT`: of the Versions the filters
 *   match, the newest (created_at, then id) per linked `entity`;
 *   `BY_PIPELINE_STEP_NUMBER_AND_ENTITIES_CREATED_AT`: per entity, those of the Task
 *   whose step has the highest `list_order`, then the newest.
 * - Version `CUT_SHOT_VERSIONS`, `cut_id`: the Versions linked to a Shot that a
 *   CutItem of that Cut points to.
 * - Cut `LATEST`, `latest_by: REVISION_NUMBER`: of the Cuts the filters match, those
 *   with the highest revision_number.
 * - PublishedFile `LATEST`, `ENTITIES_CREATED_AT` (newest per entity) or
 *   `VERSION_NUMBER` (highest version_number per entity).
 *
 * "Latest" is taken among the records the other filters match, so a query by id
 * keeps that record. Anything else (not a list, an item without `preset_name`,
 * an unknown preset or parameter, two presets of one name) is a fault: a preset
 * that is ignored would silently return the wrong records.
 */
import type { EntityDef } from './schema.ts';
import { clientFault } from './faults.ts';
import type { SqlValue } from './values.ts';

/** The query a preset narrows: its FROM, joins, WHERE and their parameters. */
export interface PresetQuery {
  from: string;
  joins: string;
  where: string;
  params: readonly SqlValue[];
}

export interface PresetCondition {
  sql: string;
  params: SqlValue[];
}

function bad(message: string, details: Record<string, unknown> = {}): never {
  throw clientFault('SITE_INVALID_FILTER_PRESET', message, details);
}

/** A row_number() window over the filtered query: keep rank 1 of each partition. */
function latest(q: PresetQuery, partition: string, order: string, rank: 'ROW_NUMBER' | 'RANK' = 'ROW_NUMBER'): PresetCondition {
  const inner = `SELECT t.id AS id, ${rank}() OVER (PARTITION BY ${partition} ORDER BY ${order}) AS rn FROM ${q.from} ${q.joins} WHERE ${q.where}`;
  return { sql: `t.id IN (SELECT id FROM (${inner}) WHERE rn = 1)`, params: [...q.params] };
}

/** Each linked entity is its own group; records without one stand alone. */
const BY_ENTITY = "COALESCE(t.entity__type || ':' || t.entity__id, 'self:' || t.id)";

const LATEST_BY: Record<string, Record<string, (q: PresetQuery) => PresetCondition>> = {
  Version: {
    ENTITIES_CREATED_AT: (q) => latest(q, BY_ENTITY, 't.created_at DESC, t.id DESC'),
    BY_PIPELINE_STEP_NUMBER_AND_ENTITIES_CREATED_AT: (q) => latest(q, BY_ENTITY,
      '(SELECT s.list_order FROM e_Task k JOIN e_Step s ON s.id = k.step__id WHERE k.id = t.sg_task__id) DESC NULLS LAST, t.created_at DESC, t.id DESC'),
  },
  Cut: {
    REVISION_NUMBER: (q) => latest(q, '1', 't.revision_number DESC NULLS LAST', 'RANK'),
  },
  PublishedFile: {
    ENTITIES_CREATED_AT: (q) => latest(q, BY_ENTITY, 't.created_at DESC, t.id DESC'),
    VERSION_NUMBER: (q) => latest(q, BY_ENTITY, 't.version_number DESC NULLS LAST, t.id DESC'),
  },
};

/** SQL conditions for the presets of a read on `ent`; [] when none are given. */
export function presetConditions(ent: EntityDef, raw: unknown, q: PresetQuery): PresetCondition[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) bad('additional_filter_presets must be a list of presets', { received: typeof raw });
  const seen = new Set<string>();
  const out: PresetCondition[] = [];
  for (const item of raw as unknown[]) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) bad('each filter preset must be a dictionary', {});
    const p = item as Record<string, unknown>;
    const name = p.preset_name;
    if (typeof name !== 'string') bad('a filter preset needs a preset_name', {});
    if (seen.has(name)) bad(`filter preset ${name} given more than once`, { preset: name });
    seen.add(name);
    if (name === 'LATEST') {
      const by = LATEST_BY[ent.name];
      if (by === undefined) bad(`filter preset LATEST is not available on ${ent.name}`, { preset: name, entityType: ent.name });
      const make = typeof p.latest_by === 'string' ? by[p.latest_by] : undefined;
      if (make === undefined) bad(`filter preset LATEST on ${ent.name}: latest_by must be one of ${Object.keys(by).join(', ')}`, { preset: name, entityType: ent.name, latestBy: p.latest_by });
      out.push(make(q));
    } else if (name === 'CUT_SHOT_VERSIONS' && ent.name === 'Version') {
      const cutId = p.cut_id;
      if (typeof cutId !== 'number' || !Number.isInteger(cutId)) bad('filter preset CUT_SHOT_VERSIONS needs an integer cut_id', { preset: name });
      out.push({
        sql: `(t.entity__type = 'Shot' AND t.entity__id IN (SELECT ci.shot__id FROM e_CutItem ci JOIN e_Cut c ON c.id = ci.cut__id AND c._retired = 0 WHERE ci.cut__id = ? AND ci._retired = 0 AND ci._hidden = 0))`,
        params: [cutId],
      });
    } else {
      bad(`unknown filter preset ${name} for ${ent.name}`, { preset: name, entityType: ent.name });
    }
  }
  return out;
}
