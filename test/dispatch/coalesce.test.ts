import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunningSite } from '../../src/site/index.ts';
import { foldCreations } from '../../src/dispatch/coalesce.ts';
import type { EventLogEntry } from '../../src/shared/index.ts';
import { makeHarness, runDaemon, waitFor, type Harness } from './harness.ts';
import { spawnDaemon, writeYaml, type DaemonChild } from './child.ts';

const FIXTURE = new URL('./fixtures/creation-recorder.mjs', import.meta.url).pathname;
const WINDOW_MS = 1000;

interface Written {
  /** `_New` id → the ids of its in_create rows written within the window. */
  folds: Map<number, number[]>;
  /** Rows that must reach the plugin on their own. */
  alone: number[];
  first: number;
  last: number;
}

/**
 * Three Shots whose `_New` and in_create rows interleave (as concurrent
 * requests write them), a regular change among them, a Shot created the
 * site's own way, and one in_create row written after the window.
 */
function writeCreations(site: RunningSite): Written {
  const actor = site.auth.authenticate({ script_name: 'sgeventd', script_key: 'sgeventd-key' });
  const project = (site.store.db.prepare('SELECT id FROM e_Project ORDER BY id LIMIT 1').get() as { id: number }).id;
  const before = site.store.lastEventId();
  const w = site.writer;
  const folds = new Map<number, number[]>();
  const alone: number[] = [];
  w.eventsEnabled = false;
  const [a, b, c] = ['A', 'B', 'C'].map((code) => w.create(actor, 'Shot', [{ field_name: 'code', value: `coal${before}${code}` }, { field_name: 'project', value: { type: 'Project', id: project } }]).id);
  w.eventsEnabled = true;
  const log = (shot: number, kind: 'New' | 'Change', attr: string | null, inCreate: boolean): number => w.events.log(actor, {
    eventType: `Shotgun_Shot_${kind}`, attributeName: attr, entity: { type: 'Shot', id: shot }, project: { type: 'Project', id: project },
    meta: kind === 'New'
      ? { type: 'new_entity', entity_type: 'Shot', entity_id: shot }
      : { type: 'attribute_change', attribute_name: attr, entity_type: 'Shot', entity_id: shot, old_value: null, new_value: 'x', ...(inCreate ? { in_create: true } : {}) },
    description: 'test',
  });
  const fold = (newId: number, row: number): void => {
    folds.set(newId, [...(folds.get(newId) ?? []), row]);
  };
  const start = Date.now();
  w.now = () => new Date(start);
  site.store.db.transaction(() => {
    const newA = log(a!, 'New', null, false);
    const newB = log(b!, 'New', null, false);
    folds.set(newA, []);
    folds.set(newB, []);
    fold(newA, log(a!, 'Change', 'code', true));
    fold(newB, log(b!, 'Change', 'code', true));
    const newC = log(c!, 'New', null, false);
    folds.set(newC, []);
    fold(newA, log(a!, 'Change', 'description', true));
    fold(newC, log(c!, 'Change', 'code', true));
    alone.push(log(a!, 'Change', 'sg_status_list', false));
    fold(newB, log(b!, 'Change', 'description', true));
  })();
  // A Shot created as the site creates one: its `_New`, then an in_create row per field set.
  const d = w.create(actor, 'Shot', [{ field_name: 'code', value: `coal${before}D` }, { field_name: 'project', value: { type: 'Project', id: project } }, { field_name: 'description', value: 'd' }]).id;
  const rowsOfD = site.store.db.prepare(`SELECT id, event_type, meta FROM e_EventLogEntry WHERE id > ? AND entity__type = 'Shot' AND entity__id = ? ORDER BY id`).all(before, d) as Array<{ id: number; event_type: string; meta: string }>;
  const newD = rowsOfD.find((r) => r.event_type === 'Shotgun_Shot_New')!.id;
  folds.set(newD, rowsOfD.filter((r) => (JSON.parse(r.meta) as { in_create?: boolean }).in_create === true).map((r) => r.id));
  assert.ok((folds.get(newD) ?? []).length >= 2, 'the site writes an in_create row per field set at creation');
  // Past the window: delivered as usual.
  w.now = () => new Date(start + WINDOW_MS + 2000);
  alone.push(log(c!, 'Change', 'description', true));
  w.now = () => new Date();
  return { folds, alone, first: before + 1, last: site.store.lastEventId() };
}

/** Record lines "<plugin> <id> <type> <entity> <folded>" → id → folded ids (every delivery). */
function deliveries(recs: string[][]): Array<{ id: number; folded: number[] }> {
  return recs.filter((r) => r.length >= 5).map((r) => ({ id: Number(r[1]), folded: r[4] === '-' ? [] : r[4]!.split(',').map(Number) }));
}

function assertFolded(w: Written, got: Array<{ id: number; folded: number[] }>, what: string): void {
  const byId = new Map(got.map((d) => [d.id, d.folded]));
  for (const [newId, rows] of w.folds) {
    assert.deepEqual(byId.get(newId), rows, `${what}: the rows folded into _New ${newId}`);
    for (const row of rows) assert.ok(!byId.has(row), `${what}: folded row ${row} is not delivered on its own`);
  }
  for (const id of w.alone) assert.deepEqual(byId.get(id), [], `${what}: ${id} delivered on its own`);
}

async function withRecorder(h: Harness): Promise<void> {
  await copyFile(FIXTURE, join(h.plugins, 'creations.mjs'));
}

describe('coalesceCreation', () => {
  it('folds the rows of a window-sized read into their _New and leaves the tail after an open _New to the next read', () => {
    const at = (s: number): Date => new Date(1_700_000_000_000 + s * 1000);
    const ev = (id: number, type: string, shot: number, s: number, inCreate = false): EventLogEntry => ({
      type: 'EventLogEntry', id, event_type: `Shotgun_Shot_${type}`, attribute_name: null, entity: { type: 'Shot', id: shot },
      meta: inCreate ? { in_create: true } : {}, user: null, project: null, session_uuid: null, created_at: at(s),
    });
    const events = [ev(1, 'New', 1, 0), ev(2, 'Change', 1, 0, true), ev(3, 'Change', 2, 0, true), ev(4, 'Change', 1, 5, true), ev(5, 'New', 2, 5), ev(6, 'Change', 2, 5, true)];
    const all = foldCreations(events, { windowMs: WINDOW_MS }, false);
    assert.deepEqual(all.events.map((e) => e.id), [1, 3, 4, 5]);
    assert.deepEqual([...all.folded], [[1, [2]], [5, [6]]]);
    assert.deepEqual((all.events[0]?.meta?.['in_create_changes'] as EventLogEntry[]).map((e) => e.id), [2]);
    assert.equal(all.taken, 6);
    const full = foldCreations(events, { windowMs: WINDOW_MS }, true);
    assert.equal(full.taken, 4, 'a full read stops before the open _New in its second half');
    assert.deepEqual(full.events.map((e) => e.id), [1, 3, 4]);
  });

  for (const concurrency of [undefined, { by: 'project', max: 4 }, { by: 'entity', max: 4 }] as const) {
    it(`interleaved creations, a regular change and a late row (${concurrency === undefined ? 'one at a time' : `by: ${concurrency.by}`})`, async (t) => {
      const h = await makeHarness();
      t.after(() => h.close());
      await withRecorder(h);
      const from = h.site.store.lastEventId();
      const daemon = await runDaemon(h.config({ plugins: { coalesceCreation: true, coalesceWindowMs: WINDOW_MS, ...(concurrency ? { concurrency } : {}) } }), from);
      t.after(() => daemon.stop());
      const w = writeCreations(h.site);
      const got = await waitFor('the last event delivered', async () => {
        const d = deliveries(await h.records());
        return d.some((x) => x.id === w.last) ? d : undefined;
      });
      assertFolded(w, got, 'coalesced');
      assert.equal(new Set(got.map((d) => d.id)).size, got.length, 'each event once');
      await waitFor('nothing pending', () => daemon.status().plugins.every((p) => p.backlog === 0 && p.lastEventId === w.last));
    });
  }

  it('without the option every in_create row is delivered on its own', async (t) => {
    const h = await makeHarness();
    t.after(() => h.close());
    await withRecorder(h);
    const daemon = await runDaemon(h.config(), h.site.store.lastEventId());
    t.after(() => daemon.stop());
    const w = writeCreations(h.site);
    const got = await waitFor('the last event delivered', async () => {
      const d = deliveries(await h.records());
      return d.some((x) => x.id === w.last) ? d : undefined;
    });
    const ids = new Set(got.map((d) => d.id));
    for (const rows of w.folds.values()) for (const row of rows) assert.ok(ids.has(row), `row ${row} delivered`);
    assert.ok(got.every((d) => d.folded.length === 0));
  });

  for (const concurrency of [undefined, { by: 'project', max: 4 }] as const) {
    it(`kill -9 between the fold and the finish folds the same rows again (${concurrency === undefined ? 'one at a time' : `by: ${concurrency.by}`})`, async (t) => {
      const h = await makeHarness();
      let d: DaemonChild | null = null;
      t.after(async () => {
        await d?.kill9();
        await h.close();
      });
      await withRecorder(h);
      const hold = `${h.record}.hold`;
      await writeFile(hold, '');
      const yaml = await writeYaml(h, { stateFlushMs: 50 }, { coalesceCreation: true, coalesceWindowMs: WINDOW_MS, ...(concurrency ? { concurrency } : {}) });
      const from = ['--from', String(h.site.store.lastEventId())];
      d = spawnDaemon(h, yaml, from);
      const w = writeCreations(h.site);
      const firstNew = Math.min(...w.folds.keys());
      const child = d;
      await waitFor('the first _New in its callback', async () => {
        if (child.child.exitCode !== null) throw new Error(`daemon exited: ${child.output()}`);
        return deliveries(await h.records()).some((x) => x.id === firstNew);
      }, 60_000);
      await d.kill9();
      const before = deliveries(await h.records());
      await rm(hold);
      d = spawnDaemon(h, yaml, from);
      const again = d;
      const got = await waitFor('the last event delivered after the restart', async () => {
        if (again.child.exitCode !== null) throw new Error(`daemon exited: ${again.output()}`);
        const all = deliveries(await h.records());
        return all.some((x) => x.id === w.last) ? all : undefined;
      }, 60_000);
      assert.equal(await d.stop(), 0, d.output());
      d = null;
      const after = got.slice(before.length);
      const firstTime = before.find((x) => x.id === firstNew);
      const secondTime = after.find((x) => x.id === firstNew);
      assert.ok(secondTime, 'the _New that did not finish is delivered again');
      assert.deepEqual(secondTime.folded, firstTime?.folded, 'with the same rows folded');
      assertFolded(w, after, 'after the restart');
    });
  }
});
