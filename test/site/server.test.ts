import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { startSite } from '../../src/site/index.ts';
import { SCRIPT, create, events, faultOf, find, lastEventId, results, rpc, update, type Entity } from './helpers.ts';
import { tempDir, withSite } from '../support/index.ts';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/site/${name}`, import.meta.url));

async function post(url: string, body: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await request(url, { method: 'POST', body, headersTimeout: 10_000, bodyTimeout: 10_000 });
  const text = await r.body.text();
  return { status: r.statusCode, json: text.length > 0 ? JSON.parse(text) as Record<string, unknown> : {} };
}

describe('site server', () => {
  it('info needs no credentials and reports version, page size and auth method', async (t) => {
    {
      const { site } = await withSite(t, { maxEntitiesPerPage: 50 });
      const body = await rpc(site, 'info', undefined, null);
      assert.ok(Array.isArray(body.version));
      const [maj, min] = body.version as number[];
      assert.ok(maj! > 7 || (maj === 7 && min! >= 4));
      assert.equal(body.api_max_entities_per_page, 50);
      assert.equal(body.user_authentication_method, 'default');
      assert.equal(body.s3_uploads_enabled, false);
      assert.ok(body.full_version !== undefined);
    }
  });

  it('auth: bad script key, missing credentials, bad password and unknown session token are 102; logins and tokens work', async (t) => {
    {
      const { site } = await withSite(t, { seed: 'demo', scripts: [{ name: 'ci', key: 'ci-key' }] });
      const q = { type: 'Project', return_fields: ['name'] };
      assert.equal((await faultOf(site, 'read', q, { script_name: 'ci', script_key: 'wrong' })).error_code, 102);
      assert.equal((await faultOf(site, 'read', q, SCRIPT)).error_code, 102, 'the default script is off when scripts are given');
      assert.equal((await faultOf(site, 'read', q, {})).error_code, 102);
      assert.equal((await faultOf(site, 'read', q, null)).error_code, 102);
      assert.equal((await faultOf(site, 'read', q, { user_login: 'alice', user_password: 'nope' })).error_code, 102);
      assert.equal((await faultOf(site, 'read', q, { session_token: 'made-up' })).error_code, 102);
      const ci = { script_name: 'ci', script_key: 'ci-key' };
      assert.equal((await results<{ entities: Entity[] }>(site, 'read', q, ci)).entities.length, 2);
      const human = { user_login: 'alice', user_password: 'demo' };
      assert.equal((await results<{ entities: Entity[] }>(site, 'read', q, human)).entities.length, 2);
      const { session_id } = await results<{ session_id: string }>(site, 'get_session_token', undefined, human);
      assert.equal(typeof session_id, 'string');
      const shot = await results<Entity>(site, 'create', { type: 'Sequence', fields: [{ field_name: 'code', value: 'by_token' }], return_fields: ['created_by'] }, { session_token: session_id, reject_if_expired: true });
      assert.equal((shot.created_by as Entity).type, 'HumanUser');
      site.expireSessions();
      assert.equal((await faultOf(site, 'read', q, { session_token: session_id })).error_code, 102, 'an expired token is 102, so clients renew it');
      const r = await results<{ entities: Entity[] }>(site, 'read', { type: 'ApiUser', return_fields: ['firstname'] }, ci);
      assert.ok(r.entities.some((e) => e.firstname === 'ci'), 'an ApiUser exists for every script');
    }
  });

  it('bad requests are faults, never crashes: malformed JSON, no method, unknown method, bad params; the site stays healthy', async (t) => {
    {
      const { site } = await withSite(t, {});
      const url = `${site.url}/api3/json`;
      for (const body of ['{not json', '[]', '{"params": []}', '"just a string"']) {
        const r = await post(url, body);
        assert.equal(r.status, 200);
        assert.equal(r.json.exception, true);
        assert.equal(r.json.error_code, 103);
      }
      assert.equal((await faultOf(site, 'no_such_method', {})).error_code, 103);
      assert.equal((await faultOf(site, 'read', { return_fields: ['id'] })).error_code, 103);
      assert.equal((await faultOf(site, 'read', 'nonsense')).error_code, 103);
      assert.equal((await faultOf(site, 'create', { type: 'NoSuchType', fields: [] })).error_code, 103);
      assert.equal((await faultOf(site, 'update', { type: 'Shot', id: 'x', fields: [] })).error_code, 103);
      assert.equal((await faultOf(site, 'schema_field_read', { type: 'Shot', field_name: 'nope' })).error_code, 103);
      const big = await post(url, JSON.stringify({ method_name: 'info', pad: 'x'.repeat(17 * 1024 * 1024) }));
      assert.equal(big.status, 413);
      const metrics = await post(`${site.url}/prefix/api3/track_metrics/`, JSON.stringify({ metrics: [] }));
      assert.equal(metrics.status, 200);
      const info = await post(`${site.url}/some/prefix/api3/json`, JSON.stringify({ method_name: 'info', params: [] }));
      assert.ok(Array.isArray(info.json.version), 'any base path prefix is accepted');
    }
  });

  it('junk params for every method are answered with a client fault (103) or a result, never an internal error', async (t) => {
    {
      const { site } = await withSite(t, { seed: 'demo' });
      const methods = ['read', 'create', 'update', 'delete', 'revive', 'batch', 'summarize', 'schema_read', 'schema_entity_read', 'schema_field_read', 'get_session_token'];
      const junk: unknown[] = [null, 1, 'x', [], {}, { type: 'Shot' }, { type: 'Shot', filters: 5 }, { type: 'Shot', filters: [['code']] },
        { type: 'Shot', filters: { logical_operator: 'xor', conditions: [] } }, { type: 'Shot', fields: [{ field_name: 'assets', value: [1] }] },
        { type: 'Shot', id: 1, fields: [{ field_name: 'assets', value: [], multi_entity_update_mode: 'bogus' }] },
        { type: 'Shot', return_fields: ['sg_sequence.Sequence', 'a.b.c.d', ''] }, { type: 'Shot', sorts: [{ field_name: 'assets' }] },
        { type: 'Shot', summaries: [{ field: 'nope', type: 'count' }] }, [{ request_type: 'bogus' }],
        { type: 'Shot', filters: [['created_at', 'in_last', 'x', 'DAY']] }, { type: 'Task', filters: [['entity', 'name_contains', 5]] }];
      for (const m of methods) {
        for (const p of junk) {
          const body = await rpc(site, m, p);
          if (body.exception === true) assert.equal(body.error_code, 103, `${m} ${JSON.stringify(p)}`);
        }
      }
      assert.equal((await find(site, 'Project', [])).length, 2, 'still healthy');
    }
  });

  it('schema_read, schema_entity_read and schema_field_read answer in the real shape; --schema files add types and fields', async (t) => {
    {
      const { site } = await withSite(t, { schemaFile: fixture('extra-schema.yaml') });
      const f = await results<Record<string, Record<string, unknown>>>(site, 'schema_field_read', { type: 'Shot', field_name: 'sg_sequence' });
      assert.deepEqual(f.sg_sequence!.data_type, { value: 'entity', editable: false });
      assert.deepEqual((f.sg_sequence!.properties as Record<string, unknown>).valid_types, { value: ['Sequence'], editable: true });
      assert.deepEqual(f.sg_sequence!.entity_type, { value: 'Shot', editable: false });
      const all = await results<Record<string, unknown>>(site, 'schema_field_read', { type: 'Shot' });
      assert.ok('sg_custom_note' in all && 'code' in all && 'id' in all);
      const st = await results<Record<string, Record<string, unknown>>>(site, 'schema_field_read', { type: 'Shot', field_name: 'sg_status_list' });
      assert.ok(((st.sg_status_list!.properties as Record<string, { value: unknown }>).valid_values!.value as string[]).includes('ip'));
      const ents = await results<Record<string, Record<string, unknown>>>(site, 'schema_entity_read', {});
      assert.deepEqual(ents.CustomEntity01!.name, { value: 'CustomEntity01', editable: false });
      for (const t of ['Project', 'Sequence', 'Shot', 'Asset', 'Task', 'Step', 'Version', 'PublishedFile', 'PublishedFileType', 'Note', 'Playlist',
        'HumanUser', 'ApiUser', 'Group', 'EventLogEntry', 'PipelineConfiguration', 'LocalStorage', 'FilesystemLocation']) assert.ok(t in ents, t);
      const full = await results<Record<string, Record<string, unknown>>>(site, 'schema_read');
      assert.ok('sg_weight' in full.CustomEntity01!);
      const shot = await create(site, 'Shot', { code: 'custom', sg_priority: 'high' });
      const ce = await create(site, 'CustomEntity01', { code: 'c1', sg_shots: [shot], sg_weight: 1.5 }, ['sg_shots']);
      assert.deepEqual(ce.sg_shots, [{ type: 'Shot', id: shot.id, name: 'custom' }]);
      assert.equal((await faultOf(site, 'create', { type: 'Shot', fields: [{ field_name: 'sg_priority', value: 'urgent' }] })).error_code, 103);
    }
  });

  it('summarize: totals and groups', async (t) => {
    {
      const { site } = await withSite(t, { seed: 'demo' });
      const all = { logical_operator: 'and', conditions: [] };
      const r = await results<{ summaries: Record<string, unknown>; groups: Array<Record<string, unknown>> }>(site, 'summarize', {
        type: 'Shot', filters: all,
        summaries: [{ field: 'id', type: 'count' }, { field: 'sg_cut_out', type: 'maximum' }, { field: 'sg_cut_in', type: 'sum' }, { field: 'code', type: 'record_count' },
          { field: 'sg_status_list', type: 'status_percentage', value: 'ip' }],
        grouping: [{ field: 'project', type: 'exact', direction: 'asc' }, { field: 'sg_status_list', type: 'exact', direction: 'desc' }],
      });
      assert.deepEqual(r.summaries, { id: 12, sg_cut_out: 1072, sg_cut_in: 12 * 1001, code: 12, sg_status_list: 33 });
      assert.equal(r.groups.length, 2);
      assert.equal(r.groups[0]!.group_name, 'Demo Alpha');
      assert.deepEqual((r.groups[0]!.group_value as Entity).type, 'Project');
      assert.deepEqual((r.groups[0]!.groups as Array<Record<string, unknown>>).map((g) => [g.group_value, (g.summaries as Record<string, unknown>).id]), [['wtg', 4], ['ip', 2]]);
      const none = await results<{ summaries: Record<string, unknown> }>(site, 'summarize', {
        type: 'Task', filters: { logical_operator: 'and', conditions: [{ path: 'entity.Shot.sg_sequence.Sequence.code', relation: 'is', values: ['SQ10'] }] },
        summaries: [{ field: 'id', type: 'count' }, { field: 'due_date', type: 'latest' }, { field: 'duration', type: 'average' }],
      });
      assert.deepEqual(none.summaries, { id: 18, due_date: null, duration: 480 });
    }
  });

  it('records survive a restart with a db file; event ids keep increasing', async (t) => {
    const db = join(tempDir(t, 'sgeventd-site-'), 'site.db');
    let shotId: number;
    let lastId: number;
    {
      const { site } = await withSite(t, { db, seed: 'demo' });
      shotId = (await create(site, 'Shot', { code: 'persist', assets: [{ type: 'Asset', id: 1 }] })).id;
      lastId = await lastEventId(site);
      await site.close();
    }
    {
      const { site } = await withSite(t, { db, seed: 'demo' });
      const [s] = await find(site, 'Shot', [['id', 'is', shotId]], ['code', 'assets']);
      assert.equal(s!.code, 'persist');
      assert.equal((s!.assets as Entity[]).length, 1);
      assert.equal((await find(site, 'Project', [])).length, 2, 'the seed does not run twice');
      assert.equal(await lastEventId(site), lastId);
      await update(site, 'Shot', shotId, { code: 'persist2' });
      assert.ok(await lastEventId(site) > lastId);
    }
  });

  it('late event ids: held ids are allocated but invisible until released; burnt ids leave permanent gaps', async (t) => {
    {
      const { site } = await withSite(t, {});
      await create(site, 'Sequence', { code: 'before' });
      const start = await lastEventId(site);
      site.holdEvents(2);
      await create(site, 'Sequence', { code: 'late' });
      await create(site, 'Sequence', { code: 'after' });
      const visible = (await events(site, start)).map((e) => e.id);
      const hidden = site.hiddenEventIds();
      assert.equal(hidden.length, 2);
      assert.ok(visible.every((id) => !hidden.includes(id)));
      assert.ok(Math.max(...visible) > Math.max(...hidden), 'later events are visible while earlier ids are still missing');
      assert.equal(site.releaseEvents(), 2);
      assert.deepEqual((await events(site, start)).map((e) => e.id), [...visible, ...hidden].sort((a, b) => a - b));
      const beforeBurn = await lastEventId(site);
      site.burnEventIds(5);
      await create(site, 'Sequence', { code: 'gap' });
      const [next] = await events(site, beforeBurn);
      assert.equal(next!.id, beforeBurn + 6);

      const admin = (path: string, body: Record<string, unknown>) => post(`${site.url}/admin/events/${path}`, JSON.stringify({ ...SCRIPT, ...body }));
      assert.equal((await post(`${site.url}/admin/events/hold`, JSON.stringify({ script_name: 'sgeventd', script_key: 'bad', count: 1 }))).status, 403);
      assert.equal((await admin('hold', { count: 1 })).status, 200);
      await create(site, 'Sequence', { code: 'held over http' });
      const h = await admin('hidden', {});
      assert.equal((h.json.ids as number[]).length, 1);
      assert.deepEqual((await admin('release', { ids: h.json.ids })).json, { released: 1 });
      assert.equal((await admin('burn', { count: 3 })).status, 200);
      const { session_id } = await results<{ session_id: string }>(site, 'get_session_token');
      assert.equal((await post(`${site.url}/admin/sessions/expire`, JSON.stringify(SCRIPT))).status, 200);
      assert.equal((await faultOf(site, 'read', { type: 'Shot' }, { session_token: session_id })).error_code, 102);
    }
  });

  it('fault injection: 503s and dropped connections at the given rate; latency delays every answer', async (t) => {
    let n = 0;
    const seq = [0.1, 0.2, 0.1, 0.9, 0.9, 0.9];
    {
      const { site } = await withSite(t, { faultRate: 0.5, random: () => seq[n++ % seq.length]! });
      const body = JSON.stringify({ method_name: 'info', params: [] });
      const first = await post(`${site.url}/api3/json`, body);
      assert.equal(first.status, 503);
      await assert.rejects(post(`${site.url}/api3/json`, body));
      const ok = await post(`${site.url}/api3/json`, body);
      assert.equal(ok.status, 200);
      assert.ok(Array.isArray(ok.json.version));
    }
    {
      const latencyMs = 300;
      const { site } = await withSite(t, { latencyMs });
      // A lower bound only: a busy machine makes an answer later, never earlier.
      for (const method of ['info', 'read']) {
        const started = performance.now();
        const body = await rpc(site, method, method === 'info' ? undefined : { type: 'Project', return_fields: ['id'] }, method === 'info' ? null : SCRIPT);
        const elapsed = performance.now() - started;
        assert.ok(method === 'info' ? Array.isArray(body.version) : body.results !== undefined, `${method} answered`);
        // Timers round to whole milliseconds.
        assert.ok(elapsed >= latencyMs - 1, `${method} answered after ${elapsed.toFixed(1)} ms, before the ${latencyMs} ms latency`);
      }
    }
    await assert.rejects(startSite({ faultRate: 2 }), (e: Error & { code?: string }) => e.code === 'CONFIG_INVALID');
  });
});
