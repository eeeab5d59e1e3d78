/**
 * The api3 methods, presets and rules the official Python client uses beyond
 * CRUD, over real HTTP, with the request shapes `shotgun_api3` sends (its
 * `Shotgun.follow`, `activity_stream_read`, `text_search`, ... build them).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSite, type RunningSite } from '../../src/site/index.ts';
import { SCRIPT, create, events, faultOf, find, lastEventId, results, rpc, update, type Entity } from './helpers.ts';

describe('site: methods of the official client', () => {
  let site: RunningSite;
  let project: Entity;
  let human: Entity;
  let shot: Entity;

  before(async () => {
    site = await startSite({});
    project = await create(site, 'Project', { name: 'P', tank_name: 'p' });
    human = await create(site, 'HumanUser', { name: 'Hu Man', login: 'human', password_proxy: 'secret', locked_until: null, email_notes: true }, ['password_proxy']);
    shot = await create(site, 'Shot', { code: 'sh010', project, head_in: 1001 });
  });
  after(async () => site.close());

  it('snapshot fields and types: password_proxy is settable and never read back; LocalStorage.uuid is made', async () => {
    assert.equal(human.password_proxy, null);
    const [u] = await find(site, 'HumanUser', [['id', 'is', human.id]], ['email_notes', 'locked_until', 'password_proxy']);
    assert.equal(u!.email_notes, true);
    assert.equal(u!.password_proxy, null);
    const ls = await create(site, 'LocalStorage', { code: 'store' }, ['uuid']);
    assert.match(String(ls.uuid), /^[0-9a-f-]{36}$/);
    const v = await create(site, 'Version', { code: 'v1', project, sg_frames_aspect_ratio: 13.3, sg_movie_aspect_ratio: 1.78 }, ['sg_frames_aspect_ratio']);
    assert.equal(v.sg_frames_aspect_ratio, 13.3);
    for (const type of ['Reply', 'TimeLog', 'Cut', 'CutItem', 'CustomEntity01', 'CustomNonProjectEntity01']) {
      assert.ok(type in await results<Record<string, unknown>>(site, 'schema_entity_read', null), type);
    }
    // A password field cannot be filtered on.
    assert.equal((await faultOf(site, 'read', { type: 'HumanUser', return_fields: ['id'], filters: { logical_operator: 'and', conditions: [{ path: 'password_proxy', relation: 'is_not', values: [null] }] } })).error_code, 103);
  });

  it('a human user logs in with the password set through password_proxy', async () => {
    const rows = await results<{ entities: Entity[] }>(site, 'read', { type: 'Shot', return_fields: ['code'], filters: { logical_operator: 'and', conditions: [] } }, { user_login: 'human', user_password: 'secret' });
    assert.equal(rows.entities.length, 1);
    assert.equal((await faultOf(site, 'read', { type: 'Shot' }, { user_login: 'human', user_password: 'wrong' })).error_code, 102);
  });

  it('sudo_as_login: a script acts as the user; a human user is refused before the target is looked at', async () => {
    const v = await create(site, 'Version', { code: 'sudo', project }, ['created_by'], { ...SCRIPT, sudo_as_login: 'human' } as typeof SCRIPT);
    assert.deepEqual(v.created_by, { type: 'HumanUser', id: human.id, name: 'Hu Man' });
    const f = await faultOf(site, 'read', { type: 'Shot', return_fields: ['id'] }, { user_login: 'human', user_password: 'secret', sudo_as_login: 'blah' });
    assert.equal(f.error_code, 103);
    assert.ok(f.message.startsWith("The user does not have permission to 'sudo':"));
    // A human user's session token may not sudo either; a script's may.
    const humanToken = (await results<{ session_id: string }>(site, 'get_session_token', undefined, { user_login: 'human', user_password: 'secret' })).session_id;
    assert.equal((await faultOf(site, 'read', { type: 'Shot', return_fields: ['id'] }, { session_token: humanToken, sudo_as_login: 'human' })).error_code, 103);
    const scriptToken = (await results<{ session_id: string }>(site, 'get_session_token')).session_id;
    const v2 = await create(site, 'Version', { code: 'sudo2', project }, ['created_by'], { session_token: scriptToken, sudo_as_login: 'human' } as unknown as typeof SCRIPT);
    assert.equal((v2.created_by as Entity).id, human.id);
  });

  it('follow / unfollow / followers / following', async () => {
    const task = await create(site, 'Task', { content: 'anim', project });
    const followed = await results<Record<string, unknown>>(site, 'follow', { user: { type: 'HumanUser', id: human.id }, entity: { type: 'Shot', id: shot.id } });
    assert.deepEqual(followed, { followed: true, user: { type: 'HumanUser', id: human.id }, entity: { type: 'Shot', id: shot.id } });
    await results(site, 'follow', { user: { type: 'HumanUser', id: human.id }, entity: { type: 'Shot', id: shot.id } });
    await results(site, 'follow', { user: { type: 'HumanUser', id: human.id }, entity: { type: 'Task', id: task.id } });
    assert.deepEqual(await results(site, 'followers', { entity: { type: 'Shot', id: shot.id } }), [{ type: 'HumanUser', id: human.id, name: 'Hu Man', status: 'act', valid: 'valid' }]);
    assert.equal((await results<unknown[]>(site, 'following', { user: { type: 'HumanUser', id: human.id } })).length, 2);
    assert.deepEqual(await results(site, 'following', { user: { type: 'HumanUser', id: human.id }, entity_type: 'Task' }), [{ type: 'Task', id: task.id }]);
    assert.equal((await results<unknown[]>(site, 'following', { user: { type: 'HumanUser', id: human.id }, project: { type: 'Project', id: project.id }, entity_type: 'Shot' })).length, 1);
    const un = await results<Record<string, unknown>>(site, 'unfollow', { user: { type: 'HumanUser', id: human.id }, entity: { type: 'Shot', id: shot.id } });
    assert.equal(un.unfollowed, true);
    assert.deepEqual(await results(site, 'followers', { entity: { type: 'Shot', id: shot.id } }), []);
    assert.equal((await faultOf(site, 'follow', { user: { type: 'HumanUser', id: 99999 }, entity: { type: 'Shot', id: shot.id } })).error_code, 103);
  });

  it('activity_stream: the record\'s creation and its Notes\', newest first; limit; entity_fields', async () => {
    const s = await create(site, 'Shot', { code: 'activity', project });
    const note = await create(site, 'Note', { content: 'Test!', project, note_links: [s] });
    const base = { type: 'Shot', id: s.id, max_id: null, min_id: null, limit: null, entity_fields: {} };
    const all = await results<{ updates: Array<Record<string, unknown>>; entity_type: string; entity_id: number; earliest_update_id: number; latest_update_id: number }>(site, 'activity_stream', base);
    assert.deepEqual(Object.keys(all).sort(), ['earliest_update_id', 'entity_id', 'entity_type', 'latest_update_id', 'updates']);
    assert.equal(all.updates.length, 2);
    assert.deepEqual((all.updates[0]!.primary_entity as Entity).id, note.id);
    assert.equal(all.updates[0]!.update_type, 'create');
    assert.equal(all.latest_update_id, all.updates[0]!.id);
    const one = await results<{ updates: Array<{ meta: { entity_type: string } }> }>(site, 'activity_stream', { ...base, limit: 1 });
    assert.equal(one.updates.length, 1);
    assert.equal(one.updates[0]!.meta.entity_type, 'Note');
    const extra = await results<{ updates: Array<{ primary_entity: Record<string, unknown> }> }>(site, 'activity_stream', { ...base, entity_fields: { Shot: ['created_by.HumanUser.image'], Note: ['content'] } });
    assert.deepEqual(Object.keys(extra.updates[0]!.primary_entity).sort(), ['content', 'id', 'name', 'status', 'type']);
    assert.deepEqual(Object.keys(extra.updates[1]!.primary_entity).sort(), ['created_by.HumanUser.image', 'id', 'name', 'status', 'type']);
  });

  it('text_search: every term must match, per-type filters, project_ids, max_results; short text is a fault', async () => {
    for (let i = 0; i < 3; i++) {
      await create(site, 'Shot', { code: `zq Text Search ${i}`, project });
      await create(site, 'Asset', { code: `zq Text Search ${i}`, project });
    }
    const params = (entity_types: Record<string, unknown>, max_results: number | null = null) => ({ text: 'ZQ text search', entity_types, project_ids: [], max_results });
    const r = await results<{ matches: Array<Record<string, unknown>>; terms: string[] }>(site, 'query_display_name_cache', params({ Shot: { logical_operator: 'and', conditions: [] } }));
    assert.deepEqual(r.terms, ['zq', 'text', 'search']);
    assert.equal(r.matches.length, 3);
    assert.deepEqual(Object.keys(r.matches[0]!).sort(), ['id', 'image', 'links', 'name', 'project_id', 'status', 'type']);
    assert.equal(r.matches[0]!.project_id, project.id);
    assert.equal((await results<{ matches: unknown[] }>(site, 'query_display_name_cache', params({ Shot: [], Asset: [] }, 4))).matches.length, 4);
    const both = await results<{ matches: Entity[] }>(site, 'query_display_name_cache', params({
      Shot: { logical_operator: 'and', conditions: [{ path: 'code', relation: 'ends_with', values: ['1'] }] },
      Asset: { logical_operator: 'or', conditions: [{ path: 'code', relation: 'ends_with', values: ['2'] }] },
    }));
    assert.deepEqual(both.matches.map((m) => [m.type, m.name]), [['Shot', 'zq Text Search 1'], ['Asset', 'zq Text Search 2']]);
    assert.equal((await results<{ matches: unknown[] }>(site, 'query_display_name_cache', { ...params({ Shot: [] }), project_ids: [project.id + 1000] })).matches.length, 0);
    assert.equal((await faultOf(site, 'query_display_name_cache', { ...params({ Shot: [] }), text: 'zq' })).error_code, 103);
  });

  it('note_thread: the Note then its Replies, each as a find gives it', async () => {
    const note = await create(site, 'Note', { content: 'Thread', project });
    const reply = await create(site, 'Reply', { content: 'Reply Content', entity: note, user: { type: 'HumanUser', id: human.id } });
    const thread = await results<Array<Record<string, unknown>>>(site, 'note_thread_contents', { note_id: note.id, entity_fields: { Reply: ['content'] } });
    assert.equal(thread.length, 2);
    const [n] = await find(site, 'Note', [['id', 'is', note.id]], ['content', 'created_at', 'created_by']);
    assert.deepEqual(thread[0], n);
    assert.equal(thread[1]!.id, reply.id);
    assert.equal(thread[1]!.type, 'Reply');
    assert.deepEqual(thread[1]!.user, { type: 'HumanUser', id: human.id, name: 'Hu Man', image: null });
    assert.equal((await faultOf(site, 'note_thread_contents', { note_id: 999999, entity_fields: {} })).error_code, 103);
  });

  it('work_schedule_read / work_schedule_update: studio, project and user exceptions', async () => {
    const user = { type: 'HumanUser', id: human.id, name: 'Hu Man' };
    const proj = { type: 'Project', id: project.id, name: 'P' };
    const read = () => results<Record<string, { reason: string; working: boolean; description: string | null }>>(site, 'work_schedule_read', { start_date: '2012-01-01', end_date: '2012-01-07', project: proj, user });
    const before = await read();
    assert.equal(Object.keys(before).length, 7);
    assert.deepEqual(before['2012-01-01'], { description: null, reason: 'STUDIO_WORK_WEEK', working: false });
    assert.deepEqual(before['2012-01-02'], { description: null, reason: 'STUDIO_WORK_WEEK', working: true });
    const upd = (date: string, description: string, project: unknown, u: unknown) => results(site, 'work_schedule_update', { date, working: false, description, project, user: u, recalculate_field: null });
    assert.deepEqual(await upd('2012-01-02', 'Studio Holiday', null, null), { date: '2012-01-02', description: 'Studio Holiday', project: null, user: null, working: false });
    assert.deepEqual(await upd('2012-01-03', 'Project Holiday', proj, null), { date: '2012-01-03', description: 'Project Holiday', project: proj, user: null, working: false });
    assert.deepEqual(await upd('2012-01-04', 'Artist Holiday', null, user), { date: '2012-01-04', description: 'Artist Holiday', project: null, user, working: false });
    const after = await read();
    assert.equal(after['2012-01-02']!.reason, 'STUDIO_EXCEPTION');
    assert.equal(after['2012-01-03']!.reason, 'PROJECT_EXCEPTION');
    assert.equal(after['2012-01-04']!.reason, 'USER_EXCEPTION');
    assert.equal((await faultOf(site, 'work_schedule_update', { date: '2012-01-05', working: false, project: proj, user })).error_code, 103);
    assert.equal((await faultOf(site, 'work_schedule_read', { start_date: '2012/01/01', end_date: '2012-01-07' })).error_code, 103);
  });

  it('preferences_read: all, some, unknown names dropped', async () => {
    const all = await results<Record<string, unknown>>(site, 'preferences_read', { prefs: [] });
    assert.equal(all.hours_per_day, 8.0);
    assert.ok('view_master_settings' in all);
    assert.deepEqual(await results(site, 'preferences_read', { prefs: ['date_component_order', 'support_local_storage', 'email_notifications'] }),
      { date_component_order: 'month_day', support_local_storage: true });
  });

  it('schema_field_create / update / delete write DisplayColumn events; names get _1 on a clash', async () => {
    const from = await lastEventId(site);
    const create1 = { type: 'Asset', data_type: 'number', properties: [{ property_name: 'name', value: 'api tests number field' }] };
    assert.equal(await results(site, 'schema_field_create', create1), 'sg_api_tests_number_field');
    assert.equal(await results(site, 'schema_field_create', create1), 'sg_api_tests_number_field_1');
    const asset = await create(site, 'Asset', { code: 'a', project, sg_api_tests_number_field: 0 }, ['sg_api_tests_number_field']);
    assert.equal(asset.sg_api_tests_number_field, 0);
    assert.equal((await find(site, 'Asset', [['id', 'is', asset.id], ['sg_api_tests_number_field', 'is_not', null]])).length, 1);
    await update(site, 'Asset', asset.id, { sg_api_tests_number_field: null });
    assert.equal((await find(site, 'Asset', [['id', 'is', asset.id], ['sg_api_tests_number_field', 'is_not', null]])).length, 0);
    assert.equal(await results(site, 'schema_field_update', { type: 'Asset', field_name: 'sg_api_tests_number_field', properties: [{ property_name: 'description', value: 'a test' }] }), true);
    const rec = await results<Record<string, { description: { value: string } }>>(site, 'schema_field_read', { type: 'Asset', field_name: 'sg_api_tests_number_field' });
    assert.equal(rec.sg_api_tests_number_field!.description.value, 'a test');
    assert.equal(await results(site, 'schema_field_delete', { type: 'Asset', field_name: 'sg_api_tests_number_field_1' }), true);
    assert.equal((await faultOf(site, 'schema_field_read', { type: 'Asset', field_name: 'sg_api_tests_number_field_1' })).error_code, 103);
    assert.equal((await faultOf(site, 'schema_field_delete', { type: 'Asset', field_name: 'code' })).error_code, 103);
    assert.equal((await faultOf(site, 'schema_field_create', { type: 'Asset', data_type: 'password', properties: [{ property_name: 'name', value: 'x' }] })).error_code, 103);
    const ev = (await events(site, from)).filter((e) => String(e.event_type).startsWith('Shotgun_DisplayColumn_'));
    assert.deepEqual(ev.map((e) => e.event_type), ['Shotgun_DisplayColumn_New', 'Shotgun_DisplayColumn_New', 'Shotgun_DisplayColumn_Change', 'Shotgun_DisplayColumn_Retirement']);
    assert.deepEqual((ev[0]!.meta as Record<string, unknown>).field_name, 'sg_api_tests_number_field');
    assert.deepEqual((ev[2]!.meta as Record<string, unknown>).new_value, 'a test');
  });
});

describe('site: additional_filter_presets', () => {
  let site: RunningSite;
  let project: Entity;
  let shotA: Entity; let shotB: Entity;
  let a1: Entity; let a2: Entity; let b1: Entity;

  const read = (type: string, presets: unknown, conditions: unknown[] = []) => rpc(site, 'read', {
    type, return_fields: ['id'], filters: { logical_operator: 'and', conditions }, return_only: 'active',
    paging: { current_page: 1, entities_per_page: 500 }, additional_filter_presets: presets,
  });
  const idsOf = async (type: string, presets: unknown, conditions: unknown[] = []) => {
    const body = await read(type, presets, conditions);
    assert.notEqual(body.exception, true, JSON.stringify(body));
    return ((body.results as { entities: Entity[] }).entities).map((e) => e.id).sort((x, y) => x - y);
  };

  before(async () => {
    site = await startSite({});
    project = await create(site, 'Project', { name: 'P', tank_name: 'p' });
    shotA = await create(site, 'Shot', { code: 'A', project });
    shotB = await create(site, 'Shot', { code: 'B', project });
    const early = await create(site, 'Step', { code: 'Layout', list_order: 1 });
    const late = await create(site, 'Step', { code: 'Comp', list_order: 9 });
    const lateTask = await create(site, 'Task', { content: 'comp', project, entity: shotA, step: late });
    const earlyTask = await create(site, 'Task', { content: 'lay', project, entity: shotA, step: early });
    a1 = await create(site, 'Version', { code: 'a1', project, entity: shotA, sg_task: lateTask });
    a2 = await create(site, 'Version', { code: 'a2', project, entity: shotA, sg_task: earlyTask });
    b1 = await create(site, 'Version', { code: 'b1', project, entity: shotB });
  });
  after(async () => site.close());

  it('Version LATEST ENTITIES_CREATED_AT: the newest per entity, among what the filters match', async () => {
    const latest = [{ preset_name: 'LATEST', latest_by: 'ENTITIES_CREATED_AT' }];
    assert.deepEqual(await idsOf('Version', latest), [a2.id, b1.id]);
    assert.deepEqual(await idsOf('Version', latest, [{ path: 'id', relation: 'is', values: [a1.id] }]), [a1.id]);
  });

  it('Version LATEST BY_PIPELINE_STEP_NUMBER_AND_ENTITIES_CREATED_AT: the highest step first', async () => {
    assert.deepEqual(await idsOf('Version', [{ preset_name: 'LATEST', latest_by: 'BY_PIPELINE_STEP_NUMBER_AND_ENTITIES_CREATED_AT' }]), [a1.id, b1.id]);
  });

  it('Version CUT_SHOT_VERSIONS: Versions of the Shots of the Cut\'s CutItems', async () => {
    const cut = await create(site, 'Cut', { code: 'cut', project, revision_number: 1 });
    await create(site, 'CutItem', { code: 'i1', project, cut, shot: shotB });
    assert.deepEqual(await idsOf('Version', [{ preset_name: 'CUT_SHOT_VERSIONS', cut_id: cut.id }]), [b1.id]);
  });

  it('Cut LATEST REVISION_NUMBER and PublishedFile LATEST', async () => {
    await create(site, 'Cut', { code: 'edit', project, revision_number: 1 });
    const c2 = await create(site, 'Cut', { code: 'edit', project, revision_number: 2 });
    assert.deepEqual(await idsOf('Cut', [{ preset_name: 'LATEST', latest_by: 'REVISION_NUMBER' }], [{ path: 'code', relation: 'is', values: ['edit'] }]), [c2.id]);
    const p1 = await create(site, 'PublishedFile', { code: 'f', project, entity: shotA, version_number: 3 });
    await create(site, 'PublishedFile', { code: 'f', project, entity: shotA, version_number: 2 });
    assert.deepEqual(await idsOf('PublishedFile', [{ preset_name: 'LATEST', latest_by: 'VERSION_NUMBER' }]), [p1.id]);
  });

  it('faults: not a list, not a dict, no name, unknown name, unknown latest_by, two LATEST, a preset of another type', async () => {
    for (const bad of [3, [3], [{}], [{ preset_name: 'BAD_FILTER' }], [{ preset_name: 'LATEST', latest_by: 'ENTITY_CREATED_AT' }],
      [{ preset_name: 'LATEST', latest_by: 'ENTITIES_CREATED_AT' }, { preset_name: 'LATEST', latest_by: 'BY_PIPELINE_STEP_NUMBER_AND_ENTITIES_CREATED_AT' }]]) {
      const body = await read('Version', bad);
      assert.equal(body.error_code, 103, JSON.stringify(bad));
    }
    assert.equal((await read('Shot', [{ preset_name: 'LATEST', latest_by: 'ENTITIES_CREATED_AT' }])).error_code, 103);
    assert.equal((await read('Shot', [{ preset_name: 'CUT_SHOT_VERSIONS', cut_id: 1 }])).error_code, 103);
  });
});
