// Date/datetime encoding and decoding, and record fix-ups, against shotgun.py
// _transform_outbound, _transform_inbound and _parse_records (v3.10.0).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatDateTime, parseDateTime, transformInbound, transformOutbound } from '../../src/shotgrid/index.ts';
import { localPathField, parseRecords } from '../../src/shotgrid/values.ts';
import { clientFor, methodParams, startFakeSite } from './fake-site.ts';
import { onCleanup } from '../support/index.ts';

describe('date_time values', () => {
  it('formats a Date in UTC without sub-seconds', () => {
    assert.equal(formatDateTime(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678))), '2024-01-02T03:04:05Z');
    assert.equal(formatDateTime(new Date('2024-06-30T23:59:59.999-02:00')), '2024-07-01T01:59:59Z');
    assert.throws(() => formatDateTime(new Date('nope')), (e) => (e as { code?: string }).code === 'SG_INVALID_ARGUMENT');
  });

  it('parses only exactly-20-character YYYY-MM-DDTHH:MM:SSZ strings that are real times', () => {
    assert.equal(parseDateTime('2024-01-02T03:04:05Z')?.toISOString(), '2024-01-02T03:04:05.000Z');
    assert.equal(parseDateTime('0099-01-02T03:04:05Z')?.getUTCFullYear(), 99);
    for (const s of [
      '2024-01-02', // a date field stays a string
      '2024-01-02T03:04:05', // 19 characters
      '2024-01-02T03:04:05.1Z', // fractions are not parsed
      '2024-01-02 03:04:05Z',
      '2023-02-30T00:00:00Z', // strptime refuses the day
      '2024-13-02T03:04:05Z',
      '2024-01-02T24:00:00Z',
      '0000-01-01T00:00:00Z',
      'abcdefghijklmnopqrst',
    ]) {
      assert.equal(parseDateTime(s), undefined, s);
    }
  });

  it('walks lists and dicts both ways', () => {
    const d = new Date(Date.UTC(2020, 4, 6, 7, 8, 9));
    assert.deepEqual(transformOutbound({ a: [d, { b: d }], c: '2020-05-06', n: null }), {
      a: ['2020-05-06T07:08:09Z', { b: '2020-05-06T07:08:09Z' }],
      c: '2020-05-06',
      n: null,
    });
    assert.deepEqual(transformInbound({ a: ['2020-05-06T07:08:09Z', { b: '2020-05-06T07:08:09Z' }], c: '2020-05-06' }), {
      a: [d, { b: d }],
      c: '2020-05-06',
    });
  });
});

describe('record fix-ups (shotgun.py _parse_records)', () => {
  it('turns &lt; back into < in top-level strings only', () => {
    const recs = parseRecords([{ type: 'Note', id: 1, content: 'a &lt;b&gt; &lt;c', meta: { x: '&lt;' } }, true]);
    assert.deepEqual(recs, [{ type: 'Note', id: 1, content: 'a <b&gt; <c', meta: { x: '&lt;' } }, true]);
  });

  it('adds local_path and a file:// url to local file links for this OS', () => {
    const field = localPathField('linux');
    assert.equal(field, 'local_path_linux');
    const link = { link_type: 'local', local_path_linux: '/mnt/a.exr', local_path_mac: '/Volumes/a.exr', name: 'a.exr' };
    const [rec] = parseRecords([{ type: 'Version', id: 2, sg_path_to_frames: link }], field) as [Record<string, unknown>];
    assert.deepEqual(rec['sg_path_to_frames'], { ...link, local_path: '/mnt/a.exr', url: 'file:///mnt/a.exr' });
    // A web link is left alone.
    const web = { link_type: 'web', url: 'http://x' };
    const [rec2] = parseRecords([{ type: 'Version', id: 3, l: { ...web } }], field) as [Record<string, unknown>];
    assert.deepEqual(rec2['l'], web);
  });
});

describe('values on the wire', () => {
  it('sends Dates in data and filters as UTC strings; reads them back as Dates at any depth', async (t) => {
    const when = new Date(Date.UTC(2021, 11, 31, 22, 0, 1, 500));
    const site = await startFakeSite((req) => {
      if (req.body.method_name === 'read') {
        return {
          json: {
            results: {
              entities: [
                {
                  type: 'EventLogEntry',
                  id: 10,
                  created_at: '2021-12-31T22:00:01Z',
                  meta: { old_value: '2021-01-01T00:00:00Z', new_value: '2021-02-03', list: ['2021-01-01T00:00:00Z'] },
                  description: 'x &lt; y',
                },
              ],
              paging_info: { has_next_page: false },
            },
          },
        };
      }
      if (req.body.method_name === 'create') return { json: { results: [{ type: 'Shot', id: 1, due: '2022-01-02' }] } };
      return undefined;
    });
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    const created = await sg.create('Shot', { sg_cut_date: when, due: '2022-01-02', list: [when] });
    assert.deepEqual(created, { type: 'Shot', id: 1, due: '2022-01-02' }, 'create takes the first of a list answer');
    assert.deepEqual((methodParams(site.calls('create')[0]) as { fields: unknown }).fields, [
      { field_name: 'sg_cut_date', value: '2021-12-31T22:00:01Z' },
      { field_name: 'due', value: '2022-01-02' },
      { field_name: 'list', value: ['2021-12-31T22:00:01Z'] },
    ]);

    const [ev] = await sg.find('EventLogEntry', [['created_at', 'greater_than', when]], ['created_at', 'meta']);
    assert.deepEqual((methodParams(site.calls('read')[0]) as { filters: unknown }).filters, {
      logical_operator: 'and',
      conditions: [{ path: 'created_at', relation: 'greater_than', values: ['2021-12-31T22:00:01Z'] }],
    });
    assert.ok(ev);
    assert.ok(ev['created_at'] instanceof Date);
    assert.equal((ev['created_at']).toISOString(), '2021-12-31T22:00:01.000Z');
    const meta = ev['meta'] as { old_value: unknown; new_value: unknown; list: unknown[] };
    assert.ok(meta.old_value instanceof Date);
    assert.equal(meta.new_value, '2021-02-03');
    assert.ok(meta.list[0] instanceof Date);
    assert.equal(ev['description'], 'x < y');
  });
});
