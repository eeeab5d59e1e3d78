// Method params, built as shotgun.py builds them (v3.10.0). Pure functions:
// no I/O, so every shape here is checked by the wire-parity test.
import { atLeast, ensureSupport, type ServerCaps } from './caps.ts';
import { ShotgunClientError } from './errors.ts';
import { optimizeEntityValue, translateFilters } from './filters.ts';
import type { BatchRequest, Filter, FilterGroup, Filters, FindOptions, SummarizeOptions, SummaryField } from './types.ts';

export type Params = Record<string, unknown>;

// shotgun.py _dict_to_list, with extra_data merged per field. Keys whose value
// is `undefined` are left out (JSON has no undefined).
export function dictToList(
  data: Readonly<Record<string, unknown>>,
  extra: Readonly<Record<string, Params>> = {},
): Params[] {
  return Object.entries(data)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ({ field_name: k, value: v, ...extra[k] }));
}

// shotgun.py _dict_to_extra_data(modes, "multi_entity_update_mode").
function modesToExtra(modes: Readonly<Record<string, string>> | undefined): Record<string, Params> {
  const out: Record<string, Params> = {};
  for (const [k, v] of Object.entries(modes ?? {})) out[k] = { multi_entity_update_mode: v };
  return out;
}

export function checkCount(name: string, v: number | undefined): number {
  const n = v ?? 0;
  if (!Number.isInteger(n) || n < 0) {
    throw new ShotgunClientError('SG_INVALID_ARGUMENT', `${name} must be a non-negative integer`, { [name]: v });
  }
  return n;
}

function wireFilters(filters: Filters, filterOperator: string | undefined): unknown {
  return Array.isArray(filters)
    ? translateFilters(filters as readonly (Filter | FilterGroup)[], filterOperator)
    : filters;
}

/**
 * The `read` params of find, before paging decisions: shotgun.py find's
 * argument checks and version gates, then _construct_read_parameters, then
 * api_return_image_urls (>= 3.3.0).
 */
export function readParams(
  caps: ServerCaps,
  entityType: string,
  filters: Filters,
  fields: readonly string[] | undefined,
  options: FindOptions,
): Params & { paging: { entities_per_page: number; current_page: number } } {
  // A wire-form object with a filter operator is refused, as shotgun.py find does.
  if (!Array.isArray(filters) && options.filterOperator) {
    throw new ShotgunClientError('SG_INVALID_ARGUMENT', 'filterOperator is not valid with wire-form filters');
  }
  const translated = wireFilters(filters, options.filterOperator);
  const includeArchived = options.includeArchivedProjects ?? true;
  if (!includeArchived) ensureSupport(caps, [5, 3, 14], 'include_archived_projects parameter');
  const presets = options.additionalFilterPresets;
  if (presets && presets.length > 0) ensureSupport(caps, [7, 0, 0], 'additional_filter_presets parameter');

  const params: Params & { paging: { entities_per_page: number; current_page: number } } = {
    type: entityType,
    return_fields: fields && fields.length > 0 ? [...fields] : ['id'],
    filters: translated,
    return_only: options.retiredOnly ? 'retired' : 'active',
    paging: { entities_per_page: caps.recordsPerPage, current_page: 1 },
  };
  if (presets && presets.length > 0) params['additional_filter_presets'] = presets;
  // Defaults to true on the site, so only false is sent.
  if (!includeArchived) params['include_archived_projects'] = false;
  if (options.order && options.order.length > 0) {
    params['sorts'] = options.order.map((o, index) => {
      const field = o.column ?? o.field_name;
      if (typeof field !== 'string' || field === '') {
        throw new ShotgunClientError('SG_INVALID_ARGUMENT', 'each order item needs a field_name', { index });
      }
      return { field_name: field, direction: o.direction ?? 'asc' };
    });
  }
  if (atLeast(caps.version, [3, 3, 0])) params['api_return_image_urls'] = true;
  return params;
}

// shotgun.py create/update pop `image` and `filmstrip_image` from the data and
// upload them as files when set. This client has no upload: a set value is
// refused, an empty one dropped as shotgun.py drops it, except that update
// sends `image: None` on (it clears the thumbnail).
function withoutThumbnails(data: Readonly<Record<string, unknown>>, keepNullImage: boolean): Record<string, unknown> {
  const out = { ...data };
  for (const key of ['image', 'filmstrip_image']) {
    if (!(key in out)) continue;
    const v = out[key];
    if (v !== null && v !== undefined) {
      throw new ShotgunClientError('SG_NOT_IMPLEMENTED', 'thumbnail upload is not supported by this client', { field: key });
    }
    if (!(key === 'image' && keepNullImage)) delete out[key];
  }
  return out;
}

/** shotgun.py create. */
export function createParams(
  entityType: string,
  data: Readonly<Record<string, unknown>>,
  returnFields: readonly string[] | undefined,
): Params {
  return {
    type: entityType,
    fields: dictToList(withoutThumbnails(data, false)),
    return_fields: returnFields && returnFields.length > 0 ? [...returnFields] : ['id'],
  };
}

/**
 * shotgun.py update/_translate_update_params: every value of each field dict
 * trimmed with _optimize_filter_field. Undefined when there is nothing to
 * send (shotgun.py then answers without a call). `image: null` clears it.
 */
export function updateParams(
  entityType: string,
  entityId: number,
  data: Readonly<Record<string, unknown>>,
  modes: Readonly<Record<string, string>> | undefined,
): Params | undefined {
  const fields = dictToList(withoutThumbnails(data, true), modesToExtra(modes));
  if (fields.length === 0) return undefined;
  return {
    type: entityType,
    id: entityId,
    fields: fields.map((f) => Object.fromEntries(Object.entries(f).map(([k, v]) => [k, optimizeEntityValue(v)]))),
  };
}

/** shotgun.py batch: the list of request dicts (no entity trimming there). */
export function batchCalls(requests: readonly BatchRequest[]): Params[] {
  return requests.map((req, index) => {
    const r = req as unknown as Record<string, unknown>;
    const need = (keys: string[]) => {
      const missing = keys.filter((k) => !(k in r));
      if (missing.length > 0) {
        throw new ShotgunClientError('SG_INVALID_ARGUMENT', 'batched request is missing required keys', { index, missing });
      }
    };
    need(['request_type', 'entity_type']);
    const out: Params = { request_type: req.request_type, type: req.entity_type };
    if (req.request_type === 'create') {
      need(['data']);
      out['fields'] = dictToList(req.data);
      out['return_fields'] = req.return_fields && req.return_fields.length > 0 ? [...req.return_fields] : ['id'];
    } else if (req.request_type === 'update') {
      need(['entity_id', 'data']);
      out['id'] = req.entity_id;
      out['fields'] = dictToList(req.data, modesToExtra(req.multi_entity_update_modes));
      if ('multi_entity_update_mode' in req) out['multi_entity_update_mode'] = req.multi_entity_update_mode;
    } else if (req.request_type === 'delete') {
      need(['entity_id']);
      out['id'] = req.entity_id;
    } else {
      throw new ShotgunClientError('SG_INVALID_ARGUMENT', 'invalid request_type for batch', {
        index,
        requestType: r['request_type'],
      });
    }
    return out;
  });
}

/** shotgun.py summarize. */
export function summarizeParams(
  caps: ServerCaps,
  entityType: string,
  filters: Filters,
  summaryFields: readonly SummaryField[],
  options: SummarizeOptions,
): Params {
  if (options.grouping !== undefined && !Array.isArray(options.grouping)) {
    throw new ShotgunClientError('SG_INVALID_ARGUMENT', 'grouping must be a list');
  }
  const translated = wireFilters(filters, options.filterOperator);
  const includeArchived = options.includeArchivedProjects ?? true;
  if (!includeArchived) ensureSupport(caps, [5, 3, 14], 'include_archived_projects parameter');
  const params: Params = { type: entityType, summaries: summaryFields, filters: translated };
  if (!includeArchived) params['include_archived_projects'] = false;
  if (options.grouping !== undefined) params['grouping'] = options.grouping;
  return params;
}

/** shotgun.py _add_project_param: `project` on schema calls, needs 5.4.4. */
export function withProject(caps: ServerCaps, params: Params, project: Readonly<Params> | undefined): Params {
  if (project) {
    ensureSupport(caps, [5, 4, 4], 'project parameter');
    params['project'] = project;
  }
  return params;
}
