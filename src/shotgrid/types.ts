import type { Dispatcher } from 'undici';
import type { Logger } from 'pino';
import type { Secret } from '../shared/secret.ts';

/** A link to an entity, as the site returns it in entity fields: `{type, id, name?}`. */
export interface EntityLink {
  type: string;
  id: number;
  name?: string;
  [extra: string]: unknown;
}

/**
 * One record read from the site. Fields hold JSON values, with date_time
 * strings turned into `Date` (as shotgun.py _transform_inbound does).
 *
 * @example
 * const shot: EntityRecord | null = await sg.findOne('Shot', [['code', 'is', 'sh010']], ['code']);
 * if (shot) console.log(shot.id, shot['code']);
 */
export interface EntityRecord {
  type: string;
  id: number;
  [field: string]: unknown;
}

/** A value sent to the site: JSON, with `Date` for date_time fields. */
export type FieldValue =
  | string
  | number
  | boolean
  | null
  | Date
  | EntityLink
  | readonly FieldValue[]
  | { readonly [key: string]: FieldValue | undefined };

/**
 * A condition in list form: `[field, relation, ...values]`.
 *
 * @example
 * const f: Filter = ['sg_status_list', 'in', ['ip', 'rev']];
 */
export type Filter = readonly [path: string, relation: string, ...values: FieldValue[]];

/** `'all'`/`'and'` or `'any'`/`'or'`, as the Python client accepts. */
export type FilterOperator = 'all' | 'any' | 'and' | 'or';

/**
 * A nested group of conditions, as the Python client takes it.
 *
 * @example
 * const g: FilterGroup = { filter_operator: 'any', filters: [['code', 'is', 'a'], ['code', 'is', 'b']] };
 */
export interface FilterGroup {
  filter_operator: FilterOperator;
  filters: readonly (Filter | FilterGroup)[];
}

/** The wire form of one condition (shotgun.py _translate_filters_simple). */
export interface WireCondition {
  path: string;
  relation: string;
  values: unknown[];
}

/** The wire form of a group (shotgun.py _translate_filters_dict). */
export interface WireFilterGroup {
  logical_operator: 'and' | 'or';
  conditions: (WireCondition | WireFilterGroup)[];
}

/** Filters as `find` takes them: a list (translated), or a wire-form object sent as is. */
export type Filters = readonly (Filter | FilterGroup)[] | WireFilterGroup | Readonly<Record<string, unknown>>;

export interface OrderItem {
  field_name?: string;
  /** Old name of `field_name`, still accepted by shotgun.py. */
  column?: string;
  direction?: 'asc' | 'desc';
}

export interface FindOptions {
  order?: readonly OrderItem[];
  filterOperator?: FilterOperator;
  /** 0 (default) means all. */
  limit?: number;
  retiredOnly?: boolean;
  /** 0 (default) means every page. */
  page?: number;
  /** Default true; `false` is sent to the site, `true` is not (as shotgun.py). */
  includeArchivedProjects?: boolean;
  additionalFilterPresets?: readonly Record<string, unknown>[];
}

export type FindOneOptions = Omit<FindOptions, 'limit' | 'page'>;

export interface UpdateOptions {
  multiEntityUpdateModes?: Readonly<Record<string, 'set' | 'add' | 'remove'>>;
}

export interface SummaryField {
  field: string;
  type: string;
}

export interface GroupingItem {
  field: string;
  type: string;
  direction?: 'asc' | 'desc';
}

export interface SummarizeOptions {
  filterOperator?: FilterOperator;
  grouping?: readonly GroupingItem[];
  includeArchivedProjects?: boolean;
}

export interface SummaryGroup {
  group_name: unknown;
  group_value: unknown;
  summaries: Record<string, unknown>;
  groups?: SummaryGroup[];
  [extra: string]: unknown;
}

export interface SummarizeResult {
  summaries: Record<string, unknown>;
  groups: SummaryGroup[];
  [extra: string]: unknown;
}

/** One request of `batch`, in the shape the Python client's `batch()` takes. */
export type BatchRequest =
  | {
      request_type: 'create';
      entity_type: string;
      data: Readonly<Record<string, FieldValue | undefined>>;
      return_fields?: readonly string[];
    }
  | {
      request_type: 'update';
      entity_type: string;
      entity_id: number;
      data: Readonly<Record<string, FieldValue | undefined>>;
      multi_entity_update_modes?: Readonly<Record<string, 'set' | 'add' | 'remove'>>;
      /** Legacy request-level mode, copied through as shotgun.py does. */
      multi_entity_update_mode?: string;
    }
  | { request_type: 'delete'; entity_type: string; entity_id: number };

/** A batch answer item: a record for create/update, a boolean for delete. */
export type BatchResult = EntityRecord | boolean;

/**
 * What `info` returns. `version` is always present (the client refuses a
 * site without it, as shotgun.py ServerCapabilities does).
 */
export interface ServerInfo {
  version: (number | string)[];
  full_version?: unknown;
  api_max_entities_per_page?: unknown;
  user_authentication_method?: unknown;
  [key: string]: unknown;
}

/** Schema answers: `{name: {property: {value, editable}}}`. */
export type SchemaResult = Record<string, Record<string, unknown>>;

export type ShotgunAuth =
  | { kind: 'script'; scriptName: string; scriptKey: Secret }
  | { kind: 'session'; sessionToken: Secret }
  | { kind: 'user'; login: string; password: Secret };

export interface ShotgunClientOptions {
  /** Site URL; a path prefix is kept the way shotgun.py keeps it (see apiUrl). */
  baseUrl: string;
  auth: ShotgunAuth;
  sudoAsLogin?: string;
  sessionUuid?: string;
  /** Per HTTP request, default 60_000. */
  timeoutMs?: number;
  /** Extra tries for reads, info, schema and summarize; default 3. Writes never retry. */
  maxRetries?: number;
  /** Backoff base, multiplied by the attempt number; default 750. */
  retryDelayMs?: number;
  /** Share one keep-alive pool between clients; not closed by `close()`. */
  dispatcher?: Dispatcher;
  logger?: Logger;
  /** Told of every failed request attempt, retried or not (the daemon's site-errors count). */
  onRequestError?: (err: unknown) => void;
}

export interface ShotgunViewOptions {
  /** `null` clears it; `undefined` keeps the parent's. */
  sessionUuid?: string | null;
  sudoAsLogin?: string | null;
  /** Aborts this view's requests (and their retries) when it fires; `null` clears the parent's. */
  signal?: AbortSignal | null;
}
