import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { answerText, parseAnswer, parseInPieces } from '../../src/shotgrid/answer-json.ts';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const records = (n: number) => Array.from({ length: n }, (_, i) => ({
  type: 'EventLogEntry', id: i, text: `é\u2028"\\,]}{[ ${i}`, meta: { list: [1, { s: '",]' }], none: null }, created_at: '2026-12-01T10:02:18Z',
}));

/** parseAnswer gives what JSON.parse of the whole text gives, or throws the same kind of error. */
function sameAsWhole(text: string): void {
  const b = bytes(text);
  const run = (f: () => unknown) => {
    try {
      return { value: f() };
    } catch (err) {
      return { error: (err as Error).constructor };
    }
  };
  assert.deepEqual(run(() => parseAnswer(b)), run(() => JSON.parse(answerText(b))));
}

describe('answer decoding (answer-json.ts)', () => {
  it('a large read page is parsed in pieces, records in order, the rest of the answer kept', () => {
    const compact = JSON.stringify({ results: { entities: records(2000), paging_info: { has_next_page: true } } });
    // As a Python site writes it: spaces after separators, records over several lines.
    const spaced = `{"results": {"entities": [${records(2000).map((r) => JSON.stringify(r, null, 1)).join(', ')}], "paging_info": {"entity_count": 2000}}}`;
    for (const text of [compact, spaced]) {
      assert.ok(bytes(text).length > 128 * 1024);
      const pieces = parseInPieces(bytes(text));
      assert.notEqual(pieces, undefined, 'parsed in pieces');
      assert.deepEqual(pieces, JSON.parse(text));
      sameAsWhole(text);
    }
  });

  it('other shapes, bad JSON, a BOM and small answers are parsed whole, with the same result or error', () => {
    const page = JSON.stringify({ results: { entities: records(2000) } });
    const others = [
      JSON.stringify({ results: { paging_info: { x: 1 }, entities: records(2000) } }), // entities not first
      JSON.stringify({ results: records(2000) }), // batch-like list
      JSON.stringify({ results: { groups: records(2000) } }),
    ];
    for (const text of others) {
      assert.equal(parseInPieces(bytes(text)), undefined, text.slice(0, 40));
      sameAsWhole(text);
    }
    for (const text of [page.slice(0, -3), page.replace('"id":5,', '"id":5,,'), `\ufeff${page}`, `${page} x`, '{"results": {"entities": []}}', '[]', '']) sameAsWhole(text);
  });
});
