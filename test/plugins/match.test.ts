import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { canProcess, checkMatchEvents } from '../../src/plugins/index.ts';
import type { MatchEvents } from '../../src/index.ts';

// Each row: matchEvents, event_type, attribute_name, expected. The expected
// values follow shotgunEvents' Callback.canProcess line by line:
//   if not matchEvents: True
//   eventType = '*' if '*' in matchEvents else event_type (absent -> False)
//   attributes = matchEvents[eventType]
//   attributes is None or '*' in attributes -> True
//   attribute_name truthy and in attributes -> True, else False
type Row = [MatchEvents, string, string | null, boolean];

const rows: Row[] = [
  // Empty filters take everything.
  [undefined, 'Shotgun_Shot_New', null, true],
  [null, 'Shotgun_Shot_Change', 'code', true],
  [{}, 'Anything', 'x', true],
  // Event type → null: any attribute, including none.
  [{ Shotgun_Shot_New: null }, 'Shotgun_Shot_New', null, true],
  [{ Shotgun_Shot_New: null }, 'Shotgun_Shot_New', 'code', true],
  [{ Shotgun_Shot_New: null }, 'Shotgun_Asset_New', null, false],
  // Event type → ['*'].
  [{ Shotgun_Shot_Change: ['*'] }, 'Shotgun_Shot_Change', 'code', true],
  [{ Shotgun_Shot_Change: ['*'] }, 'Shotgun_Shot_Change', null, true],
  [{ Shotgun_Shot_Change: ['code', '*'] }, 'Shotgun_Shot_Change', 'other', true],
  // Event type → attribute list.
  [{ Shotgun_Shot_Change: ['sg_status_list', 'code'] }, 'Shotgun_Shot_Change', 'sg_status_list', true],
  [{ Shotgun_Shot_Change: ['sg_status_list', 'code'] }, 'Shotgun_Shot_Change', 'code', true],
  [{ Shotgun_Shot_Change: ['sg_status_list', 'code'] }, 'Shotgun_Shot_Change', 'description', false],
  [{ Shotgun_Shot_Change: ['sg_status_list'] }, 'Shotgun_Shot_Change', null, false],
  [{ Shotgun_Shot_Change: ['sg_status_list'] }, 'Shotgun_Shot_Change', '', false],
  [{ Shotgun_Shot_Change: ['sg_status_list'] }, 'Shotgun_Task_Change', 'sg_status_list', false],
  [{ Shotgun_Shot_Change: [] }, 'Shotgun_Shot_Change', 'code', false],
  [{ Shotgun_Shot_Change: [''] }, 'Shotgun_Shot_Change', '', false],
  // Several event types.
  [{ Shotgun_Shot_New: null, Shotgun_Shot_Change: ['code'] }, 'Shotgun_Shot_New', null, true],
  [{ Shotgun_Shot_New: null, Shotgun_Shot_Change: ['code'] }, 'Shotgun_Shot_Change', 'code', true],
  [{ Shotgun_Shot_New: null, Shotgun_Shot_Change: ['code'] }, 'Shotgun_Shot_Change', 'sg_status_list', false],
  [{ Shotgun_Shot_New: null, Shotgun_Shot_Change: ['code'] }, 'Shotgun_Shot_Retirement', null, false],
  // '*' on the event-type side: every type, with the '*' entry's attributes.
  [{ '*': null }, 'Shotgun_Anything', null, true],
  [{ '*': ['*'] }, 'Shotgun_Anything', 'code', true],
  [{ '*': ['sg_status_list'] }, 'Shotgun_Task_Change', 'sg_status_list', true],
  [{ '*': ['sg_status_list'] }, 'Shotgun_Shot_Change', 'sg_status_list', true],
  [{ '*': ['sg_status_list'] }, 'Shotgun_Shot_Change', 'code', false],
  [{ '*': ['sg_status_list'] }, 'Shotgun_Shot_New', null, false],
  // With '*' present the other keys are ignored entirely.
  [{ '*': ['sg_status_list'], Shotgun_Shot_New: null }, 'Shotgun_Shot_New', null, false],
  [{ '*': ['sg_status_list'], Shotgun_Shot_Change: ['code'] }, 'Shotgun_Shot_Change', 'code', false],
  [{ '*': null, Shotgun_Shot_Change: ['code'] }, 'Shotgun_Shot_Change', 'description', true],
  // A plain string is matched as Python's `in` on str: substring.
  [{ Shotgun_Shot_Change: 'sg_status_list' }, 'Shotgun_Shot_Change', 'sg_status_list', true],
  [{ Shotgun_Shot_Change: 'sg_status_list' }, 'Shotgun_Shot_Change', 'status', true],
  [{ Shotgun_Shot_Change: 'sg_status_list' }, 'Shotgun_Shot_Change', 'code', false],
  [{ Shotgun_Shot_Change: 'a*b' }, 'Shotgun_Shot_Change', 'zzz', true],
  // Event types are case-sensitive keys.
  [{ shotgun_shot_new: null }, 'Shotgun_Shot_New', null, false],
];

describe('canProcess (shotgunEvents Callback.canProcess)', () => {
  for (const [matchEvents, eventType, attributeName, expected] of rows) {
    it(`${JSON.stringify(matchEvents)} vs ${eventType}/${String(attributeName)} → ${expected}`, () => {
      assert.equal(canProcess(matchEvents, { event_type: eventType, attribute_name: attributeName }), expected);
    });
  }

  it('does not match inherited keys such as toString', () => {
    assert.equal(canProcess({ Shotgun_Shot_New: null }, { event_type: 'toString', attribute_name: null }), false);
  });

  it('agrees with the Python original on every row', async () => {
    // Run the rows through a verbatim copy of canProcess in python3.
    const { spawnSync } = await import('node:child_process');
    const py = [
      'import json, sys',
      'def canProcess(m, event):',
      '    if not m: return True',
      '    if "*" in m: eventType = "*"',
      '    else:',
      '        eventType = event["event_type"]',
      '        if eventType not in m: return False',
      '    attributes = m[eventType]',
      '    if attributes is None or "*" in attributes: return True',
      '    if event["attribute_name"] and event["attribute_name"] in attributes: return True',
      '    return False',
      'rows = json.load(sys.stdin)',
      'print(json.dumps([canProcess(r[0], {"event_type": r[1], "attribute_name": r[2]}) for r in rows]))',
    ].join('\n');
    const out = spawnSync('python3', ['-c', py], { input: JSON.stringify(rows), encoding: 'utf8', timeout: 20_000 });
    assert.equal(out.status, 0, out.stderr);
    const pyResults = JSON.parse(out.stdout) as boolean[];
    const ours = rows.map(([m, t, a]) => canProcess(m, { event_type: t, attribute_name: a }));
    assert.deepEqual(ours, pyResults);
    assert.deepEqual(ours, rows.map((r) => r[3]));
  });
});

describe('checkMatchEvents', () => {
  it('accepts every documented form', () => {
    for (const m of [undefined, null, {}, { a: null }, { a: ['x'] }, { '*': ['*'] }, { a: 'x' }]) assert.equal(checkMatchEvents(m), null);
  });
  it('rejects shapes that are not filters', () => {
    for (const m of [[], 'Shotgun_Shot_New', 3, { a: 3 }, { a: [1] }, new Map()]) assert.equal(typeof checkMatchEvents(m), 'string');
  });
});
