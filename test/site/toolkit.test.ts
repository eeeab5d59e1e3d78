// The requests tk-core sends for step folders, publishes and lookups (shapes copied from
// tk-core v0.23.6 into test/fixtures/site/tk-core-requests.json), answered over real HTTP.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startSite, type RunningSite } from '../../src/site/index.ts';
import { create, faultOf, find, lastEventId, results, update, type Entity } from './helpers.ts';

const tk = JSON.parse(readFileSync(new URL('../fixtures/site/tk-core-requests.json', import.meta.url), 'utf8')) as {
  stepFolder: { filters: unknown; withoutParent: unknown; return_fields: string[] };
  registerPublish: { fields: Record<string, unknown> };
  findPublish: { conditions: unknown[]; return_fields: string[] };
  retiredEntity: { filters: unknown; return_only: 'retired' };
};

/** Replaces the `<name>` placeholders of a fixture with values. */
function fill(v: unknown, values: Record<string, unknown>): unknown {
  if (typeof v === 'string' && /^<\w+>$/.test(v)) {
    const x = values[v.slice(1, -1)];
    assert.ok(x !== undefined, `no value for ${v}`);
    return x;
  }
  if (Array.isArray(v)) return v.map((x) => fill(x, values));
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fill(x, values)]));
  return v;
}

async function read(site: RunningSite, type: string, filters: unknown, fields: string[], extra: Record<string, unknown> = {}): Promise<Entity[]> {
  const r = await results<{ entities: Entity[] }>(site, 'read', {
    type, return_fields: fields, filters, return_only: 'active', paging: { current_page: 1, entities_per_page: 500 }, api_return_image_urls: true, ...extra,
  });
  return r.entities;
}

describe('Toolkit requests on the local site', () => {
  let site: RunningSite;
  let project: Entity;
  let shot: Entity;

  before(async () => {
    site = await startSite({ seed: 'demo' });
    [project] = await find(site, 'Project', [['tank_name', 'is', 'demo_alpha']], ['name']) as [Entity];
    shot = await create(site, 'Shot', { code: 'tk_010', project });
  });
  after(async () => site.close());

  it('answers the step folder filter ($FROM$Task.step.entity) with the steps of the entity\'s tasks', async () => {
    const steps = await find(site, 'Step', [['entity_type', 'is', 'Shot']], ['code']);
    const [lay, anm, cmp] = steps as [Entity, Entity, Entity];
    await create(site, 'Task', { content: 'layout', project, entity: shot, step: lay });
    await create(site, 'Task', { content: 'anim a', project, entity: shot, step: anm });
    await create(site, 'Task', { content: 'anim b', project, entity: shot, step: anm });
    const retired = await create(site, 'Task', { content: 'comp', project, entity: shot, step: cmp });
    await results(site, 'delete', { type: 'Task', id: retired.id });
    const filters = fill(tk.stepFolder.filters, { shot: shot.id });
    const got = await read(site, 'Step', filters, tk.stepFolder.return_fields);
    assert.deepEqual(got.map((s) => s.id), [lay.id, anm.id], 'each step once; a retired task links nothing');
    // create_with_parent: false appends the current step.
    const one = fill({ logical_operator: 'and', conditions: [...(tk.stepFolder.filters as { conditions: unknown[] }).conditions, tk.stepFolder.withoutParent] }, { shot: shot.id, step: anm.id });
    assert.deepEqual((await read(site, 'Step', one, ['id'])).map((s) => s.id), [anm.id]);
    const other = await create(site, 'Shot', { code: 'tk_020', project });
    assert.deepEqual(await read(site, 'Step', fill(tk.stepFolder.filters, { shot: other.id }), ['id']), []);
  });

  it('takes $FROM$ with deeper paths, in the list form, and through a multi-entity link', async () => {
    const steps = await find(site, 'Step', [['$FROM$Task.step.entity.Shot.code', 'is', 'tk_010']], ['code']);
    assert.ok(steps.length > 0);
    const asset = await create(site, 'Asset', { code: 'tk_prop', project });
    await update(site, 'Shot', shot.id, { assets: [asset] });
    assert.deepEqual((await find(site, 'Asset', [['$FROM$Shot.assets.id', 'is', shot.id]], ['code'])).map((a) => a.code), ['tk_prop']);
    assert.deepEqual((await find(site, 'Shot', [['$FROM$Task.entity.content', 'is', 'layout']], ['code'])).map((s) => s.code), ['tk_010']);
  });

  it('finds a retired record through $FROM$EventLogEntry.entity.id with retired_only', async () => {
    const doomed = await create(site, 'Shot', { code: 'tk_doomed', project });
    const start = await lastEventId(site);
    await results(site, 'delete', { type: 'Shot', id: doomed.id });
    const [ev] = await find(site, 'EventLogEntry', [['id', 'greater_than', start], ['event_type', 'is', 'Shotgun_Shot_Retirement']], ['entity']);
    assert.equal(ev!.entity, null, 'the entity of an event reads null once it is retired');
    const got = await read(site, 'Shot', fill(tk.retiredEntity.filters, { event: ev!.id }), ['code'], { return_only: tk.retiredEntity.return_only });
    assert.deepEqual(got.map((s) => s.code), ['tk_doomed']);
  });

  it('refuses a bad $FROM$ path with a client fault (103)', async () => {
    for (const path of ['$FROM$NoSuchType.step.entity', '$FROM$Task.content.entity', '$FROM$Task.step', '$FROM$Task.entity.nope']) {
      const f = await faultOf(site, 'read', { type: 'Step', return_fields: ['id'], filters: { logical_operator: 'and', conditions: [{ path, relation: 'is', values: [shot] }] } });
      assert.equal(f.error_code, 103, path);
    }
  });

  it('fills path_cache_storage from the publish path, so find_publish finds it back', async () => {
    const [storage] = await find(site, 'LocalStorage', [['code', 'is', 'primary']], ['code']) as [Entity];
    const [type] = await find(site, 'PublishedFileType', [['code', 'is', 'Maya Scene']], ['code']) as [Entity];
    const fields = fill(tk.registerPublish.fields, { shot, project, type, storage }) as Record<string, unknown>;
    const start = await lastEventId(site);
    const pub = await create(site, 'PublishedFile', fields, ['path_cache_storage', 'path']);
    assert.deepEqual(pub.path_cache_storage, { type: 'LocalStorage', id: storage.id, name: 'primary' });
    assert.equal((pub.path as Record<string, unknown>).local_path_linux, '/mnt/projects/demo_alpha/shots/SQ10_010/LAY/pub/scene.v001.ma');
    const got = await read(site, 'PublishedFile', { logical_operator: 'and', conditions: fill(tk.findPublish.conditions, { storage }) }, tk.findPublish.return_fields);
    assert.deepEqual(got.map((p) => p.id), [pub.id]);
    const evs = await find(site, 'EventLogEntry', [['id', 'greater_than', start], ['attribute_name', 'is', 'path_cache_storage']], ['meta']);
    assert.equal((evs[0]!.meta as Record<string, unknown>).in_create, true, 'the derived field is logged like any field set at creation');
    // A local path with no storage under it: no storage, and no lookup match.
    const loose = await create(site, 'PublishedFile', { code: 'x', project, path: { local_path: '/elsewhere/x.ma' } }, ['path_cache_storage']);
    assert.equal(loose.path_cache_storage, null);
  });
});
