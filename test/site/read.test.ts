import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSite, type RunningSite } from '../../src/site/index.ts';
import { MAX_FILTER_DEPTH, MAX_FILTER_VALUES } from '../../src/site/filters.ts';
import { SCRIPT, create, find, faultOf, results, update, type Entity, type Fault } from './helpers.ts';
import { onCleanup } from '../support/index.ts';

const ids = (rows: Entity[]) => rows.map((r) => r.id).sort((a, b) => a - b);
const today = new Date().toISOString().slice(0, 10);
const dayOffset = (n: number) => new Date(Date.now() + n * 86400e3).toISOString().slice(0, 10);

describe('site read: relations per field type', () => {
  let site: RunningSite;
  let project: Entity;
  let seq: Entity;
  let seq2: Entity;
  let a: Entity; let b: Entity; let c: Entity;
  let assetX: Entity; let assetY: Entity;
  let taskA: Entity; let taskB: Entity;

  before(async () => {
    site = await startSite({});
    project = await create(site, 'Project', { name: 'P', tank_name: 'p' });
    seq = await create(site, 'Sequence', { code: 'SEQ_A', project });
    seq2 = await create(site, 'Sequence', { code: 'SEQ_B', project });
    assetX = await create(site, 'Asset', { code: 'xwing', project, sg_asset_type: 'Vehicle', tag_list: ['hero', 'ship'] });
    assetY = await create(site, 'Asset', { code: 'yoda', project, sg_asset_type: 'Character' });
    a = await create(site, 'Shot', { code: 'alpha_010', project, sg_sequence: seq, sg_cut_in: 1001, sg_frame_rate: 24.0, assets: [assetX], tag_list: ['hero'], sg_status_list: 'ip', image: 'http://x/img.png' });
    b = await create(site, 'Shot', { code: 'beta_020', project, sg_sequence: seq2, sg_cut_in: 1050, sg_frame_rate: 25.0, assets: [assetX, assetY], sg_status_list: 'fin' });
    c = await create(site, 'Shot', { code: 'Gamma%_030', project, sg_cut_in: 2000, sg_status_list: 'wtg' });
    taskA = await create(site, 'Task', { content: 'anim', project, entity: a, start_date: today, due_date: dayOffset(10), duration: 600, sg_uuid: 'de305d54-75b4-431b-adb2-eb6b9e546014' });
    taskB = await create(site, 'Task', { content: 'comp', project, entity: assetX, start_date: dayOffset(-40), duration: 60 });
  });
  after(async () => site.close());

  it('text: is, is_not, contains, not_contains, starts_with, ends_with, in, not_in', async () => {
    assert.deepEqual(ids(await find(site, 'Shot', [['code', 'is', 'alpha_010']])), [a.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['code', 'is_not', 'alpha_010']])), [b.id, c.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['code', 'contains', 'ta_0']])), [b.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['code', 'contains', '%_']])), [c.id], 'LIKE wildcards are escaped');
    assert.deepEqual(ids(await find(site, 'Shot', [['code', 'not_contains', 'a_0']])), [c.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['code', 'starts_with', 'ALPHA']])), [a.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['code', 'ends_with', '_020']])), [b.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['code', 'in', ['alpha_010', 'beta_020']]])), [a.id, b.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['code', 'not_in', ['alpha_010', 'beta_020']]])), [c.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['description', 'is', null]])), [a.id, b.id, c.id]);
  });

  it('number and float: is, less_than, greater_than, between, not_between, in, not_in', async () => {
    assert.deepEqual(ids(await find(site, 'Shot', [['sg_cut_in', 'is', 1050]])), [b.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['sg_cut_in', 'less_than', 1050]])), [a.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['sg_cut_in', 'greater_than', 1001]])), [b.id, c.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['sg_cut_in', 'between', [1000, 1100]]])), [a.id, b.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['sg_cut_in', 'not_between', [1000, 1100]]])), [c.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['sg_cut_in', 'in', [1001, 2000]]])), [a.id, c.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['sg_cut_in', 'not_in', [1001, 2000]]])), [b.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['sg_frame_rate', 'greater_than', 24.5]])), [b.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['id', 'in', [a.id, c.id]]])), [a.id, c.id]);
  });

  it('checkbox, list, status_list, uuid, image', async () => {
    await update(site, 'Project', project.id, { archived: false });
    assert.equal((await find(site, 'Project', [['archived', 'is', false]])).length, 1);
    assert.equal((await find(site, 'Project', [['archived', 'is', true]])).length, 0);
    assert.equal((await find(site, 'Project', [['archived', 'is_not', true]])).length, 1);
    assert.deepEqual(ids(await find(site, 'Asset', [['sg_asset_type', 'is', 'Vehicle']])), [assetX.id]);
    assert.deepEqual(ids(await find(site, 'Asset', [['sg_asset_type', 'in', ['Vehicle', 'Character']]])), [assetX.id, assetY.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['sg_status_list', 'is_not', 'fin']])), [a.id, c.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['sg_status_list', 'not_in', ['fin', 'ip']]])), [c.id]);
    assert.deepEqual(ids(await find(site, 'Task', [['sg_uuid', 'is', 'de305d54-75b4-431b-adb2-eb6b9e546014']])), [taskA.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['image', 'is_not', null]])), [a.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['image', 'is', null]])), [b.id, c.id]);
  });

  it('date, date_time and duration, including the time windows', async () => {
    assert.deepEqual(ids(await find(site, 'Task', [['start_date', 'is', today]])), [taskA.id]);
    assert.deepEqual(ids(await find(site, 'Task', [['start_date', 'less_than', today]])), [taskB.id]);
    assert.deepEqual(ids(await find(site, 'Task', [['start_date', 'in_calendar_day', 0]])), [taskA.id]);
    assert.deepEqual(ids(await find(site, 'Task', [['start_date', 'in_last', 60, 'DAY']])), [taskA.id, taskB.id]);
    assert.deepEqual(ids(await find(site, 'Task', [['start_date', 'not_in_last', 7, 'DAY']])), [taskB.id]);
    assert.deepEqual(ids(await find(site, 'Task', [['due_date', 'in_next', 2, 'WEEK']])), [taskA.id]);
    assert.deepEqual(ids(await find(site, 'Task', [['start_date', 'between', [dayOffset(-50), dayOffset(-30)]]])), [taskB.id]);
    assert.deepEqual(ids(await find(site, 'Task', [['created_at', 'in_last', 1, 'HOUR']])), [taskA.id, taskB.id]);
    assert.deepEqual(ids(await find(site, 'Task', [['created_at', 'greater_than', '2000-01-01T00:00:00Z']])), [taskA.id, taskB.id]);
    assert.deepEqual(ids(await find(site, 'Task', [['created_at', 'in_calendar_year', -1]])), []);
    assert.deepEqual(ids(await find(site, 'Task', [['duration', 'between', [100, 1000]]])), [taskA.id]);
    assert.deepEqual(ids(await find(site, 'Task', [['duration', 'less_than', 100]])), [taskB.id]);
  });

  it('entity: is, is_not, in, not_in, type_is, type_is_not, name_*', async () => {
    assert.deepEqual(ids(await find(site, 'Shot', [['sg_sequence', 'is', { type: 'Sequence', id: seq.id, name: 'ignored' }]])), [a.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['sg_sequence', 'is', null]])), [c.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['sg_sequence', 'is_not', { type: 'Sequence', id: seq.id }]])), [b.id, c.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['sg_sequence', 'is_not', null]])), [a.id, b.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['sg_sequence', 'in', [{ type: 'Sequence', id: seq.id }]]])), [a.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['sg_sequence', 'not_in', [{ type: 'Sequence', id: seq.id }]]])), [b.id, c.id]);
    assert.deepEqual(ids(await find(site, 'Task', [['entity', 'type_is', 'Asset']])), [taskB.id]);
    assert.deepEqual(ids(await find(site, 'Task', [['entity', 'type_is_not', 'Asset']])), [taskA.id]);
    assert.deepEqual(ids(await find(site, 'Task', [['entity', 'name_contains', 'WING']])), [taskB.id]);
    assert.deepEqual(ids(await find(site, 'Task', [['entity', 'name_not_contains', 'wing']])), [taskA.id]);
    assert.deepEqual(ids(await find(site, 'Task', [['entity', 'name_is', 'alpha_010']])), [taskA.id]);
    assert.deepEqual(ids(await find(site, 'Task', [['entity', 'name_starts_with', 'alp']])), [taskA.id]);
    assert.deepEqual(ids(await find(site, 'Task', [['entity', 'name_ends_with', 'ing']])), [taskB.id]);
  });

  it('multi_entity: is means contains; is_not, in, not_in, type_is, name_contains; back-references filter too', async () => {
    assert.deepEqual(ids(await find(site, 'Shot', [['assets', 'is', { type: 'Asset', id: assetY.id }]])), [b.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['assets', 'is_not', { type: 'Asset', id: assetY.id }]])), [a.id, c.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['assets', 'in', [{ type: 'Asset', id: assetX.id }, { type: 'Asset', id: assetY.id }]]])), [a.id, b.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['assets', 'not_in', [{ type: 'Asset', id: assetX.id }]]])), [c.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['assets', 'is', null]])), [c.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['assets', 'type_is', 'Asset']])), [a.id, b.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['assets', 'name_contains', 'yod']])), [b.id]);
    assert.deepEqual(ids(await find(site, 'Asset', [['shots', 'is', { type: 'Shot', id: a.id }]])), [assetX.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['tasks', 'is', { type: 'Task', id: taskA.id }]])), [a.id]);
    assert.deepEqual(ids(await find(site, 'Sequence', [['shots', 'name_contains', 'beta']])), [seq2.id]);
  });

  it('tag_list: is means contains; name_contains; is_not', async () => {
    assert.deepEqual(ids(await find(site, 'Asset', [['tag_list', 'is', 'ship']])), [assetX.id]);
    assert.deepEqual(ids(await find(site, 'Asset', [['tag_list', 'is_not', 'ship']])), [assetY.id]);
    assert.deepEqual(ids(await find(site, 'Asset', [['tag_list', 'name_contains', 'er']])), [assetX.id]);
  });

  it('dotted link paths, through entity and multi_entity links', async () => {
    assert.deepEqual(ids(await find(site, 'Shot', [['sg_sequence.Sequence.code', 'is', 'SEQ_A']])), [a.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['sg_sequence.Sequence.code', 'is_not', 'SEQ_A']])), [b.id, c.id]);
    assert.deepEqual(ids(await find(site, 'Task', [['entity.Shot.sg_sequence.Sequence.code', 'starts_with', 'SEQ']])), [taskA.id]);
    assert.deepEqual(ids(await find(site, 'Task', [['entity.Shot.sg_sequence', 'is', { type: 'Sequence', id: seq.id }]])), [taskA.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['assets.Asset.sg_asset_type', 'is', 'Character']])), [b.id]);
    assert.deepEqual(ids(await find(site, 'Shot', [['project.Project.name', 'is', 'P']])), [a.id, b.id, c.id]);
  });

  it('nested and/or groups', async () => {
    const r = await results<{ entities: Entity[] }>(site, 'read', {
      type: 'Shot', return_fields: ['id'],
      filters: { logical_operator: 'or', conditions: [
        { path: 'code', relation: 'is', values: ['alpha_010'] },
        { logical_operator: 'and', conditions: [
          { path: 'sg_cut_in', relation: 'greater_than', values: [1010] },
          { path: 'sg_status_list', relation: 'is', values: ['wtg'] },
        ] },
      ] },
    });
    assert.deepEqual(ids(r.entities), [a.id, c.id]);
    const empty = await results<{ entities: Entity[] }>(site, 'read', { type: 'Shot', return_fields: ['id'], filters: { logical_operator: 'or', conditions: [] } });
    assert.deepEqual(empty.entities, []);
  });

  it('return fields: links carry name, dotted fields, unknown fields read null, type and id always', async () => {
    const [row] = await find(site, 'Shot', [['id', 'is', b.id]], ['code', 'sg_sequence', 'assets', 'project.Project.name', 'sg_sequence.Sequence.code', 'assets.Asset.code', 'plugin_ids', 'sg_plugin_ids']);
    assert.deepEqual(row, {
      type: 'Shot', id: b.id, code: 'beta_020',
      sg_sequence: { type: 'Sequence', id: (row!.sg_sequence as Entity).id, name: 'SEQ_B' },
      assets: [{ type: 'Asset', id: assetX.id, name: 'xwing' }, { type: 'Asset', id: assetY.id, name: 'yoda' }],
      'project.Project.name': 'P', 'sg_sequence.Sequence.code': 'SEQ_B', 'assets.Asset.code': ['xwing', 'yoda'],
      plugin_ids: null, sg_plugin_ids: null,
    });
    const [t] = await find(site, 'Task', [['id', 'is', taskA.id]], ['entity', 'step', 'task_assignees', 'duration', 'start_date', 'created_at']);
    assert.deepEqual(t!.entity, { type: 'Shot', id: a.id, name: 'alpha_010' });
    assert.equal(t!.step, null);
    assert.deepEqual(t!.task_assignees, []);
    assert.match(String(t!.created_at), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  });

  it('sorts on several fields, both directions, and through links', async () => {
    const r = await find(site, 'Shot', [], ['code'], { sorts: [{ field_name: 'sg_status_list', direction: 'desc' }, { field_name: 'code', direction: 'asc' }] });
    assert.deepEqual(r.map((x) => x.id), [c.id, a.id, b.id]);
    const r2 = await find(site, 'Shot', [['sg_sequence', 'is_not', null]], ['code'], { sorts: [{ field_name: 'sg_sequence.Sequence.code', direction: 'desc' }] });
    assert.deepEqual(r2.map((x) => x.id), [b.id, a.id]);
    const r3 = await find(site, 'Task', [], ['entity'], { sorts: [{ field_name: 'entity', direction: 'asc' }] });
    assert.deepEqual(r3.map((x) => x.id), [taskA.id, taskB.id], 'links sort by name: alpha_010 before xwing');
    const r4 = await find(site, 'Task', [], ['entity'], { sorts: [{ field_name: 'entity', direction: 'desc' }] });
    assert.deepEqual(r4.map((x) => x.id), [taskB.id, taskA.id]);
  });

  it('return_only retired, and include_archived_projects false', async () => {
    const tmp = await create(site, 'Shot', { code: 'tmp', project });
    assert.equal(await results(site, 'delete', { type: 'Shot', id: tmp.id }), true);
    assert.deepEqual(ids(await find(site, 'Shot', [], ['id'], { return_only: 'retired' })), [tmp.id]);
    assert.ok(!ids(await find(site, 'Shot', [])).includes(tmp.id));
    const p2 = await create(site, 'Project', { name: 'Old', archived: true });
    const old = await create(site, 'Shot', { code: 'archived_shot', project: p2 });
    assert.ok(ids(await find(site, 'Shot', [])).includes(old.id));
    assert.ok(!ids(await find(site, 'Shot', [], ['id'], { include_archived_projects: false })).includes(old.id));
  });

  it('bad filters are faults with code 103: unknown field, bad relation, wrong value type, unfilterable type', async () => {
    const read = (conditions: unknown[]) => faultOf(site, 'read', { type: 'Shot', return_fields: ['id'], filters: { logical_operator: 'and', conditions } });
    assert.equal((await read([{ path: 'nope', relation: 'is', values: [1] }])).error_code, 103);
    assert.equal((await read([{ path: 'code', relation: 'less_than_or_so', values: ['x'] }])).error_code, 103);
    assert.equal((await read([{ path: 'sg_cut_in', relation: 'is', values: ['ten'] }])).error_code, 103);
    assert.equal((await read([{ path: 'sg_metadata', relation: 'is', values: [null] }])).error_code, 103);
    assert.equal((await read([{ path: 'sg_sequence.Nope.code', relation: 'is', values: ['x'] }])).error_code, 103);
    assert.equal((await read([{ path: 'sg_sequence', relation: 'is', values: ['SEQ_A'] }])).error_code, 103);
    assert.equal((await faultOf(site, 'read', { type: 'NoSuchType', return_fields: ['id'] })).error_code, 103);
  });

  it('filters past the documented limits are 103 faults naming the limit, and a filter at the limits still answers', async () => {
    const read = (filters: unknown) => faultOf(site, 'read', { type: 'Shot', return_fields: ['id'], filters });
    const nest = (depth: number): unknown => {
      let f: unknown = { logical_operator: 'and', conditions: [{ path: 'id', relation: 'greater_than', values: [0] }] };
      for (let i = 1; i < depth; i++) f = { logical_operator: 'or', conditions: [f] };
      return f;
    };
    // 5,000 groups deep is past what JSON.stringify can write: build the body text as a client would send it.
    const leaf = JSON.stringify({ logical_operator: 'and', conditions: [{ path: 'id', relation: 'greater_than', values: [0] }] });
    const deepFilters = `${'{"logical_operator":"or","conditions":['.repeat(4999)}${leaf}${']}'.repeat(4999)}`;
    const deepBody = `{"method_name":"read","params":[${JSON.stringify(SCRIPT)},{"type":"Shot","return_fields":["id"],"filters":${deepFilters}}]}`;
    const deepRes = await fetch(`${site.url}/api3/json`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: deepBody });
    const deep = (await deepRes.json()) as Fault;
    assert.equal(deep.error_code, 103);
    assert.match(deep.message, new RegExp(`nested more than ${MAX_FILTER_DEPTH} deep`));
    const wide = await read({ logical_operator: 'and', conditions: [{ path: 'id', relation: 'in', values: Array.from({ length: 100_000 }, (_, i) => i + 1) }] });
    assert.equal(wide.error_code, 103);
    assert.match(wide.message, new RegExp(`more than ${MAX_FILTER_VALUES} values`));
    const atLimit = await results<{ entities: Entity[] }>(site, 'read', {
      type: 'Shot', return_fields: ['id'], filters: nest(MAX_FILTER_DEPTH), paging: { current_page: 1, entities_per_page: 500 },
    });
    assert.ok(atLimit.entities.length > 0, 'a filter nested exactly at the limit answers');
    const manyIds = await find(site, 'Shot', [['id', 'in', Array.from({ length: MAX_FILTER_VALUES - 1 }, (_, i) => i + 1)]]);
    assert.ok(manyIds.length > 0, 'an in list just under the limit answers');
  });
});

describe('site read: paging', () => {
  it('pages through many records with entity_count and with has_next_page', async (t) => {
    const site = await startSite({ maxEntitiesPerPage: 7 });
    onCleanup(t, () => site.close());
    const made: number[] = [];
    const batch = Array.from({ length: 50 }, (_, i) => ({ request_type: 'create', type: 'Step', fields: [{ field_name: 'code', value: `step${String(i).padStart(2, '0')}` }], return_fields: ['id'] }));
    for (const r of await results<Entity[]>(site, 'batch', batch)) made.push(r.id);
    const withCounts: number[] = [];
    for (let page = 1; ; page++) {
      const r = await results<{ entities: Entity[]; paging_info: { entity_count: number } }>(site, 'read', {
        type: 'Step', return_fields: ['code'], filters: { logical_operator: 'and', conditions: [] }, paging: { current_page: page, entities_per_page: 500 }, return_paging_info: true,
      });
      assert.equal(r.paging_info.entity_count, 50);
      assert.ok(r.entities.length <= 7, 'the page size is capped by api_max_entities_per_page');
      withCounts.push(...r.entities.map((e) => e.id));
      if (withCounts.length >= r.paging_info.entity_count || r.entities.length === 0) break;
    }
    assert.deepEqual(withCounts, made);
    const withoutCounts: number[] = [];
    let pages = 0;
    for (let page = 1; ; page++) {
      const r = await results<{ entities: Entity[]; paging_info: { has_next_page: boolean } }>(site, 'read', {
        type: 'Step', return_fields: ['code'], filters: { logical_operator: 'and', conditions: [] }, paging: { current_page: page, entities_per_page: 7 }, return_paging_info_without_counts: true,
      });
      pages++;
      withoutCounts.push(...r.entities.map((e) => e.id));
      if (!r.paging_info.has_next_page) break;
    }
    assert.equal(pages, 8);
    assert.deepEqual(withoutCounts, made);
  });
});
