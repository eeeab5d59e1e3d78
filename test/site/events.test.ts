import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSite, type RunningSite } from '../../src/site/index.ts';
import { SCRIPT, create, events, faultOf, find, lastEventId, results, update, type Entity } from './helpers.ts';

/** An event's meta with the links as the tests spell them: without `valid`, `uuid` and `status`. */
function m(e: Entity): Record<string, unknown> {
  const plain = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(plain);
    if (v === null || typeof v !== 'object' || !('valid' in v)) return v;
    const { valid: _v, uuid: _u, status: _s, ...rest } = v as Record<string, unknown>;
    return rest;
  };
  return Object.fromEntries(Object.entries(e.meta as Record<string, unknown>).map(([k, v]) => [k, plain(v)]));
}

describe('site writes and the event log', () => {
  let site: RunningSite;
  let project: Entity | undefined;
  let apiUser: Entity | undefined;

  before(async () => {
    site = await startSite({ seed: 'demo' });
    [project] = await find(site, 'Project', [['tank_name', 'is', 'demo_alpha']], ['name']);
    [apiUser] = await find(site, 'ApiUser', [['firstname', 'is', 'sgeventd']], ['firstname']);
  });
  after(async () => site.close());

  it('a create writes New then one Change per field set, in_create', async () => {
    const start = await lastEventId(site);
    const shot = await create(site, 'Shot', { code: 'ev_010', project, sg_cut_in: 1001 }, ['sg_status_list'], { ...SCRIPT, session_uuid: 'uuid-1' } as typeof SCRIPT);
    assert.equal(shot.sg_status_list, 'wtg');
    const evs = await events(site, start);
    const user = { type: 'ApiUser', id: apiUser!.id, name: 'sgeventd' };
    const entity = { type: 'Shot', id: shot.id, name: 'ev_010' };
    const proj = { type: 'Project', id: project!.id, name: 'Demo Alpha' };
    assert.equal(evs[0]!.event_type, 'Shotgun_Shot_New');
    assert.deepEqual(evs[0]!.meta, { type: 'new_entity', entity_type: 'Shot', entity_id: shot.id });
    assert.deepEqual([evs[0]!.entity, evs[0]!.user, evs[0]!.project, evs[0]!.session_uuid], [entity, user, proj, 'uuid-1']);
    assert.equal(evs[0]!.attribute_name, null);
    const changes = evs.slice(1);
    assert.deepEqual(changes.map((e) => e.attribute_name), ['code', 'project', 'sg_cut_in', 'sg_status_list']);
    for (const e of changes) {
      assert.equal(e.event_type, 'Shotgun_Shot_Change');
      assert.equal(m(e).in_create, true);
    }
    assert.deepEqual(changes[2]!.meta, { type: 'attribute_change', attribute_name: 'sg_cut_in', entity_type: 'Shot', entity_id: shot.id, field_data_type: 'number', old_value: null, new_value: 1001, in_create: true });
    const idList = evs.map((e) => e.id);
    assert.deepEqual(idList, [...idList].sort((x, y) => x - y));
  });

  it('an update logs only changed fields with old and new values', async () => {
    const shot = await create(site, 'Shot', { code: 'up_010', project, sg_status_list: 'wtg' });
    const before = await lastEventId(site);
    const r = await update(site, 'Shot', shot.id, { sg_status_list: 'ip', code: 'up_010' });
    assert.deepEqual(r, { type: 'Shot', id: shot.id, sg_status_list: 'ip', code: 'up_010' });
    const evs = await events(site, before);
    assert.equal(evs.length, 1);
    assert.deepEqual(evs[0]!.meta, { type: 'attribute_change', attribute_name: 'sg_status_list', entity_type: 'Shot', entity_id: shot.id, field_data_type: 'status_list', old_value: 'wtg', new_value: 'ip' });
  });

  it('multi_entity set/add/remove log added/removed, and the other side gets back-reference events', async () => {
    const [x, y, z] = await Promise.all(['mx', 'my', 'mz'].map((code) => create(site, 'Asset', { code, project })));
    const shot = await create(site, 'Shot', { code: 'multi_010', project });
    let before = await lastEventId(site);
    await update(site, 'Shot', shot.id, { assets: [{ type: 'Asset', id: x!.id }, { type: 'Asset', id: y!.id }] });
    let evs = await events(site, before);
    assert.deepEqual(evs.map((e) => [e.event_type, e.attribute_name]), [
      ['Shotgun_Shot_Change', 'assets'], ['Shotgun_Asset_Change', 'shots'], ['Shotgun_Asset_Change', 'shots'],
    ]);
    const main = evs[0]!;
    assert.deepEqual(m(main).added, [{ type: 'Asset', id: x!.id, name: 'mx' }, { type: 'Asset', id: y!.id, name: 'my' }]);
    assert.deepEqual(m(main).removed, []);
    assert.deepEqual(evs[1]!.entity, { type: 'Asset', id: x!.id, name: 'mx' });
    assert.deepEqual(m(evs[1]!), {
      type: 'attribute_change', attribute_name: 'shots', entity_type: 'Shot', entity_id: shot.id, field_data_type: 'multi_entity',
      added: [{ type: 'Shot', id: shot.id, name: 'multi_010' }], removed: [], actual_attribute_changed: 'Shot.assets', original_event_log_entry_id: main.id,
    });
    before = await lastEventId(site);
    await update(site, 'Shot', shot.id, { assets: [{ type: 'Asset', id: z!.id }] }, { assets: 'add' });
    await update(site, 'Shot', shot.id, { assets: [{ type: 'Asset', id: x!.id }] }, { assets: 'remove' });
    evs = await events(site, before);
    assert.deepEqual(evs.filter((e) => e.event_type === 'Shotgun_Shot_Change').map((e) => [(e.meta as { added: Entity[] }).added.map((l) => l.id), (e.meta as { removed: Entity[] }).removed.map((l) => l.id)]),
      [[[z!.id], []], [[], [x!.id]]]);
    const [s] = await find(site, 'Shot', [['id', 'is', shot.id]], ['assets']);
    assert.deepEqual((s!.assets as Entity[]).map((l) => l.id), [y!.id, z!.id]);
    const [ay] = await find(site, 'Asset', [['id', 'is', y!.id]], ['shots']);
    assert.deepEqual((ay!.shots as Entity[]).map((l) => l.id), [shot.id], 'the reverse field reads the same links');
  });

  it('writing a back-reference field (Version.playlists) changes the owning side and logs both', async () => {
    const version = await create(site, 'Version', { code: 'v001', project });
    const playlist = await create(site, 'Playlist', { code: 'dailies', project });
    const before = await lastEventId(site);
    await update(site, 'Version', version.id, { playlists: [playlist] });
    const [pl] = await find(site, 'Playlist', [['id', 'is', playlist.id]], ['versions']);
    assert.deepEqual(pl!.versions, [{ type: 'Version', id: version.id, name: 'v001' }]);
    const evs = await events(site, before);
    assert.deepEqual(evs.map((e) => [e.event_type, e.attribute_name]), [['Shotgun_Version_Change', 'playlists'], ['Shotgun_Playlist_Change', 'versions']]);
    assert.equal(m(evs[1]!).actual_attribute_changed, 'Version.playlists');
  });

  it('writing a back-reference of an entity field (Sequence.shots) sets the link on the owning side and logs both', async () => {
    const seq = await create(site, 'Sequence', { code: 'BR_SEQ', project });
    const [s1, s2] = await Promise.all(['br1', 'br2'].map((code) => create(site, 'Shot', { code, project })));
    const before = await lastEventId(site);
    await update(site, 'Sequence', seq.id, { shots: [s1, s2] });
    await update(site, 'Sequence', seq.id, { shots: [s2] }, { shots: 'remove' });
    const [r1] = await find(site, 'Shot', [['id', 'is', s1!.id]], ['sg_sequence']);
    const [r2] = await find(site, 'Shot', [['id', 'is', s2!.id]], ['sg_sequence']);
    assert.deepEqual(r1!.sg_sequence, { type: 'Sequence', id: seq.id, name: 'BR_SEQ' });
    assert.equal(r2!.sg_sequence, null);
    const evs = await events(site, before);
    assert.deepEqual(evs.map((e) => [e.event_type, e.attribute_name]), [
      ['Shotgun_Sequence_Change', 'shots'], ['Shotgun_Shot_Change', 'sg_sequence'], ['Shotgun_Shot_Change', 'sg_sequence'],
      ['Shotgun_Sequence_Change', 'shots'], ['Shotgun_Shot_Change', 'sg_sequence'],
    ]);
    const back = m(evs[1]!);
    assert.deepEqual([back.old_value, back.new_value, back.actual_attribute_changed, back.original_event_log_entry_id],
      [null, { type: 'Sequence', id: seq.id, name: 'BR_SEQ' }, 'Sequence.shots', evs[0]!.id]);
  });

  it('changing an entity link logs old/new values and back-references on both old and new targets', async () => {
    const [s1, s2] = await Promise.all(['bk1', 'bk2'].map((code) => create(site, 'Shot', { code, project })));
    const task = await create(site, 'Task', { content: 'lay', project, entity: s1 });
    const before = await lastEventId(site);
    await update(site, 'Task', task.id, { entity: s2 });
    const evs = await events(site, before);
    assert.deepEqual(evs.map((e) => [e.event_type, e.attribute_name, (e.entity as Entity).id]), [
      ['Shotgun_Task_Change', 'entity', task.id], ['Shotgun_Shot_Change', 'tasks', s2!.id], ['Shotgun_Shot_Change', 'tasks', s1!.id],
    ]);
    assert.deepEqual(m(evs[0]!).old_value, { type: 'Shot', id: s1!.id, name: 'bk1' });
    assert.deepEqual(m(evs[2]!).removed, [{ type: 'Task', id: task.id, name: 'lay' }]);
  });

  it('retire and revive: events, booleans, unknown id fault, entity null on events of a retired entity', async () => {
    const shot = await create(site, 'Shot', { code: 'ret_010', project });
    const before = await lastEventId(site);
    assert.equal(await results(site, 'delete', { type: 'Shot', id: shot.id }), true);
    assert.equal(await results(site, 'delete', { type: 'Shot', id: shot.id }), false);
    let evs = await events(site, before);
    assert.deepEqual(evs.map((e) => [e.event_type, e.attribute_name]), [['Shotgun_Shot_Change', 'retirement_date'], ['Shotgun_Shot_Retirement', null]]);
    const side = m(evs[0]!);
    assert.equal(evs[0]!.entity, null, 'the retirement_date side row has no entity');
    assert.deepEqual([side.attribute_name, side.entity_type, side.entity_id, side.old_value, 'field_data_type' in side], ['retirement_date', 'Shot', shot.id, null, false]);
    assert.match(String(side.new_value), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/);
    assert.equal(evs[1]!.entity, null, 'the entity of an event reads null while it is retired');
    const meta = m(evs[1]!);
    assert.equal(meta.type, 'entity_retirement');
    assert.deepEqual([meta.class_name, meta.display_name, meta.entity_type, meta.entity_id], ['Shot', 'ret_010', 'Shot', shot.id]);
    assert.match(String(meta.retirement_date), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/);
    assert.equal(await results(site, 'revive', { type: 'Shot', id: shot.id }), true);
    assert.equal(await results(site, 'revive', { type: 'Shot', id: shot.id }), false);
    evs = await events(site, before);
    assert.deepEqual(evs.slice(2).map((e) => [e.event_type, e.attribute_name, e.entity]), [
      ['Shotgun_Shot_Change', 'retirement_date', null], ['Shotgun_Shot_Revival', null, { type: 'Shot', id: shot.id, name: 'ret_010' }]]);
    assert.deepEqual([m(evs[2]!).old_value, m(evs[2]!).new_value], [side.new_value, null], 'revival: the retirement date goes back to null');
    assert.deepEqual(evs[1]!.entity, { type: 'Shot', id: shot.id, name: 'ret_010' }, 'revived: the entity is back on old events');
    assert.equal((await faultOf(site, 'delete', { type: 'Shot', id: 999999 })).error_code, 103);
    assert.equal((await faultOf(site, 'update', { type: 'Shot', id: 999999, fields: [] })).error_code, 103);
  });

  it('retiring a record retires its Tasks; reviving writes the children\'s retirement_date rows before the parent\'s Revival', async () => {
    const shot = await create(site, 'Shot', { code: 'casc_010', project });
    const [t1, t2] = [await create(site, 'Task', { content: 'c1', project, entity: shot }), await create(site, 'Task', { content: 'c2', project, entity: shot })];
    let before = await lastEventId(site);
    assert.equal(await results(site, 'delete', { type: 'Shot', id: shot.id }), true);
    let evs = await events(site, before);
    assert.deepEqual(evs.map((e) => [e.event_type, e.attribute_name, m(e).entity_id]), [
      ['Shotgun_Task_Change', 'retirement_date', t1.id], ['Shotgun_Task_Retirement', null, t1.id],
      ['Shotgun_Task_Change', 'retirement_date', t2.id], ['Shotgun_Task_Retirement', null, t2.id],
      ['Shotgun_Shot_Change', 'retirement_date', shot.id], ['Shotgun_Shot_Retirement', null, shot.id],
    ]);
    assert.deepEqual(await find(site, 'Task', [['id', 'in', [t1.id, t2.id]]], ['id']), []);
    before = await lastEventId(site);
    assert.equal(await results(site, 'revive', { type: 'Shot', id: shot.id }), true);
    evs = await events(site, before);
    assert.deepEqual(evs.map((e) => [e.event_type, e.attribute_name, m(e).entity_id, m(e).new_value ?? null]), [
      ['Shotgun_Task_Change', 'retirement_date', t1.id, null], ['Shotgun_Task_Change', 'retirement_date', t2.id, null],
      ['Shotgun_Shot_Change', 'retirement_date', shot.id, null], ['Shotgun_Shot_Revival', null, shot.id, null],
    ]);
    assert.deepEqual((await find(site, 'Task', [['id', 'in', [t1.id, t2.id]]], ['id'])).map((t) => t.id), [t1.id, t2.id]);
  });

  it('links in meta carry valid, uuid and, for Tasks, status', async () => {
    const shot = await create(site, 'Shot', { code: 'meta_010', project });
    const before = await lastEventId(site);
    const task = await create(site, 'Task', { content: 'meta', project, entity: shot, sg_status_list: 'ip' });
    const evs = await events(site, before);
    const entityRow = evs.find((e) => e.attribute_name === 'entity')!;
    const link = (entityRow.meta as Record<string, unknown>).new_value as Record<string, unknown>;
    assert.deepEqual([link.type, link.id, link.name, link.valid], ['Shot', shot.id, 'meta_010', 'valid']);
    assert.match(String(link.uuid), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const back = evs.find((e) => e.attribute_name === 'tasks')!;
    const added = ((back.meta as Record<string, unknown>).added as Array<Record<string, unknown>>)[0]!;
    assert.deepEqual([added.type, added.id, added.status, added.valid], ['Task', task.id, 'ip', 'valid']);
  });

  it('a demo seed writes the events of every record it creates, as a real site would', async () => {
    const fresh = await startSite({ seed: 'demo' });
    try {
      const projects = await find(fresh, 'Project', [], ['id']);
      const news = await find(fresh, 'EventLogEntry', [['event_type', 'is', 'Shotgun_Project_New']], ['entity']);
      assert.deepEqual(news.map((e) => (e.entity as Entity).id), projects.map((p) => p.id));
      // shotgunEvents at start-up: the last event, sorted by id descending.
      assert.ok(await lastEventId(fresh) > 0);
      const tasks = await find(fresh, 'Task', [], ['id']);
      assert.equal((await find(fresh, 'EventLogEntry', [['event_type', 'is', 'Shotgun_Task_New']], ['id'])).length, tasks.length);
    } finally {
      await fresh.close();
    }
  });

  it('sudo_as_login acts as the HumanUser and records sudo_actual_user; an unknown login is 102', async () => {
    const [alice] = await find(site, 'HumanUser', [['login', 'is', 'alice']], ['name']);
    const before = await lastEventId(site);
    const shot = await create(site, 'Shot', { code: 'sudo_010', project }, ['created_by'], { ...SCRIPT, sudo_as_login: 'alice' } as typeof SCRIPT);
    assert.deepEqual(shot.created_by, { type: 'HumanUser', id: alice!.id, name: 'Alice Artist' });
    const [ev] = await events(site, before);
    assert.deepEqual(ev!.user, { type: 'HumanUser', id: alice!.id, name: 'Alice Artist' });
    assert.deepEqual(m(ev!).sudo_actual_user, { type: 'ApiUser', id: apiUser!.id, name: 'sgeventd' });
    const f = await faultOf(site, 'read', { type: 'Shot', return_fields: ['id'] }, { ...SCRIPT, sudo_as_login: 'nobody' });
    assert.equal(f.error_code, 102);
  });

  it('batch is all-or-nothing and answers in request order', async () => {
    const before = await lastEventId(site);
    const f = await faultOf(site, 'batch', [
      { request_type: 'create', type: 'Shot', fields: [{ field_name: 'code', value: 'batch_ok' }], return_fields: ['id'] },
      { request_type: 'create', type: 'Shot', fields: [{ field_name: 'nope', value: 1 }], return_fields: ['id'] },
    ]);
    assert.equal(f.error_code, 103);
    assert.equal((await find(site, 'Shot', [['code', 'is', 'batch_ok']])).length, 0);
    assert.equal(await lastEventId(site), before, 'no events from a failed batch');
    const shot = await create(site, 'Shot', { code: 'batch_target', project });
    const r = await results<unknown[]>(site, 'batch', [
      { request_type: 'create', type: 'Shot', fields: [{ field_name: 'code', value: 'batch_a' }], return_fields: ['code'] },
      { request_type: 'update', type: 'Shot', id: shot.id, fields: [{ field_name: 'description', value: 'hi' }] },
      { request_type: 'delete', type: 'Shot', id: shot.id },
    ]);
    assert.equal((r[0] as Entity).code, 'batch_a');
    assert.deepEqual(r[1], { type: 'Shot', id: shot.id, description: 'hi' });
    assert.equal(r[2], true);
  });

  it('clients may create EventLogEntry rows (Toolkit_Folders_Create); ids keep increasing', async () => {
    const before = await lastEventId(site);
    const ev = await create(site, 'EventLogEntry', { event_type: 'Toolkit_Folders_Create', description: 'folders', project, meta: { core_api_rev: 1, sg_folder_ids: [1, 2] } }, ['user', 'meta']);
    assert.ok(ev.id > before);
    assert.deepEqual(ev.meta, { core_api_rev: 1, sg_folder_ids: [1, 2] });
    assert.equal((ev.user as Entity).type, 'ApiUser');
    const evs = await events(site, before);
    assert.deepEqual(evs.map((e) => e.event_type), ['Toolkit_Folders_Create']);
    assert.equal((await faultOf(site, 'update', { type: 'EventLogEntry', id: ev.id, fields: [{ field_name: 'description', value: 'x' }] })).error_code, 103, 'events are immutable');
    assert.equal((await faultOf(site, 'delete', { type: 'EventLogEntry', id: ev.id })).error_code, 103);
  });

  it('local file links resolve against LocalStorage (Toolkit publishes and path cache)', async () => {
    const [storage] = await find(site, 'LocalStorage', [['code', 'is', 'primary']], ['linux_path', 'windows_path']);
    const byPath = await create(site, 'FilesystemLocation', { code: 'sh010', project, path: { local_path: '/mnt/projects/demo_alpha/seq/sh010', name: 'sh010' } }, ['path']);
    assert.deepEqual(byPath.path, {
      content_type: null, link_type: 'local', name: 'sh010', relative_path: 'demo_alpha/seq/sh010',
      local_path: '/mnt/projects/demo_alpha/seq/sh010', local_path_linux: '/mnt/projects/demo_alpha/seq/sh010',
      local_path_mac: '/Volumes/projects/demo_alpha/seq/sh010', local_path_windows: 'P:\\demo_alpha\\seq\\sh010',
      local_storage: { type: 'LocalStorage', id: storage!.id, name: 'primary' }, url: 'file:///mnt/projects/demo_alpha/seq/sh010',
    });
    const pub = await create(site, 'PublishedFile', { code: 'a.ma', project, path: { relative_path: 'demo_alpha/a.ma', local_storage: { type: 'LocalStorage', id: storage!.id } } }, ['path']);
    assert.equal((pub.path as Record<string, unknown>).local_path_linux, '/mnt/projects/demo_alpha/a.ma');
    const elsewhere = await create(site, 'PublishedFile', { code: 'b.ma', project, path: { local_path: '/elsewhere/b.ma' } }, ['path']);
    assert.equal((elsewhere.path as Record<string, unknown>).local_storage, null);
    const web = await create(site, 'Version', { code: 'web', project, sg_uploaded_movie: { url: 'https://example.com/m.mov', name: 'm' } }, ['sg_uploaded_movie']);
    assert.deepEqual(web.sg_uploaded_movie, { url: 'https://example.com/m.mov', name: 'm', content_type: null, link_type: 'url' });
  });

  it('wrong value types, unknown fields, bad links and non-editable fields are faults (103), never crashes', async () => {
    const bad = async (data: Record<string, unknown>) => (await faultOf(site, 'create', { type: 'Shot', fields: Object.entries(data).map(([field_name, value]) => ({ field_name, value })) })).error_code;
    assert.equal(await bad({ code: 42 }), 103);
    assert.equal(await bad({ sg_cut_in: 'ten' }), 103);
    assert.equal(await bad({ sg_cut_in: 1.5 }), 103);
    assert.equal(await bad({ sg_status_list: 'bogus' }), 103);
    assert.equal(await bad({ sg_sequence: { type: 'Asset', id: 1 } }), 103);
    assert.equal(await bad({ sg_sequence: { type: 'Sequence', id: 424242 } }), 103);
    assert.equal(await bad({ assets: { type: 'Asset', id: 1 } }), 103);
    assert.equal(await bad({ no_such_field: 1 }), 103);
    assert.equal(await bad({ id: 5 }), 103);
    assert.equal(await bad({ tag_list: 'x' }), 103);
    assert.equal((await faultOf(site, 'update', { type: 'Shot', id: 1, fields: [{ field_name: 'created_at', value: '2020-01-01T00:00:00Z' }] })).error_code, 103);
    assert.equal((await find(site, 'Shot', [['id', 'is', 1]])).length, 1, 'still healthy');
  });
});
