// coalesceCreation across a read boundary and a kill -9: which rows fold into
// a `_New` never depends on where a read begins or ends, so the rows of a
// `_New` whose horizon crosses the end of what a read took are folded into it
// (never delivered alone), and a restart folds the same rows again.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunningSite } from '../../src/site/index.ts';
import { makeHarness, waitFor, type Harness } from './harness.ts';
import { spawnDaemon, writeYaml, type DaemonChild } from './child.ts';

// Reads of 8 events: a row folds into a `_New` at most 4 ids after it.
const BATCH = 8;

/** Records every delivery; a `_New` does not finish while "<record>.hold.<id>" exists. */
const RECORDER = `
import { appendFileSync, existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
export function registerCallbacks(reg) {
  reg.registerCallback('sgeventd', 'sgeventd-key', async (ctx) => {
    const e = ctx.event;
    const folded = (e.meta?.in_create_changes ?? []).map((r) => r.id).join(',') || '-';
    appendFileSync(process.env.SGEVENTD_TEST_RECORD, 'rec ' + e.id + ' ' + e.event_type + ' ' + folded + '\\n');
    while (existsSync(process.env.SGEVENTD_TEST_RECORD + '.hold.' + e.id)) await sleep(20);
  });
}
`;

interface Layout {
  x: number;
  z: number;
  /** Rows of X past Z (the end of what the first read takes). */
  xRows: number[];
  zRows: number[];
  last: number;
}

/**
 * f1 f2 f3 X4 Z5 rX6 rZ7 rX8 f9..f12 (relative ids), all at one instant: the
 * first read (8 events) ends inside Z's horizon, so it takes f1..X4 and
 * leaves Z for the next read; X's rows 6 and 8 lie past Z.
 */
function writeLayout(site: RunningSite): Layout {
  const actor = site.auth.authenticate({ script_name: 'sgeventd', script_key: 'sgeventd-key' });
  const project = (site.store.db.prepare('SELECT id FROM e_Project ORDER BY id LIMIT 1').get() as { id: number }).id;
  const w = site.writer;
  w.eventsEnabled = false;
  const [x, z, f] = ['X', 'Z', 'F'].map((code) => w.create(actor, 'Shot', [{ field_name: 'code', value: `crs${code}${Date.now()}` }, { field_name: 'project', value: { type: 'Project', id: project } }]).id) as [number, number, number];
  w.eventsEnabled = true;
  const log = (shot: number, kind: 'New' | 'Change', attr: string | null, inCreate: boolean): number => w.events.log(actor, {
    eventType: `Shotgun_Shot_${kind}`, attributeName: attr, entity: { type: 'Shot', id: shot }, project: { type: 'Project', id: project },
    meta: kind === 'New'
      ? { type: 'new_entity', entity_type: 'Shot', entity_id: shot }
      : { type: 'attribute_change', attribute_name: attr, entity_type: 'Shot', entity_id: shot, old_value: null, new_value: 'x', ...(inCreate ? { in_create: true } : {}) },
    description: 'test',
  });
  const start = Date.now();
  w.now = () => new Date(start);
  let out: Layout | undefined;
  site.store.db.transaction(() => {
    for (let i = 0; i < 3; i++) log(f, 'Change', 'description', false);
    const newX = log(x, 'New', null, false);
    const newZ = log(z, 'New', null, false);
    const rx1 = log(x, 'Change', 'code', true);
    const rz = log(z, 'Change', 'code', true);
    const rx2 = log(x, 'Change', 'description', true);
    let last = rx2;
    for (let i = 0; i < 4; i++) last = log(f, 'Change', 'description', false);
    out = { x: newX, z: newZ, xRows: [rx1, rx2], zRows: [rz], last };
  })();
  w.now = () => new Date();
  assert.ok(out);
  return out;
}

/** The recorder plugin on a fresh harness; the event `held` ids after the log's newest holds until `hold` is removed. The daemon in `running.d` is killed at the end. */
async function recorderBed(t: TestContext, held: number): Promise<{ h: Harness; before: number; hold: string; running: { d: DaemonChild | null } }> {
  const h = await makeHarness();
  const running: { d: DaemonChild | null } = { d: null };
  t.after(async () => {
    await running.d?.kill9();
    await h.close();
  });
  await writeFile(join(h.plugins, 'creations.mjs'), RECORDER, { mode: 0o644 });
  const before = h.site.store.lastEventId();
  const hold = `${h.record}.hold.${before + held}`;
  await writeFile(hold, '');
  return { h, before, hold, running };
}

function deliveries(recs: string[][]): Array<{ id: number; folded: number[] }> {
  return recs.filter((r) => r[0] === 'rec' && r.length >= 4).map((r) => ({ id: Number(r[1]), folded: r[3] === '-' ? [] : r[3]!.split(',').map(Number) }));
}

describe('coalesceCreation across a read boundary and a restart', () => {
  for (const concurrency of [undefined, { by: 'project', max: 4 }] as const) {
    it(`folds a _New's rows past the end of a read into it, and kill -9 before the next _New finishes folds the same rows (${concurrency === undefined ? 'one at a time' : `by: ${concurrency.by}`})`, async (t) => {
      // Z (relative id 5) holds until the test lets it go.
      const { h, before, hold, running } = await recorderBed(t, 5);
      const yaml = await writeYaml(h, { stateFlushMs: 50, maxEventBatchSize: BATCH }, { coalesceCreation: true, coalesceWindowMs: 1000, ...(concurrency ? { concurrency } : {}) });
      const from = ['--from', String(before)];
      const first = spawnDaemon(h, yaml, from);
      running.d = first;
      const w = writeLayout(h.site);
      assert.equal(w.z, before + 5, 'the layout has the ids the hold file names');
      await waitFor('Z in its callback', async () => {
        if (first.child.exitCode !== null) throw new Error(`daemon exited: ${first.output()}`);
        return deliveries(await h.records()).some((x) => x.id === w.z);
      }, 60_000);
      const beforeKill = deliveries(await h.records());
      assert.deepEqual(beforeKill.find((x) => x.id === w.x)?.folded, w.xRows, `X carries its rows past the end of the first read: ${JSON.stringify({ w, beforeKill, before })}`);
      await first.kill9();
      await rm(hold);
      const again = spawnDaemon(h, yaml, from);
      running.d = again;
      const all = await waitFor('the last event delivered after the restart', async () => {
        if (again.child.exitCode !== null) throw new Error(`daemon exited: ${again.output()}`);
        const got = deliveries(await h.records());
        return got.slice(beforeKill.length).some((x) => x.id === w.last) ? got : undefined;
      }, 60_000);
      assert.equal(await again.stop(), 0, again.output());
      running.d = null;
      const after = all.slice(beforeKill.length);
      for (const row of [...w.xRows, ...w.zRows]) assert.ok(!all.some((x) => x.id === row), `row ${row} is never delivered on its own: ${JSON.stringify(all)}`);
      for (const got of all.filter((x) => x.id === w.x)) assert.deepEqual(got.folded, w.xRows, 'X folds the same rows each time');
      const zAgain = after.find((x) => x.id === w.z);
      assert.ok(zAgain, 'Z, not finished at the kill, is delivered again');
      assert.deepEqual(zAgain.folded, w.zRows, 'with the same rows folded');
      const ids = new Set(all.map((x) => x.id));
      for (let id = before + 1; id <= w.last; id++) {
        if (![...w.xRows, ...w.zRows].includes(id)) assert.ok(ids.has(id), `event ${id} delivered`);
      }
    });
  }
});

/**
 * h1 h2 h3 (project A, h1 held) X4 rX5 rX6 f7 f8 (project B), all at one
 * instant. With a window of 4, the first read takes h1..h3 and leaves X (its
 * rows lie past the read); the next read has room for one event only: X.
 */
function writeWindowLayout(site: RunningSite): { held: number; x: number; xRows: number[]; last: number } {
  const actor = site.auth.authenticate({ script_name: 'sgeventd', script_key: 'sgeventd-key' });
  const [a, b] = (site.store.db.prepare('SELECT id FROM e_Project ORDER BY id LIMIT 2').all() as Array<{ id: number }>).map((p) => p.id) as [number, number];
  const w = site.writer;
  w.eventsEnabled = false;
  const shot = (project: number, code: string): number => w.create(actor, 'Shot', [{ field_name: 'code', value: `cw${code}${Date.now()}` }, { field_name: 'project', value: { type: 'Project', id: project } }]).id;
  const [h, x, f] = [shot(a, 'H'), shot(b, 'X'), shot(b, 'F')] as [number, number, number];
  w.eventsEnabled = true;
  const log = (id: number, project: number, kind: 'New' | 'Change', inCreate: boolean): number => w.events.log(actor, {
    eventType: `Shotgun_Shot_${kind}`, attributeName: kind === 'New' ? null : 'code', entity: { type: 'Shot', id }, project: { type: 'Project', id: project },
    meta: kind === 'New'
      ? { type: 'new_entity', entity_type: 'Shot', entity_id: id }
      : { type: 'attribute_change', attribute_name: 'code', entity_type: 'Shot', entity_id: id, old_value: null, new_value: 'x', ...(inCreate ? { in_create: true } : {}) },
    description: 'test',
  });
  const start = Date.now();
  w.now = () => new Date(start);
  let out: { held: number; x: number; xRows: number[]; last: number } | undefined;
  site.store.db.transaction(() => {
    const held = log(h, a, 'Change', false);
    log(h, a, 'Change', false);
    log(h, a, 'Change', false);
    const newX = log(x, b, 'New', false);
    const rows = [log(x, b, 'Change', true), log(x, b, 'Change', true)];
    log(f, b, 'Change', false);
    out = { held, x: newX, xRows: rows, last: log(f, b, 'Change', false) };
  })();
  w.now = () => new Date();
  assert.ok(out);
  return out;
}

describe('coalesceCreation with a nearly full concurrency window', () => {
  it('a _New that a window-shortened read would take without its rows waits for room, then carries them', async (t) => {
    const { h, before, hold, running } = await recorderBed(t, 1);
    const logs = join(h.dir, 'logs');
    const yaml = await writeYaml(h, { stateFlushMs: 50, maxEventBatchSize: BATCH, concurrencyWindow: 4 },
      { coalesceCreation: true, coalesceWindowMs: 1000, concurrency: { by: 'project', max: 4 } }, { logging: { dir: logs, level: 'debug' } });
    const daemon = spawnDaemon(h, yaml, ['--from', String(before)]);
    running.d = daemon;
    const w = writeWindowLayout(h.site);
    assert.equal(w.held, before + 1, 'the layout has the id the hold file names');
    const logText = async (): Promise<string> => {
      let text = '';
      for (const f of await readdir(logs).catch(() => [])) text += await readFile(join(logs, f), 'utf8');
      return text;
    };
    // Without room for X's rows, X must not be delivered: either it waits (the log says so) or it went out alone (the defect).
    await waitFor('X waiting for room, or delivered', async () => {
      if (daemon.child.exitCode !== null) throw new Error(`daemon exited: ${daemon.output()}`);
      return (await logText()).includes('a creation waits for room in the window') || deliveries(await h.records()).some((x) => x.id === w.x);
    }, 60_000);
    assert.ok(!deliveries(await h.records()).some((x) => x.id === w.x), 'X is not delivered while the window has no room for its rows');
    await rm(hold);
    const all = await waitFor('the last event delivered', async () => {
      const got = deliveries(await h.records());
      return got.some((x) => x.id === w.last) && got.some((x) => x.id === w.x) ? got : undefined;
    }, 60_000);
    assert.equal(await daemon.stop(), 0, daemon.output());
    running.d = null;
    assert.deepEqual(all.find((x) => x.id === w.x)?.folded, w.xRows, `X carries its rows: ${JSON.stringify(all)}`);
    for (const row of w.xRows) assert.ok(!all.some((x) => x.id === row), `row ${row} is never delivered on its own`);
    const ids = new Set(all.map((x) => x.id));
    for (let id = before + 1; id <= w.last; id++) if (!w.xRows.includes(id)) assert.ok(ids.has(id), `event ${id} delivered`);
  });
});
