import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { withSite } from '../support/index.ts';
import { create, events, faultOf, lastEventId, update } from './helpers.ts';

describe('site: a Note marked read logs Shotgun_Reading_Change, as a real site does', () => {
  it('update read_by_current_user writes one Shotgun_Reading_Change row (no Note change), once per state change', async (t) => {
    const test = await withSite(t);
    const site = test.site;
    const project = await test.firstProject();
    const note = await create(site, 'Note', { subject: 'look at the comp', content: 'edges', project });
    const before = await lastEventId(site);

    const r = await update(site, 'Note', note.id, { read_by_current_user: 'read' });
    assert.equal(r['read_by_current_user'], 'read');
    const rows = await events(site, before);
    assert.deepEqual(rows.map((e) => e['event_type']), ['Shotgun_Reading_Change'], 'only the reading row, no Shotgun_Note_Change');
    const [row] = rows;
    assert.equal(row?.['attribute_name'], 'read_by_current_user');
    assert.deepEqual({ type: (row?.['entity'] as { type: string }).type, id: (row?.['entity'] as { id: number }).id }, { type: 'Note', id: note.id });
    assert.deepEqual((row?.['project'] as { id: number }).id, project.id);
    assert.deepEqual(row?.['meta'], { type: 'attribute_change', attribute_name: 'read_by_current_user', new_value: 'read', old_value: null },
      'meta without entity_type/entity_id (protocol.md 3.3)');

    const afterRead = await lastEventId(site);
    await update(site, 'Note', note.id, { read_by_current_user: 'read' });
    assert.equal(await lastEventId(site), afterRead, 'already read: no new row');
    await update(site, 'Note', note.id, { read_by_current_user: 'unread', subject: 'look at the comp again' });
    const next = await events(site, afterRead);
    assert.deepEqual(next.map((e) => [e['event_type'], e['attribute_name']]).sort(),
      [['Shotgun_Note_Change', 'subject'], ['Shotgun_Reading_Change', 'read_by_current_user']]);
    assert.equal((next.find((e) => e['event_type'] === 'Shotgun_Reading_Change')?.['meta'] as { new_value: string }).new_value, 'unread');

    const fault = await faultOf(site, 'update', { type: 'Note', id: note.id, fields: [{ field_name: 'read_by_current_user', value: 'skimmed' }] });
    assert.equal(fault.error_code, 103, 'a value other than read/unread is a client fault');
  });
});
