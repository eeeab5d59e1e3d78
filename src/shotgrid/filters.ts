import { ShotgunClientError } from './errors.ts';
import type { Filter, FilterGroup, WireCondition, WireFilterGroup } from './types.ts';
import { isPlainObject } from './values.ts';

// Keys an entity dict keeps when sent in a filter or an update
// (shotgun.py _optimize_filter_field, allowed_keys).
const ENTITY_KEYS = ['id', 'type', 'url', 'name', 'content_type', 'local_path', 'storage', 'relative_path'] as const;

// Relations whose entity values get trimmed (shotgun.py _translate_filters_simple).
const TRIMMED_RELATIONS = new Set(['is', 'is_not', 'in', 'not_in']);

/**
 * Trims an entity dict to the keys the site needs; a list is trimmed item by
 * item, one level deep. Anything else comes back unchanged.
 * As shotgun.py _optimize_filter_field (recursive=True at the top only).
 */
export function optimizeEntityValue(value: unknown, recursive = true): unknown {
  if (isPlainObject(value) && 'id' in value && 'type' in value) {
    const out: Record<string, unknown> = {};
    for (const k of ENTITY_KEYS) if (k in value) out[k] = value[k];
    return out;
  }
  if (recursive && Array.isArray(value)) return value.map((v) => optimizeEntityValue(v, false));
  return value;
}

/** Top level: wraps the list in a group (shotgun.py _translate_filters). */
export function translateFilters(filters: readonly (Filter | FilterGroup)[], filterOperator?: string): WireFilterGroup {
  return translateFilterGroup({ filter_operator: filterOperator || 'all', filters });
}

// As shotgun.py _translate_filters_dict.
function translateFilterGroup(group: { filter_operator?: unknown; filters?: unknown }): WireFilterGroup {
  const op = group.filter_operator;
  let logical: 'and' | 'or';
  if (op === 'all' || op === 'and') logical = 'and';
  else if (op === 'any' || op === 'or') logical = 'or';
  else throw new ShotgunClientError('SG_INVALID_ARGUMENT', 'invalid filter_operator', { filterOperator: op });
  if (!Array.isArray(group.filters)) {
    throw new ShotgunClientError('SG_INVALID_ARGUMENT', 'invalid filters, expected a list');
  }
  return { logical_operator: logical, conditions: translateFilterList(group.filters as unknown[]) };
}

// As shotgun.py _translate_filters_list.
function translateFilterList(filters: readonly unknown[]): (WireCondition | WireFilterGroup)[] {
  return filters.map((f) => {
    if (Array.isArray(f)) return translateSimpleFilter(f);
    if (isPlainObject(f)) return translateFilterGroup(f);
    throw new ShotgunClientError('SG_INVALID_ARGUMENT', 'invalid filters, expected a list or a group');
  });
}

// As shotgun.py _translate_filters_simple.
function translateSimpleFilter(filter: readonly unknown[]): WireCondition {
  const [path, relation] = filter;
  if (typeof path !== 'string' || typeof relation !== 'string') {
    throw new ShotgunClientError('SG_INVALID_ARGUMENT', 'a filter starts with a field path and a relation');
  }
  let values: unknown[] = filter.slice(2);
  // A single list value is the value list itself: ['id', 'in', [1, 2]].
  if (values.length === 1 && Array.isArray(values[0])) values = [...(values[0] as unknown[])];
  // Entity values are trimmed to type/id/..., except on `id` paths.
  if (path !== 'id' && TRIMMED_RELATIONS.has(relation) && isPlainObject(values[0])) {
    values = values.map((v) => optimizeEntityValue(v));
  }
  return { path, relation, values };
}
