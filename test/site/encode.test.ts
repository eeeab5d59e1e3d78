import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeBody } from '../../src/site/encode.ts';
import { EVENT_FIELDS } from '../../src/shared/index.ts';
import { bulkEvents } from '../dispatch/harness.ts';
import { withSite } from '../support/index.ts';
import { SCRIPT } from './helpers.ts';

const same = (body: unknown): void => assert.equal(encodeBody(body).toString('utf8'), JSON.stringify(body));

describe('answer encoding (encode.ts)', () => {
  it('a page of records encoded in pieces gives the bytes JSON.stringify gives for the whole body', () => {
    const records = (n: number, make: (i: number) => unknown) => Array.from({ length: n }, (_, i) => make(i));
    // Slice edges (49, 50, 51, 100, 101 records), paging info after the records, non-ASCII and escapes,
    // keys whose value JSON leaves out, and items JSON writes as null.
    for (const n of [1, 49, 50, 51, 100, 101, 500]) {
      same({ results: { entities: records(n, (i) => ({ type: 'Shot', id: i, code: `é\u2028"\\x${i}`, gone: undefined })) } });
      same({ results: { entities: records(n, (i) => ({ id: i })), paging_info: { entity_count: n, current_page: 1, page_count: 1 } } });
      same({ results: { entities: records(n, (i) => (i % 3 === 0 ? undefined : () => i)), paging_info: { has_next_page: true }, dropped: undefined } });
    }
    // Other shapes go through JSON.stringify whole.
    for (const body of [{ results: { x: 1, entities: records(200, (i) => i) } }, { results: records(200, (i) => i) }, { results: {} }, { a: 1 }, 'text', null, { exception: true, message: 'm', error_code: 103 }]) same(body);
    const withToJson = { results: { entities: records(200, (i) => i), toJSON: () => 'replaced' } };
    same(withToJson);
  });

  it('a 500-event read page over real HTTP: the bytes are JSON.stringify of what they decode to, every record in id order', async (t) => {
    const { site } = await withSite(t, { seed: 'demo' });
    const ids = bulkEvents(site, 1200);
    const envelope = {
      method_name: 'read',
      params: [SCRIPT, {
        type: 'EventLogEntry', return_fields: [...EVENT_FIELDS],
        filters: { logical_operator: 'and', conditions: [{ path: 'id', relation: 'greater_than', values: [ids[0]! - 1] }] },
        sorts: [{ field_name: 'id', direction: 'asc' }], paging: { entities_per_page: 500, current_page: 1 }, return_paging_info: true,
      }],
    };
    const res = await fetch(`${site.url}/api3/json`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(envelope), signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    assert.equal(Number(res.headers.get('content-length')), Buffer.byteLength(text));
    const body = JSON.parse(text) as { results: { entities: Array<{ id: number; meta: unknown }>; paging_info: { entity_count: number } } };
    assert.equal(text, JSON.stringify(body));
    assert.deepEqual(body.results.entities.map((e) => e.id), ids.slice(0, 500));
    assert.ok(body.results.entities.every((e) => typeof e.meta === 'object' && e.meta !== null));
    assert.ok(body.results.paging_info.entity_count >= 1200);
  });
});
