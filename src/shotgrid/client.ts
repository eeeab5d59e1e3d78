import { inspect } from 'node:util';
import { Agent, type Dispatcher } from 'undici';
import type { Logger } from 'pino';
import { Secret } from '../shared/secret.ts';
import { ShotgunClientError, ShotgunTransportError } from './errors.ts';
import { optimizeEntityValue, translateFilters } from './filters.ts';
import { RpcTransport, apiUrl } from './transport.ts';
import { parseRecords, transformInbound, transformOutbound } from './values.ts';
import {
  BatchResults,
  BoolResult,
  InfoBody,
  ReadResults,
  RecordBody,
  SchemaBody,
  SessionTokenBody,
  SummarizeBody,
} from './wire.ts';
import type {
  BatchRequest,
  BatchResult,
  EntityRecord,
  FieldValue,
  Filters,
  FindOneOptions,
  FindOptions,
  SchemaResult,
  ServerInfo,
  ShotgunAuth,
  ShotgunClientOptions,
  ShotgunViewOptions,
  SummarizeOptions,
  SummarizeResult,
  SummaryField,
  UpdateOptions,
} from './types.ts';
import type { z } from 'zod';

type Version = readonly [number, number, number];

interface ServerCaps {
  info: ServerInfo;
  version: Version;
  /** shotgun.py _Config.records_per_page: api_max_entities_per_page or 500. */
  recordsPerPage: number;
}

/** What a client and all its `withOptions` views share. */
interface Shared {
  transport: RpcTransport;
  auth: ShotgunAuth;
  ownsDispatcher: boolean;
  caps: Promise<ServerCaps> | undefined;
  sessionToken: Secret | undefined;
  closed: boolean;
  logger: Logger | undefined;
}

function atLeast(v: Version, min: Version): boolean {
  for (let i = 0; i < 3; i++) {
    if (v[i]! !== min[i]!) return v[i]! > min[i]!;
  }
  return true;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

// Python's truthiness for the params of _build_payload: None, {} and [] are left out.
function isFalsyParams(p: unknown): boolean {
  if (p === null || p === undefined) return true;
  if (Array.isArray(p)) return p.length === 0;
  if (isPlainObject(p)) return Object.keys(p).length === 0;
  return !p;
}

// shotgun.py _dict_to_list, with extra_data merged per field.
function dictToList(
  data: Readonly<Record<string, unknown>>,
  extra: Readonly<Record<string, Record<string, unknown>>> = {},
): Record<string, unknown>[] {
  return Object.entries(data)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ({ field_name: k, value: v, ...extra[k] }));
}

// shotgun.py _dict_to_extra_data.
function modesToExtra(modes: Readonly<Record<string, string>> | undefined): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [k, v] of Object.entries(modes ?? {})) out[k] = { multi_entity_update_mode: v };
  return out;
}

function checkCount(name: string, v: number | undefined): number {
  const n = v ?? 0;
  if (!Number.isInteger(n) || n < 0) {
    throw new ShotgunClientError('SG_INVALID_ARGUMENT', `${name} must be a non-negative integer`, { [name]: v });
  }
  return n;
}

function badResponse(method: string, cause: unknown): ShotgunTransportError {
  return new ShotgunTransportError('SG_BAD_RESPONSE', `the site's answer to ${method} has an unexpected shape`, {
    method,
    attempts: 1,
    cause,
  });
}

function parseWire<T extends z.ZodType>(schema: T, value: unknown, method: string): z.infer<T> {
  const r = schema.safeParse(value);
  if (!r.success) throw badResponse(method, r.error);
  return r.data;
}

// Hands the shared state of a parent to the constructor of its view.
let pendingView: { shared: Shared; sessionUuid: string | undefined; sudoAsLogin: string | undefined } | undefined;

/**
 * A client of the ShotGrid api3 JSON protocol, on the wire exactly as the
 * official Python client (shotgun_api3) is. One keep-alive pool per client,
 * shared with its `withOptions` views.
 *
 * @example
 * const sg = new ShotgunClient({
 *   baseUrl: 'http://127.0.0.1:8090',
 *   auth: { kind: 'script', scriptName: 'sgeventd', scriptKey: new Secret(process.env.SG_KEY ?? '') },
 * });
 * const shots = await sg.find('Shot', [['sg_status_list', 'is', 'ip']], ['code']);
 * await sg.close();
 */
export class ShotgunClient {
  readonly #shared: Shared;
  readonly #sessionUuid: string | undefined;
  readonly #sudoAsLogin: string | undefined;
  readonly #isView: boolean;

  constructor(options: ShotgunClientOptions) {
    const view = pendingView;
    pendingView = undefined;
    if (view) {
      this.#shared = view.shared;
      this.#sessionUuid = view.sessionUuid;
      this.#sudoAsLogin = view.sudoAsLogin;
      this.#isView = true;
      return;
    }
    const parsed = new URL(options.baseUrl);
    const basic =
      parsed.username !== ''
        ? new Secret(
            'Basic ' +
              Buffer.from(
                decodeURIComponent(parsed.username) + (parsed.password ? ':' + decodeURIComponent(parsed.password) : ''),
              ).toString('base64'),
          )
        : undefined;
    const ownsDispatcher = options.dispatcher === undefined;
    const dispatcher: Dispatcher = options.dispatcher ?? new Agent({ keepAliveTimeout: 30_000 });
    const auth = options.auth;
    const shared: Shared = {
      auth,
      ownsDispatcher,
      caps: undefined,
      sessionToken: undefined,
      closed: false,
      logger: options.logger,
      transport: new RpcTransport({
        url: apiUrl(options.baseUrl),
        dispatcher,
        timeoutMs: options.timeoutMs ?? 60_000,
        maxRetries: options.maxRetries ?? 3,
        retryDelayMs: options.retryDelayMs ?? 750,
        logger: options.logger,
        authorization: basic,
        secrets: () => [
          auth.kind === 'script' ? auth.scriptKey : auth.kind === 'session' ? auth.sessionToken : auth.password,
          shared.sessionToken,
          basic,
        ],
      }),
    };
    this.#shared = shared;
    this.#sessionUuid = options.sessionUuid;
    this.#sudoAsLogin = options.sudoAsLogin;
    this.#isView = false;
  }

  /**
   * A view of this client with another session_uuid or sudo_as_login, sharing
   * its pool and server info. `null` clears a setting, `undefined` keeps it.
   *
   * @example
   * const quiet = sg.withOptions({ sessionUuid: event.session_uuid });
   */
  withOptions(options: ShotgunViewOptions): ShotgunClient {
    const pick = (v: string | null | undefined, current: string | undefined) =>
      v === null ? undefined : v === undefined ? current : v;
    pendingView = {
      shared: this.#shared,
      sessionUuid: pick(options.sessionUuid, this.#sessionUuid),
      sudoAsLogin: pick(options.sudoAsLogin, this.#sudoAsLogin),
    };
    return new ShotgunClient({ baseUrl: 'http://view.invalid', auth: this.#shared.auth });
  }

  get sessionUuid(): string | undefined {
    return this.#sessionUuid;
  }

  get sudoAsLogin(): string | undefined {
    return this.#sudoAsLogin;
  }

  /** The api3 endpoint this client posts to. */
  get endpoint(): string {
    return this.#shared.transport.url.href;
  }

  /** Server info from the site's `info`, fetched once and cached (shared with views). */
  async info(): Promise<ServerInfo> {
    return (await this.#caps()).info;
  }

  #caps(): Promise<ServerCaps> {
    const s = this.#shared;
    if (!s.caps) {
      const p = this.#fetchCaps();
      s.caps = p;
      // A failed info is asked again next time.
      p.catch(() => {
        if (s.caps === p) s.caps = undefined;
      });
    }
    return s.caps;
  }

  async #fetchCaps(): Promise<ServerCaps> {
    // info goes without auth params and with empty params (shotgun.py info).
    const raw = await this.#rpc('info', null, { auth: false, retry: true });
    const body = InfoBody.safeParse(raw);
    if (!body.success) throw badResponse('info', body.error);
    const info = body.data as ServerInfo;
    const version = body.data.version.slice(0, 3) as unknown as Version;
    // shotgun.py ServerCapabilities._ensure_json_supported.
    if (!atLeast(version, [2, 4, 0])) {
      throw new ShotgunClientError('SG_UNSUPPORTED_BY_SERVER', 'the JSON API needs server version 2.4.0 or later', {
        version,
      });
    }
    const per = info.api_max_entities_per_page;
    const recordsPerPage = typeof per === 'number' && Number.isInteger(per) && per > 0 ? per : 500;
    return { info, version, recordsPerPage };
  }

  // shotgun.py ServerCapabilities._ensure_support with raise_hell=True.
  #ensure(caps: ServerCaps, min: Version, label: string): void {
    if (!atLeast(caps.version, min)) {
      throw new ShotgunClientError('SG_UNSUPPORTED_BY_SERVER', `${label} requires server version ${min.join('.')} or higher`, {
        version: caps.version,
        required: min,
      });
    }
  }

  // shotgun.py _auth_params.
  #authParams(caps: ServerCaps): Record<string, unknown> {
    const a = this.#shared.auth;
    let params: Record<string, unknown>;
    if (a.kind === 'user') {
      params = { user_login: a.login, user_password: a.password.reveal() };
    } else if (a.kind === 'script') {
      params = { script_name: a.scriptName, script_key: a.scriptKey.reveal() };
    } else {
      this.#ensure(caps, [5, 3, 0], 'session token authentication');
      params = { session_token: a.sessionToken.reveal() };
      // Ask the site to refuse expired sessions (added after 5.4.3).
      if (atLeast(caps.version, [5, 4, 4])) params['reject_if_expired'] = true;
    }
    if (this.#sessionUuid) params['session_uuid'] = this.#sessionUuid;
    if (this.#sudoAsLogin) {
      this.#ensure(caps, [5, 3, 12], 'sudo_as_login');
      params['sudo_as_login'] = this.#sudoAsLogin;
    }
    return params;
  }

  /**
   * One call: envelope `{method_name, params: [auth?, params?]}` as shotgun.py
   * _call_rpc/_build_payload, Dates out and in as _transform_outbound/_inbound;
   * gives `results` when the answer has one, else the whole answer.
   */
  async #rpc(method: string, params: unknown, o: { auth?: boolean; retry: boolean; first?: boolean }): Promise<unknown> {
    const s = this.#shared;
    if (s.closed) throw new ShotgunClientError('SG_CLIENT_CLOSED', 'the client is closed', { method });
    const callParams: unknown[] = [];
    if (o.auth !== false) callParams.push(this.#authParams(await this.#caps()));
    if (!isFalsyParams(params)) callParams.push(transformOutbound(params));
    const body = JSON.stringify({ method_name: method, params: callParams });
    let raw: unknown;
    try {
      raw = await s.transport.call(method, body, o.retry);
    } catch (err) {
      if (s.closed && err instanceof ShotgunTransportError) {
        throw new ShotgunClientError('SG_CLIENT_CLOSED', 'the client is closed', { method });
      }
      throw err;
    }
    const response = transformInbound(raw);
    if (!isPlainObject(response) || !('results' in response)) return response;
    const results = response['results'];
    if (o.first && Array.isArray(results)) return results[0];
    return results;
  }

  /**
   * Records of `entityType` matching `filters`, all pages read (as shotgun.py find).
   *
   * @example
   * const events = await sg.find('EventLogEntry', [['id', 'greater_than', cursor]], ['event_type', 'meta'],
   *   { order: [{ field_name: 'id', direction: 'asc' }], limit: 500 });
   */
  async find(
    entityType: string,
    filters: Filters,
    fields?: readonly string[],
    options: FindOptions = {},
  ): Promise<EntityRecord[]> {
    const limit = checkCount('limit', options.limit);
    let page = checkCount('page', options.page);
    let wireFilters: unknown;
    if (Array.isArray(filters)) {
      wireFilters = translateFilters(filters as Parameters<typeof translateFilters>[0], options.filterOperator);
    } else if (options.filterOperator) {
      throw new ShotgunClientError('SG_INVALID_ARGUMENT', 'filterOperator is not valid with wire-form filters');
    } else {
      wireFilters = filters;
    }
    const caps = await this.#caps();
    const includeArchived = options.includeArchivedProjects ?? true;
    if (!includeArchived) this.#ensure(caps, [5, 3, 14], 'include_archived_projects parameter');
    const presets = options.additionalFilterPresets;
    if (presets && presets.length > 0) this.#ensure(caps, [7, 0, 0], 'additional_filter_presets parameter');

    // shotgun.py _construct_read_parameters.
    const paging = { entities_per_page: caps.recordsPerPage, current_page: 1 };
    const params: Record<string, unknown> = {
      type: entityType,
      return_fields: fields && fields.length > 0 ? [...fields] : ['id'],
      filters: wireFilters,
      return_only: options.retiredOnly ? 'retired' : 'active',
      paging,
    };
    if (presets && presets.length > 0) params['additional_filter_presets'] = presets;
    if (!includeArchived) params['include_archived_projects'] = false;
    if (options.order && options.order.length > 0) {
      params['sorts'] = options.order.map((o) => ({
        field_name: o.column ?? o.field_name,
        direction: o.direction ?? 'asc',
      }));
    }
    if (atLeast(caps.version, [3, 3, 0])) params['api_return_image_urls'] = true;
    const withoutCounts = atLeast(caps.version, [7, 4, 0]);
    const flag = withoutCounts ? 'return_paging_info_without_counts' : 'return_paging_info';
    params[flag] = false;

    // A limit within one page and no page asked: one call (find_one's path).
    if (limit && limit <= caps.recordsPerPage) {
      paging.entities_per_page = limit;
      if (page === 0) page = 1;
    }
    if (page !== 0) {
      paging.current_page = page;
      const result = await this.#readPage(params);
      return this.#records(result.entities ?? []);
    }

    params[flag] = true;
    let records: EntityRecord[] = [];
    if (withoutCounts) {
      // 7.4+: follow has_next_page (shotgun.py find, ensure_paging_info_without_counts_support).
      let hasNext = true;
      while (hasNext) {
        const result = await this.#readPage(params);
        records.push(...(result.entities ?? []));
        if (limit && records.length >= limit) {
          records = records.slice(0, limit);
          break;
        }
        const next = result.paging_info?.has_next_page;
        if (next === undefined) throw badResponse('read', 'paging_info.has_next_page missing');
        hasNext = next;
        paging.current_page += 1;
      }
    } else {
      // Older sites: stop at entity_count or an empty page.
      let result = await this.#readPage(params);
      while (result.entities && result.entities.length > 0) {
        records.push(...result.entities);
        if (limit && records.length >= limit) {
          records = records.slice(0, limit);
          break;
        }
        const count = result.paging_info?.entity_count;
        if (count === undefined) throw badResponse('read', 'paging_info.entity_count missing');
        if (records.length === count) break;
        paging.current_page += 1;
        result = await this.#readPage(params);
      }
    }
    return this.#records(records);
  }

  async #readPage(params: Record<string, unknown>): Promise<z.infer<typeof ReadResults>> {
    return parseWire(ReadResults, await this.#rpc('read', params, { retry: true }), 'read');
  }

  #records(records: unknown[]): EntityRecord[] {
    return parseRecords(records) as EntityRecord[];
  }

  /**
   * The first record matching `filters`, or null (shotgun.py find_one: find with limit 1).
   *
   * @example
   * const project = await sg.findOne('Project', [['tank_name', 'is', 'demo']], ['name']);
   */
  async findOne(
    entityType: string,
    filters: Filters,
    fields?: readonly string[],
    options: FindOneOptions = {},
  ): Promise<EntityRecord | null> {
    const results = await this.find(entityType, filters, fields, { ...options, limit: 1 });
    return results[0] ?? null;
  }

  /**
   * Creates a record; answers its `type`, `id`, the fields set and `returnFields`.
   *
   * @example
   * const shot = await sg.create('Shot', { code: 'sh010', project: { type: 'Project', id: 1 } }, ['code']);
   */
  async create(
    entityType: string,
    data: Readonly<Record<string, FieldValue | undefined>>,
    returnFields?: readonly string[],
  ): Promise<EntityRecord> {
    // shotgun.py create uploads these as files; this client has no upload.
    if ('image' in data || 'filmstrip_image' in data) {
      throw new ShotgunClientError('SG_NOT_IMPLEMENTED', 'thumbnail upload is not supported by this client');
    }
    const params = {
      type: entityType,
      fields: dictToList(data),
      return_fields: returnFields && returnFields.length > 0 ? [...returnFields] : ['id'],
    };
    const record = await this.#rpc('create', params, { retry: false, first: true });
    return parseWire(RecordBody, this.#records([record])[0], 'create');
  }

  /**
   * Updates fields of a record; multi-entity fields take a mode (`set` by default).
   *
   * @example
   * await sg.update('Playlist', 7, { versions: [{ type: 'Version', id: 3 }] },
   *   { multiEntityUpdateModes: { versions: 'add' } });
   */
  async update(
    entityType: string,
    entityId: number,
    data: Readonly<Record<string, FieldValue | undefined>>,
    options: UpdateOptions = {},
  ): Promise<EntityRecord> {
    if ((data['image'] !== undefined && data['image'] !== null) || 'filmstrip_image' in data) {
      throw new ShotgunClientError('SG_NOT_IMPLEMENTED', 'thumbnail upload is not supported by this client');
    }
    const fields = dictToList(data, modesToExtra(options.multiEntityUpdateModes));
    // Nothing to send: shotgun.py update answers without a call.
    if (fields.length === 0) return { id: entityId, type: entityType };
    // shotgun.py _translate_update_params: every value of each field dict trimmed.
    const params = {
      type: entityType,
      id: entityId,
      fields: fields.map((f) => Object.fromEntries(Object.entries(f).map(([k, v]) => [k, optimizeEntityValue(v)]))),
    };
    const record = await this.#rpc('update', params, { retry: false });
    return parseWire(RecordBody, this.#records([record])[0], 'update');
  }

  /** Retires a record; true when it was retired (shotgun.py delete). */
  async delete(entityType: string, entityId: number): Promise<boolean> {
    const r = await this.#rpc('delete', { type: entityType, id: entityId }, { retry: false });
    return parseWire(BoolResult, r, 'delete');
  }

  /** Brings a retired record back; true when it was revived (shotgun.py revive). */
  async revive(entityType: string, entityId: number): Promise<boolean> {
    const r = await this.#rpc('revive', { type: entityType, id: entityId }, { retry: false });
    return parseWire(BoolResult, r, 'revive');
  }

  /**
   * Several creates, updates and deletes in one transaction, all or nothing
   * (shotgun.py batch). Answers one item per request, in order.
   *
   * @example
   * await sg.batch([
   *   { request_type: 'create', entity_type: 'Shot', data: { code: 'sh020' } },
   *   { request_type: 'delete', entity_type: 'Shot', entity_id: 12 },
   * ]);
   */
  async batch(requests: readonly BatchRequest[]): Promise<BatchResult[]> {
    if (!Array.isArray(requests)) throw new ShotgunClientError('SG_INVALID_ARGUMENT', 'batch expects a list');
    if (requests.length === 0) return [];
    const calls = requests.map((req: BatchRequest, index) => {
      const r = req as unknown as Record<string, unknown>;
      const need = (keys: string[]) => {
        const missing = keys.filter((k) => !(k in r));
        if (missing.length > 0) {
          throw new ShotgunClientError('SG_INVALID_ARGUMENT', 'batched request is missing required keys', {
            index,
            missing,
          });
        }
      };
      need(['request_type', 'entity_type']);
      const out: Record<string, unknown> = { request_type: req.request_type, type: req.entity_type };
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
    const results = await this.#rpc('batch', calls, { retry: false });
    if (!Array.isArray(results)) throw badResponse('batch', 'results is not a list');
    return parseWire(BatchResults, this.#records(results), 'batch');
  }

  /**
   * Summaries of a field over matching records, optionally grouped (shotgun.py summarize).
   *
   * @example
   * const r = await sg.summarize('Task', [['project', 'is', project]], [{ field: 'id', type: 'count' }]);
   */
  async summarize(
    entityType: string,
    filters: Filters,
    summaryFields: readonly SummaryField[],
    options: SummarizeOptions = {},
  ): Promise<SummarizeResult> {
    if (options.grouping !== undefined && !Array.isArray(options.grouping)) {
      throw new ShotgunClientError('SG_INVALID_ARGUMENT', 'grouping must be a list');
    }
    const wireFilters = Array.isArray(filters)
      ? translateFilters(filters as Parameters<typeof translateFilters>[0], options.filterOperator)
      : filters;
    const includeArchived = options.includeArchivedProjects ?? true;
    if (!includeArchived) this.#ensure(await this.#caps(), [5, 3, 14], 'include_archived_projects parameter');
    const params: Record<string, unknown> = { type: entityType, summaries: summaryFields, filters: wireFilters };
    if (!includeArchived) params['include_archived_projects'] = false;
    if (options.grouping !== undefined) params['grouping'] = options.grouping;
    const r = await this.#rpc('summarize', params, { retry: true });
    return parseWire(SummarizeBody, r, 'summarize') as SummarizeResult;
  }

  // shotgun.py _add_project_param.
  async #projectParam(params: Record<string, unknown>, project: Readonly<Record<string, unknown>> | undefined) {
    if (project) {
      this.#ensure(await this.#caps(), [5, 4, 4], 'project parameter');
      params['project'] = project;
    }
    return params;
  }

  /** Every field of every entity type (shotgun.py schema_read). */
  async schemaRead(projectEntity?: Readonly<Record<string, unknown>>): Promise<SchemaResult> {
    const params = await this.#projectParam({}, projectEntity);
    return parseWire(SchemaBody, await this.#rpc('schema_read', params, { retry: true }), 'schema_read');
  }

  /** Entity types with their display names and visibility (shotgun.py schema_entity_read). */
  async schemaEntityRead(projectEntity?: Readonly<Record<string, unknown>>): Promise<SchemaResult> {
    const params = await this.#projectParam({}, projectEntity);
    return parseWire(SchemaBody, await this.#rpc('schema_entity_read', params, { retry: true }), 'schema_entity_read');
  }

  /**
   * Fields of one entity type, or one field (shotgun.py schema_field_read).
   *
   * @example
   * const f = await sg.schemaFieldRead('Shot', 'sg_status_list');
   */
  async schemaFieldRead(
    entityType: string,
    fieldName?: string,
    projectEntity?: Readonly<Record<string, unknown>>,
  ): Promise<SchemaResult> {
    const params: Record<string, unknown> = { type: entityType };
    if (fieldName) params['field_name'] = fieldName;
    await this.#projectParam(params, projectEntity);
    return parseWire(SchemaBody, await this.#rpc('schema_field_read', params, { retry: true }), 'schema_field_read');
  }

  /**
   * A session token for this connection: the one it authenticates with, or
   * one the site issues (shotgun.py get_session_token), kept for next time.
   */
  async getSessionToken(): Promise<Secret> {
    const s = this.#shared;
    if (s.auth.kind === 'session') return s.auth.sessionToken;
    if (s.sessionToken) return s.sessionToken;
    const r = parseWire(SessionTokenBody, await this.#rpc('get_session_token', null, { retry: false }), 'get_session_token');
    s.sessionToken = new Secret(r.session_id);
    return s.sessionToken;
  }

  /**
   * Stops the client; later calls fail with SG_CLIENT_CLOSED. Closes the pool
   * only if this client created it (not a view, not a shared dispatcher).
   * Idempotent.
   */
  async close(): Promise<void> {
    if (this.#isView) return;
    const s = this.#shared;
    if (s.closed) return;
    s.closed = true;
    if (s.ownsDispatcher) await s.transport.dispatcher.close();
  }

  [inspect.custom](): string {
    const a = this.#shared.auth;
    const who = a.kind === 'script' ? `script ${a.scriptName}` : a.kind === 'user' ? `user ${a.login}` : 'session';
    const extra = [
      this.#sessionUuid ? `sessionUuid: ${this.#sessionUuid}` : '',
      this.#sudoAsLogin ? `sudoAsLogin: ${this.#sudoAsLogin}` : '',
    ].filter(Boolean);
    return `ShotgunClient { ${[this.endpoint, who, ...extra].join(', ')} }`;
  }

  toJSON(): Record<string, unknown> {
    return { endpoint: this.endpoint, sessionUuid: this.#sessionUuid, sudoAsLogin: this.#sudoAsLogin };
  }
}
