import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeHarness, addPlugin, waitFor, runDaemon } from './harness.ts';

type Match = null | Record<string, string[] | null>;

// The callbacks of fixtures/daemon/matcher.mjs in registration order, with
// their matchEvents and args, and shotgunEvents' Callback.canProcess rule.
const CALLBACKS: Array<[string, Match, unknown]> = [
  ['none', null, null],
  ['nullMatch', null, null],
  ['star', { '*': null }, { tag: 'star' }],
  ['status', { Shotgun_Shot_Change: ['sg_status_list'] }, { tag: 'async', n: 1 }],
  ['shotAny', { Shotgun_Shot_Change: ['*'] }, null],
  ['types', { Shotgun_Shot_New: null, Shotgun_Asset_New: null }, null],
  ['starAttr', { '*': ['description'] }, null],
];

function canProcess(m: Match, type: string, attr: string | null): boolean {
  if (m === null) return true;
  const key = '*' in m ? '*' : type;
  if (!(key in m)) return false;
  const attrs = m[key];
  if (attrs === null || attrs === undefined || attrs.includes('*')) return true;
  return attr !== null && attr !== '' && attrs.includes(attr);
}

describe('matchEvents end to end', () => {
  it('delivers each event to exactly the callbacks whose matchEvents match, in registration order, with their args, sync and async', async () => {
    const h = await makeHarness();
    try {
      await addPlugin(h, 'matcher.mjs');
      const daemon = await runDaemon(h.config());
      try {
        const start = daemon.status().newestEventId;
        const project = await h.sg.findOne('Project', [], ['id']);
        assert.ok(project);
        const p = { type: 'Project', id: project['id'] };
        const shot = await h.sg.create('Shot', { code: 'm1', project: p });
        await h.sg.create('Asset', { code: 'a1', project: p });
        await h.sg.update('Shot', shot['id'], { sg_status_list: 'ip' });
        await h.sg.update('Shot', shot['id'], { description: 'text' });
        await h.sg.update('Shot', shot['id'], { code: 'm1b' });
        const events = await h.sg.find('EventLogEntry', [['id', 'greater_than', start]], ['id', 'event_type', 'attribute_name'], { order: [{ field_name: 'id', direction: 'asc' }] });
        const last = events.at(-1)?.['id'];
        assert.equal(typeof last, 'number');
        const recs = await waitFor('the plugin to pass the last event', async () => {
          const r = await h.records();
          return r.some((x) => x[0] === 'none' && Number(x[1]) === last) ? r : undefined;
        });
        const expected: string[] = [];
        for (const e of events) {
          const type = String(e['event_type']);
          const attr = (e['attribute_name'] as string | null) ?? null;
          for (const [name, m, args] of CALLBACKS) {
            if (canProcess(m, type, attr)) expected.push(`${name} ${String(e['id'])} ${type} ${attr ?? '-'} ${JSON.stringify(args)}`);
          }
        }
        assert.deepEqual(recs.map((r) => r.join(' ')), expected);
        // The event mix really exercises every form.
        for (const [name] of CALLBACKS) assert.ok(recs.some((r) => r[0] === name), `${name} was called at least once`);
        assert.ok(recs.filter((r) => r[0] === 'status').length < recs.filter((r) => r[0] === 'shotAny').length, 'the attribute filter left out some Shot changes');
      } finally {
        await daemon.stop();
      }
    } finally {
      await h.close();
    }
  });
});
