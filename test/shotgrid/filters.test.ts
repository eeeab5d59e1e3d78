// Filter translation, case by case, against shotgun.py _translate_filters*
// and _optimize_filter_field (v3.10.0).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { translateFilters, optimizeEntityValue, type Filter, type FilterGroup } from '../../src/shotgrid/index.ts';
import { clientFor, methodParams, startFakeSite } from './fake-site.ts';
import { onCleanup } from '../support/index.ts';

const codeOf = (err: unknown) => (err as { code?: string }).code;

describe('translateFilters', () => {
  it('wraps a list in an "and" group; values after the relation become `values`', () => {
    assert.deepEqual(translateFilters([['code', 'is', 'sh010'], ['id', 'between', 1, 9]]), {
      logical_operator: 'and',
      conditions: [
        { path: 'code', relation: 'is', values: ['sh010'] },
        { path: 'id', relation: 'between', values: [1, 9] },
      ],
    });
    assert.deepEqual(translateFilters([]), { logical_operator: 'and', conditions: [] });
  });

  it('maps all/and to "and" and any/or to "or"', () => {
    for (const [op, want] of [
      ['all', 'and'],
      ['and', 'and'],
      ['any', 'or'],
      ['or', 'or'],
    ] as const) {
      assert.equal(translateFilters([], op).logical_operator, want);
    }
    assert.throws(() => translateFilters([], 'xor'), (e) => codeOf(e) === 'SG_INVALID_ARGUMENT');
  });

  it('a single list value is the value list itself', () => {
    assert.deepEqual(translateFilters([['sg_status_list', 'in', ['ip', 'rev']]]).conditions, [
      { path: 'sg_status_list', relation: 'in', values: ['ip', 'rev'] },
    ]);
    // Two values that are lists stay a list of lists.
    assert.deepEqual(translateFilters([['x', 'is', [1], [2]]]).conditions, [{ path: 'x', relation: 'is', values: [[1], [2]] }]);
  });

  it('trims entity values under is/is_not/in/not_in, not on `id` and not for other relations', () => {
    const full = { type: 'Shot', id: 3, name: 'sh010', code: 'sh010', project: { type: 'Project', id: 1 } };
    const trimmed = { type: 'Shot', id: 3, name: 'sh010' };
    const filters: Filter[] = [
      ['entity', 'is', full],
      ['entity', 'is_not', full],
      ['entity', 'in', [full, full]],
      ['entity', 'not_in', full, full],
      ['id', 'is', full],
      ['entity', 'type_is', full],
    ];
    assert.deepEqual(
      translateFilters(filters).conditions.map((c) => ('values' in c ? c.values : null)),
      [[trimmed], [trimmed], [trimmed, trimmed], [trimmed, trimmed], [full], [full]],
    );
  });

  it('trims only when the first value is an entity dict, keeping url/local_path keys', () => {
    const link = { type: 'Attachment', id: 2, url: 'http://x', local_path: '/a', storage: 's', relative_path: 'r', other: 1 };
    assert.deepEqual(optimizeEntityValue(link), {
      type: 'Attachment',
      id: 2,
      url: 'http://x',
      local_path: '/a',
      storage: 's',
      relative_path: 'r',
    });
    // Not an entity (no id): unchanged.
    assert.deepEqual(optimizeEntityValue({ type: 'Shot', name: 'x' }), { type: 'Shot', name: 'x' });
    // Lists are trimmed one level deep only.
    assert.deepEqual(optimizeEntityValue([[{ type: 'A', id: 1, z: 1 }]]), [[{ type: 'A', id: 1, z: 1 }]]);
    assert.deepEqual(translateFilters([['entity', 'in', 5, { type: 'Shot', id: 3, code: 'c' }]]).conditions, [
      { path: 'entity', relation: 'in', values: [5, { type: 'Shot', id: 3, code: 'c' }] },
    ]);
  });

  it('nests {filter_operator, filters} groups at any depth', () => {
    const group: FilterGroup = {
      filter_operator: 'any',
      filters: [
        ['code', 'starts_with', 'sh'],
        { filter_operator: 'all', filters: [['id', 'greater_than', 3], ['assets', 'is', { type: 'Asset', id: 9, code: 'x' }]] },
      ],
    };
    assert.deepEqual(translateFilters([['sg_status_list', 'is', 'ip'], group]), {
      logical_operator: 'and',
      conditions: [
        { path: 'sg_status_list', relation: 'is', values: ['ip'] },
        {
          logical_operator: 'or',
          conditions: [
            { path: 'code', relation: 'starts_with', values: ['sh'] },
            {
              logical_operator: 'and',
              conditions: [
                { path: 'id', relation: 'greater_than', values: [3] },
                { path: 'assets', relation: 'is', values: [{ type: 'Asset', id: 9 }] },
              ],
            },
          ],
        },
      ],
    });
  });

  it('refuses a group without a filters list and items that are neither lists nor groups', () => {
    assert.throws(
      () => translateFilters([{ filter_operator: 'all', filters: 'x' } as unknown as FilterGroup]),
      (e) => codeOf(e) === 'SG_INVALID_ARGUMENT',
    );
    assert.throws(() => translateFilters(['code' as unknown as Filter]), (e) => codeOf(e) === 'SG_INVALID_ARGUMENT');
  });
});

describe('filters on the wire', () => {
  it('find sends translated list filters, and a wire-form object untranslated (shotgun.py find)', async (t) => {
    const site = await startFakeSite((req) =>
      req.body.method_name === 'read' ? { json: { results: { entities: [], paging_info: { has_next_page: false } } } } : undefined,
    );
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    await sg.find('Shot', [['sg_sequence.Sequence.code', 'is', 'sq1']], ['code'], { filterOperator: 'any' });
    const wire = { logical_operator: 'or', conditions: [{ path: 'id', relation: 'in', values: [1, 2] }] };
    await sg.find('Shot', wire);
    const [a, b] = site.calls('read');
    assert.deepEqual((methodParams(a) as { filters: unknown }).filters, {
      logical_operator: 'or',
      conditions: [{ path: 'sg_sequence.Sequence.code', relation: 'is', values: ['sq1'] }],
    });
    assert.deepEqual((methodParams(b) as { filters: unknown }).filters, wire);
    // filter_operator with wire-form filters is refused, as shotgun.py does.
    await assert.rejects(sg.find('Shot', wire, [], { filterOperator: 'all' }), (e) => codeOf(e) === 'SG_INVALID_ARGUMENT');
    assert.equal(site.calls('read').length, 2);
  });
});
