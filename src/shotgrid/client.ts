import { inspect } from 'node:util';
import { Secret } from '../shared/secret.ts';
import { serverCaps, type ServerCaps } from './caps.ts';
import { ShotgunClientError, ShotgunTransportError } from './errors.ts';
import {
  batchCalls,
  checkCount,
  createParams,
  readParams,
  summarizeParams,
  updateParams,
  withProject,
  type Params,
} from './params.ts';
import { readPages } from './read.ts';
import { compileOptions } from './options.ts';
import { RpcTransport } from './transport.ts';
import { authParams, buildPayload } from './payload.ts';
import { isPlainObject, parseRecords, transformInbound } from './values.ts';
import {
  BatchResults,
  BoolResult,
  ReadResults,
  RecordBody,
  SchemaBody,
  SessionTokenBody,
  SummarizeBody,
  badResponse,
  parseWire,
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

/** What a client and all its `withOptions` views share. */
interface Shared {
  transport: RpcTransport;
  auth: ShotgunAuth;
  caps: Promise<ServerCaps> | undefined;
  sessionToken: Secret | undefined;
  closed: boolean;
}

// Hands the shared state of a parent to the constructor of its view.
let pendingView: { shared: Shared; sessionUuid: string | undefined; sudoAsLogin: string | undefined; signal: AbortSignal | undefined } | undefined;

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
  readonly #signal: AbortSignal | undefined;
  readonly #isView: boolean;

  constructor(options: ShotgunClientOptions) {
    const view = pendingView;
    pendingView = undefined;
    if (view) {
      this.#shared = view.shared;
      this.#sessionUuid = view.sessionUuid;
      this.#sudoAsLogin = view.sudoAsLogin;
      this.#signal = view.signal;
      this.#isView = true;
      return;
    }
    const o = compileOptions(options);
    const auth = o.auth;
    const shared: Shared = {
      auth,
      caps: undefined,
      sessionToken: undefined,
      closed: false,
      transport: new RpcTransport({
        url: o.url,
        // None given: Node's fetch (its global keep-alive pool); undici is not loaded.
        dispatcher: options.dispatcher,
        timeoutMs: o.timeoutMs,
        maxRetries: o.maxRetries,
        retryDelayMs: o.retryDelayMs,
        logger: options.logger,
        onRequestError: options.onRequestError,
        authorization: o.basic,
        secrets: () => [
          auth.kind === 'script' ? auth.scriptKey : auth.kind === 'session' ? auth.sessionToken : auth.password,
          shared.sessionToken,
          o.basic,
          o.urlPassword,
        ],
      }),
    };
    this.#shared = shared;
    this.#sessionUuid = options.sessionUuid;
    this.#sudoAsLogin = options.sudoAsLogin;
    this.#signal = undefined;
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
      signal: options.signal === null ? undefined : options.signal ?? this.#signal,
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
      // info goes without auth params and with empty params (shotgun.py info).
      const p = this.#rpc('info', null, { auth: false, retry: true }).then((r) => serverCaps(r));
      s.caps = p;
      // A failed info is asked again next time.
      p.catch(() => {
        if (s.caps === p) s.caps = undefined;
      });
    }
    return s.caps;
  }

  /**
   * One call: envelope `{method_name, params: [auth?, params?]}` as shotgun.py
   * _call_rpc/_build_payload, Dates out and in as _transform_outbound/_inbound;
   * gives `results` when the answer has one, else the whole answer.
   */
  async #rpc(method: string, params: unknown, o: { auth?: boolean; retry: boolean; first?: boolean }): Promise<unknown> {
    const s = this.#shared;
    if (s.closed) throw new ShotgunClientError('SG_CLIENT_CLOSED', 'the client is closed', { method });
    const auth = o.auth === false ? undefined : authParams(s.auth, await this.#caps(), this.#sessionUuid, this.#sudoAsLogin);
    const body = buildPayload(method, auth, params);
    let raw: unknown;
    try {
      // Server info is shared by every view: one view's abort must not fail it for the others.
      raw = await s.transport.call(method, body, o.retry, o.auth === false ? undefined : this.#signal);
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
    const page = checkCount('page', options.page);
    const caps = await this.#caps();
    const params = readParams(caps, entityType, filters, fields, options);
    const rows = await readPages(caps, params, limit, page, async (p) =>
      parseWire(ReadResults, await this.#rpc('read', p, { retry: true }), 'read'),
    );
    return parseRecords(rows) as EntityRecord[];
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
    const results = await this.find(entityType, filters, fields, { ...options, limit: 1, page: 0 });
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
    const params = createParams(entityType, data, returnFields);
    const record = await this.#rpc('create', params, { retry: false, first: true });
    return parseWire(RecordBody, parseRecords([record])[0], 'create');
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
    const params = updateParams(entityType, entityId, data, options.multiEntityUpdateModes);
    // Nothing to send: shotgun.py update answers without a call.
    if (!params) return { id: entityId, type: entityType };
    const record = await this.#rpc('update', params, { retry: false });
    // shotgun.py _parse_records(record)[0]: a list answer gives its first item.
    return parseWire(RecordBody, parseRecords(Array.isArray(record) ? record : [record])[0], 'update');
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
    const calls = batchCalls(requests);
    const results = await this.#rpc('batch', calls, { retry: false });
    if (!Array.isArray(results)) throw badResponse('batch', 'results is not a list');
    return parseWire(BatchResults, parseRecords(results), 'batch');
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
    const params = summarizeParams(await this.#caps(), entityType, filters, summaryFields, options);
    const r = await this.#rpc('summarize', params, { retry: true });
    return parseWire(SummarizeBody, r, 'summarize') as SummarizeResult;
  }

  async #projectParam(params: Params, project: Readonly<Params> | undefined): Promise<Params> {
    return project ? withProject(await this.#caps(), params, project) : params;
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
   * Stops the client; later calls fail with SG_CLIENT_CLOSED. A dispatcher
   * given in the options is the caller's to close; without one the client
   * uses Node's global pool, which has nothing of this client's to close.
   * Idempotent.
   */
  close(): Promise<void> {
    if (!this.#isView) this.#shared.closed = true;
    return Promise.resolve();
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
