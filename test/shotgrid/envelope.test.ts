// Request bodies per method, compared with what shotgun_api3 v3.10.0
// (shotgun.py) sends for the same call. Line refs are to that file.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Secret } from '../../src/shared/secret.ts';
import { ShotgunClient, USER_AGENT } from '../../src/shotgrid/index.ts';
import { SCRIPT_KEY, authParams, clientFor, methodParams, startFakeSite, type Handler } from './fake-site.ts';
import { onCleanup } from '../support/index.ts';

const SCRIPT_AUTH = { script_name: 'sgeventd', script_key: SCRIPT_KEY };
const shotRecord = { type: 'Shot', id: 5, code: 'sh010' };

// Answers each method with a plausible result.
const answers: Handler = (req) => {
  switch (req.body.method_name) {
    case 'read':
      return { json: { results: { entities: [shotRecord], paging_info: { has_next_page: false } } } };
    case 'create':
    case 'update':
      return { json: { results: shotRecord } };
    case 'delete':
    case 'revive':
      return { json: { results: true } };
    case 'batch':
      return { json: { results: [shotRecord, true] } };
    case 'summarize':
      return { json: { results: { summaries: { id: 3 }, groups: [] } } };
    case 'schema_read':
    case 'schema_entity_read':
    case 'schema_field_read':
      return { json: { results: { code: { data_type: { value: 'text', editable: false } } } } };
    case 'get_session_token':
      return { json: { results: { session_id: 'fresh-session-token-1234' } } };
    default:
      return undefined;
  }
};

describe('request envelope', () => {
  it('sends info first, without auth and with empty params (shotgun.py info, _build_payload)', async (t) => {
    const site = await startFakeSite(answers);
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    const info = await sg.info();
    assert.deepEqual(info.version, [8, 20, 0]);
    await sg.info();
    assert.equal(site.requests.length, 1, 'info is cached');
    assert.deepEqual(site.requests[0]?.body, { method_name: 'info', params: [] });
    const h = site.requests[0]?.headers;
    assert.equal(site.requests[0]?.path, '/api3/json');
    assert.equal(h?.['content-type'], 'application/json; charset=utf-8');
    assert.equal(h?.['user-agent'], USER_AGENT);
    assert.match(USER_AGENT, /^sgeventd\/\d+\.\d+\.\d+ shotgun-json-compatible$/);
  });

  it('keeps a base path prefix the way shotgun.py set_server_params resolves it', async (t) => {
    const site = await startFakeSite(answers);
    const withSlash = clientFor(site, { baseUrl: `${site.url}/studio/` });
    const noSlash = clientFor(site, { baseUrl: `${site.url}/studio` });
    onCleanup(t, () => site.close());
    onCleanup(t, () => noSlash.close());
    onCleanup(t, () => withSlash.close());
    await withSlash.info();
    await noSlash.info();
    // urljoin('/studio/', 'api3/') keeps the prefix; urljoin('/studio', 'api3/') replaces it.
    assert.deepEqual(
      site.requests.map((r) => r.path),
      ['/studio/api3/json', '/api3/json'],
    );
  });

  it('find: read params as _construct_read_parameters builds them', async (t) => {
    const site = await startFakeSite(answers);
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    const rows = await sg.find('Shot', [['code', 'is', 'sh010']], ['code', 'sg_status_list'], {
      order: [{ field_name: 'code' }, { column: 'id', direction: 'desc' }],
      retiredOnly: true,
    });
    assert.deepEqual(rows, [shotRecord]);
    const read = site.calls('read');
    assert.equal(read.length, 1);
    assert.deepEqual(authParams(read[0]), SCRIPT_AUTH);
    assert.deepEqual(methodParams(read[0]), {
      type: 'Shot',
      return_fields: ['code', 'sg_status_list'],
      filters: { logical_operator: 'and', conditions: [{ path: 'code', relation: 'is', values: ['sh010'] }] },
      return_only: 'retired',
      paging: { entities_per_page: 500, current_page: 1 },
      sorts: [
        { field_name: 'code', direction: 'asc' },
        { field_name: 'id', direction: 'desc' },
      ],
      api_return_image_urls: true,
      return_paging_info_without_counts: true,
    });
  });

  it('findOne: one page of one record with the paging flag false', async (t) => {
    const site = await startFakeSite(answers);
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    const row = await sg.findOne('Shot', [['id', 'is', 5]], undefined, { includeArchivedProjects: false });
    assert.deepEqual(row, shotRecord);
    assert.deepEqual(methodParams(site.calls('read')[0]), {
      type: 'Shot',
      return_fields: ['id'],
      filters: { logical_operator: 'and', conditions: [{ path: 'id', relation: 'is', values: [5] }] },
      return_only: 'active',
      paging: { entities_per_page: 1, current_page: 1 },
      include_archived_projects: false,
      api_return_image_urls: true,
      return_paging_info_without_counts: false,
    });
  });

  it('findOne answers null when nothing matches', async (t) => {
    const site = await startFakeSite((req) =>
      req.body.method_name === 'read' ? { json: { results: { entities: [], paging_info: {} } } } : undefined,
    );
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    assert.equal(await sg.findOne('Shot', []), null);
  });

  it('create: fields as a field_name/value list, return_fields default ["id"] (shotgun.py create)', async (t) => {
    const site = await startFakeSite(answers);
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    const project = { type: 'Project', id: 1, name: 'Demo', extra: 'kept on create' };
    const rec = await sg.create('Shot', { code: 'sh010', project });
    assert.deepEqual(rec, shotRecord);
    await sg.create('Shot', { code: 'sh020' }, ['code']);
    const [a, b] = site.calls('create');
    assert.deepEqual(a?.body, {
      method_name: 'create',
      params: [
        SCRIPT_AUTH,
        {
          type: 'Shot',
          fields: [
            { field_name: 'code', value: 'sh010' },
            { field_name: 'project', value: project },
          ],
          return_fields: ['id'],
        },
      ],
    });
    assert.deepEqual(methodParams(b), {
      type: 'Shot',
      fields: [{ field_name: 'code', value: 'sh020' }],
      return_fields: ['code'],
    });
  });

  it('update: modes merged per field, entity values trimmed (_translate_update_params)', async (t) => {
    const site = await startFakeSite(answers);
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    await sg.update(
      'Playlist',
      7,
      {
        versions: [
          { type: 'Version', id: 3, name: 'v3', code: 'dropped', project: { type: 'Project', id: 1 } },
          { type: 'Version', id: 4 },
        ],
        sg_status_list: 'ip',
        project: { type: 'Project', id: 1, name: 'Demo', tank_name: 'dropped' },
      },
      { multiEntityUpdateModes: { versions: 'add' } },
    );
    assert.deepEqual(methodParams(site.calls('update')[0]), {
      type: 'Playlist',
      id: 7,
      fields: [
        {
          field_name: 'versions',
          value: [
            { type: 'Version', id: 3, name: 'v3' },
            { type: 'Version', id: 4 },
          ],
          multi_entity_update_mode: 'add',
        },
        { field_name: 'sg_status_list', value: 'ip' },
        { field_name: 'project', value: { type: 'Project', id: 1, name: 'Demo' } },
      ],
    });
    // No data: shotgun.py answers without a call.
    assert.deepEqual(await sg.update('Shot', 9, {}), { id: 9, type: 'Shot' });
    assert.equal(site.calls('update').length, 1);
  });

  it('thumbnails: a set image is refused (no upload here); empty ones follow shotgun.py create/update', async (t) => {
    const site = await startFakeSite(answers);
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    for (const run of [
      () => sg.create('Shot', { code: 'a', image: '/tmp/thumb.png' }),
      () => sg.update('Shot', 5, { filmstrip_image: '/tmp/strip.png' }),
    ]) {
      await assert.rejects(run(), (err: { code?: string }) => err.code === 'SG_NOT_IMPLEMENTED');
    }
    assert.equal(site.calls().length, 0);
    // create pops image/filmstrip_image even when None; update sends image None (clears it).
    await sg.create('Shot', { code: 'a', image: null, filmstrip_image: null });
    await sg.update('Shot', 5, { image: null, filmstrip_image: null });
    assert.deepEqual((methodParams(site.calls('create')[0]) as { fields: unknown }).fields, [{ field_name: 'code', value: 'a' }]);
    assert.deepEqual((methodParams(site.calls('update')[0]) as { fields: unknown }).fields, [{ field_name: 'image', value: null }]);
  });

  it('delete and revive: {type, id}, boolean answers', async (t) => {
    const site = await startFakeSite(answers);
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    assert.equal(await sg.delete('Shot', 5), true);
    assert.equal(await sg.revive('Shot', 5), true);
    assert.deepEqual(methodParams(site.calls('delete')[0]), { type: 'Shot', id: 5 });
    assert.deepEqual(methodParams(site.calls('revive')[0]), { type: 'Shot', id: 5 });
  });

  it('batch: a list of request dicts as shotgun.py batch builds them', async (t) => {
    const site = await startFakeSite(answers);
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    const out = await sg.batch([
      { request_type: 'create', entity_type: 'Shot', data: { code: 'a' } },
      {
        request_type: 'update',
        entity_type: 'Playlist',
        entity_id: 7,
        data: { versions: [{ type: 'Version', id: 3, code: 'not trimmed in batch' }] },
        multi_entity_update_modes: { versions: 'remove' },
      },
      { request_type: 'delete', entity_type: 'Shot', entity_id: 5 },
    ]);
    assert.deepEqual(out, [shotRecord, true]);
    assert.deepEqual(methodParams(site.calls('batch')[0]), [
      { request_type: 'create', type: 'Shot', fields: [{ field_name: 'code', value: 'a' }], return_fields: ['id'] },
      {
        request_type: 'update',
        type: 'Playlist',
        id: 7,
        fields: [
          {
            field_name: 'versions',
            value: [{ type: 'Version', id: 3, code: 'not trimmed in batch' }],
            multi_entity_update_mode: 'remove',
          },
        ],
      },
      { request_type: 'delete', type: 'Shot', id: 5 },
    ]);
    assert.deepEqual(await sg.batch([]), []);
    assert.equal(site.calls('batch').length, 1, 'an empty batch sends nothing');
    await assert.rejects(
      sg.batch([{ request_type: 'delete', entity_type: 'Shot' } as never]),
      (err: { code?: string }) => err.code === 'SG_INVALID_ARGUMENT',
    );
  });

  it('summarize: type, summaries, translated filters, grouping', async (t) => {
    const site = await startFakeSite(answers);
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    const r = await sg.summarize('Task', [['project', 'is', { type: 'Project', id: 1, name: 'P' }]], [
      { field: 'id', type: 'count' },
    ], { grouping: [{ field: 'step', type: 'exact', direction: 'asc' }], filterOperator: 'any' });
    assert.deepEqual(r, { summaries: { id: 3 }, groups: [] });
    assert.deepEqual(methodParams(site.calls('summarize')[0]), {
      type: 'Task',
      summaries: [{ field: 'id', type: 'count' }],
      filters: {
        logical_operator: 'or',
        conditions: [{ path: 'project', relation: 'is', values: [{ type: 'Project', id: 1, name: 'P' }] }],
      },
      grouping: [{ field: 'step', type: 'exact', direction: 'asc' }],
    });
  });

  it('schema calls: no params without a project, project param when given', async (t) => {
    const site = await startFakeSite(answers);
    const sg = clientFor(site);
    const project = { type: 'Project', id: 2 };
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    await sg.schemaRead();
    await sg.schemaEntityRead(project);
    const fields = await sg.schemaFieldRead('Shot', 'code', project);
    await sg.schemaFieldRead('Shot');
    assert.deepEqual(fields, { code: { data_type: { value: 'text', editable: false } } });
    assert.deepEqual(site.calls('schema_read')[0]?.body.params, [SCRIPT_AUTH]);
    assert.deepEqual(site.calls('schema_entity_read')[0]?.body.params, [SCRIPT_AUTH, { project }]);
    const [one, all] = site.calls('schema_field_read');
    assert.deepEqual(methodParams(one), { type: 'Shot', field_name: 'code', project });
    assert.deepEqual(methodParams(all), { type: 'Shot' });
  });

  it('get_session_token: auth only; the token is kept as a Secret and asked once', async (t) => {
    const site = await startFakeSite(answers);
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    const token = await sg.getSessionToken();
    assert.ok(token instanceof Secret);
    assert.equal(token.reveal(), 'fresh-session-token-1234');
    await sg.getSessionToken();
    const calls = site.calls('get_session_token');
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0]?.body.params, [SCRIPT_AUTH]);
  });
});

describe('auth params (shotgun.py _auth_params)', () => {
  it('session token adds reject_if_expired on sites after 5.4.3', async (t) => {
    const site = await startFakeSite(answers);
    const sg = new ShotgunClient({ baseUrl: site.url, auth: { kind: 'session', sessionToken: new Secret('sess-tok-42') } });
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    await sg.delete('Shot', 1);
    assert.deepEqual(authParams(site.calls('delete')[0]), { session_token: 'sess-tok-42', reject_if_expired: true });
    assert.equal((await sg.getSessionToken()).reveal(), 'sess-tok-42');
    assert.equal(site.calls('get_session_token').length, 0);
  });

  it('user login and password', async (t) => {
    const site = await startFakeSite(answers);
    const sg = new ShotgunClient({
      baseUrl: site.url,
      auth: { kind: 'user', login: 'bob', password: new Secret('pw-of-bob') },
    });
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    await sg.delete('Shot', 1);
    assert.deepEqual(authParams(site.calls('delete')[0]), { user_login: 'bob', user_password: 'pw-of-bob' });
  });

  it('session_uuid and sudo_as_login from options and from views; views share the pool and info', async (t) => {
    const site = await startFakeSite(answers);
    const sg = clientFor(site, { sessionUuid: 'uuid-root', sudoAsLogin: 'alice' });
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    const view = sg.withOptions({ sessionUuid: '5a1d49b0-0c69-11e0-a24c-003048d17544' });
    const cleared = view.withOptions({ sessionUuid: null, sudoAsLogin: null });
    await sg.delete('Shot', 1);
    await view.delete('Shot', 2);
    await cleared.delete('Shot', 3);
    const [a, b, c] = site.calls('delete');
    assert.deepEqual(authParams(a), { ...SCRIPT_AUTH, session_uuid: 'uuid-root', sudo_as_login: 'alice' });
    assert.deepEqual(authParams(b), {
      ...SCRIPT_AUTH,
      session_uuid: '5a1d49b0-0c69-11e0-a24c-003048d17544',
      sudo_as_login: 'alice',
    });
    assert.deepEqual(authParams(c), SCRIPT_AUTH);
    assert.equal(site.requests.filter((r) => r.body.method_name === 'info').length, 1, 'views share the info cache');
    await view.close();
    assert.equal(await sg.revive('Shot', 1), true, "closing a view leaves the parent's pool open");
  });

  it('sudo_as_login needs a 5.3.12 site; the call is refused before it is sent', async (t) => {
    const site = await startFakeSite(answers, { info: { version: [5, 3, 11] } });
    const sg = clientFor(site, { sudoAsLogin: 'alice' });
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    await assert.rejects(sg.delete('Shot', 1), (err: { code?: string }) => err.code === 'SG_UNSUPPORTED_BY_SERVER');
    assert.equal(site.calls().length, 0);
  });

  it('user:password in the URL becomes a Basic Authorization header', async (t) => {
    const site = await startFakeSite(answers);
    const sg = clientFor(site, { baseUrl: site.url.replace('http://', 'http://web:p%40ss@') });
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    await sg.info();
    assert.equal(site.requests[0]?.headers['authorization'], 'Basic ' + Buffer.from('web:p@ss').toString('base64'));
  });
});
