// Paging as shotgun.py find does it (v3.10.0): one call for a limit within a
// page or an explicit page, else a loop with has_next_page (server >= 7.4)
// or entity_count (older servers).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { clientFor, methodParams, startFakeSite, type RecordedRequest } from './fake-site.ts';
import { onCleanup } from '../support/index.ts';

interface ReadParams {
  paging: { entities_per_page: number; current_page: number };
  [k: string]: unknown;
}

const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ type: 'Shot', id: i + 1 }));

/** A site holding `total` Shots, answering reads page by page in the given style. */
async function pagedSite(total: number, style: 'next' | 'count', info: Record<string, unknown>) {
  const all = rows(total);
  return startFakeSite(
    (req: RecordedRequest) => {
      if (req.body.method_name !== 'read') return undefined;
      const p = methodParams(req) as ReadParams;
      const { entities_per_page: per, current_page: page } = p.paging;
      const entities = all.slice((page - 1) * per, page * per);
      const paging_info = style === 'next' ? { has_next_page: page * per < total } : { entity_count: total };
      return { json: { results: { entities, paging_info } } };
    },
    { info },
  );
}

const pages = (reqs: RecordedRequest[]) => reqs.map((r) => (methodParams(r) as ReadParams).paging);

describe('find paging', () => {
  it('>= 7.4: loops on has_next_page with return_paging_info_without_counts, page size from info', async (t) => {
    const site = await pagedSite(7, 'next', { version: [7, 4, 0], api_max_entities_per_page: 3 });
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    const got = await sg.find('Shot', []);
    assert.deepEqual(got, rows(7));
    const reads = site.calls('read');
    assert.deepEqual(pages(reads), [
      { entities_per_page: 3, current_page: 1 },
      { entities_per_page: 3, current_page: 2 },
      { entities_per_page: 3, current_page: 3 },
    ]);
    for (const r of reads) {
      const p = methodParams(r) as Record<string, unknown>;
      assert.equal(p['return_paging_info_without_counts'], true);
      assert.equal('return_paging_info' in p, false);
    }
  });

  it('< 7.4: loops with return_paging_info until entity_count is reached', async (t) => {
    const site = await pagedSite(5, 'count', { version: [7, 3, 9], api_max_entities_per_page: 2 });
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    assert.deepEqual(await sg.find('Shot', []), rows(5));
    const reads = site.calls('read');
    assert.deepEqual(
      pages(reads).map((p) => p.current_page),
      [1, 2, 3],
    );
    assert.equal((methodParams(reads[0]) as Record<string, unknown>)['return_paging_info'], true);
    assert.equal('return_paging_info_without_counts' in (methodParams(reads[0]) as object), false);
  });

  it('< 7.4: stops on an empty page even when entity_count says more', async (t) => {
    const site = await startFakeSite(
      (req) => {
        if (req.body.method_name !== 'read') return undefined;
        const page = (methodParams(req) as ReadParams).paging.current_page;
        const entities = page === 1 ? rows(2) : [];
        return { json: { results: { entities, paging_info: { entity_count: 10 } } } };
      },
      { info: { version: [6, 0, 0], api_max_entities_per_page: 2 } },
    );
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    assert.deepEqual(await sg.find('Shot', []), rows(2));
    assert.equal(site.calls('read').length, 2);
  });

  it('a limit within one page is one call with the flag false, entities_per_page = limit', async (t) => {
    const site = await pagedSite(50, 'next', { version: [8, 0, 0], api_max_entities_per_page: 10 });
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    assert.deepEqual(await sg.find('Shot', [], [], { limit: 4 }), rows(4));
    const reads = site.calls('read');
    assert.equal(reads.length, 1);
    assert.deepEqual(pages(reads), [{ entities_per_page: 4, current_page: 1 }]);
    assert.equal((methodParams(reads[0]) as Record<string, unknown>)['return_paging_info_without_counts'], false);
  });

  it('a limit past one page loops full pages and cuts the result at the limit', async (t) => {
    const site = await pagedSite(50, 'next', { version: [8, 0, 0], api_max_entities_per_page: 10 });
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    assert.deepEqual(await sg.find('Shot', [], [], { limit: 25 }), rows(25));
    assert.deepEqual(pages(site.calls('read')), [
      { entities_per_page: 10, current_page: 1 },
      { entities_per_page: 10, current_page: 2 },
      { entities_per_page: 10, current_page: 3 },
    ]);
  });

  it('an explicit page is one call for that page', async (t) => {
    const site = await pagedSite(50, 'next', { version: [8, 0, 0], api_max_entities_per_page: 10 });
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    const got = await sg.find('Shot', [], [], { limit: 5, page: 3 });
    assert.deepEqual(got, rows(15).slice(10));
    assert.deepEqual(pages(site.calls('read')), [{ entities_per_page: 5, current_page: 3 }]);
    // A page without a limit uses the site's page size.
    await sg.find('Shot', [], [], { page: 2 });
    assert.deepEqual(pages(site.calls('read'))[1], { entities_per_page: 10, current_page: 2 });
    assert.equal((methodParams(site.calls('read')[1]) as Record<string, unknown>)['return_paging_info_without_counts'], false);
  });

  it('page size defaults to 500 when info has no api_max_entities_per_page', async (t) => {
    const site = await pagedSite(3, 'next', { version: [8, 0, 0] });
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    await sg.find('Shot', []);
    assert.deepEqual(pages(site.calls('read')), [{ entities_per_page: 500, current_page: 1 }]);
  });

  it('refuses a negative or fractional limit/page before sending', async (t) => {
    const site = await pagedSite(3, 'next', { version: [8, 0, 0] });
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    for (const o of [{ limit: -1 }, { page: 1.5 }]) {
      await assert.rejects(sg.find('Shot', [], [], o), (e) => (e as { code?: string }).code === 'SG_INVALID_ARGUMENT');
    }
    assert.equal(site.calls('read').length, 0);
  });
});

describe('version gates (protocol.md 1.4)', () => {
  it('no api_return_image_urls before 3.3.0; include_archived_projects false needs 5.3.14', async (t) => {
    const site = await pagedSite(1, 'count', { version: [3, 2, 9] });
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    await sg.find('Shot', []);
    assert.equal('api_return_image_urls' in (methodParams(site.calls('read')[0]) as object), false);
    await assert.rejects(
      sg.find('Shot', [], [], { includeArchivedProjects: false }),
      (e) => (e as { code?: string }).code === 'SG_UNSUPPORTED_BY_SERVER',
    );
    await assert.rejects(
      sg.find('Shot', [], [], { additionalFilterPresets: [{ preset_name: 'LATEST' }] }),
      (e) => (e as { code?: string }).code === 'SG_UNSUPPORTED_BY_SERVER',
    );
    assert.equal(site.calls('read').length, 1);
  });

  it('include_archived_projects is sent only when false; presets sent on 7.0+', async (t) => {
    const site = await pagedSite(1, 'next', { version: [8, 0, 0] });
    const sg = clientFor(site);
    onCleanup(t, () => site.close());
    onCleanup(t, () => sg.close());
    await sg.find('Shot', [], [], { includeArchivedProjects: true });
    await sg.find('Shot', [], [], { includeArchivedProjects: false, additionalFilterPresets: [{ preset_name: 'LATEST' }] });
    const [a, b] = site.calls('read').map((r) => methodParams(r) as Record<string, unknown>);
    assert.equal('include_archived_projects' in (a ?? {}), false);
    assert.equal(b?.['include_archived_projects'], false);
    assert.deepEqual(b?.['additional_filter_presets'], [{ preset_name: 'LATEST' }]);
  });

  it('refuses a site older than 2.4.0 and one whose info has no version', async () => {
    const cases = [
      { info: { version: [2, 3, 9] }, code: 'SG_UNSUPPORTED_BY_SERVER' },
      { info: { full_version: [9, 0, 0] }, code: 'SG_BAD_RESPONSE' },
    ];
    for (const { info, code } of cases) {
      const site = await startFakeSite(undefined, { info });
      const sg = clientFor(site);
      try {
        await assert.rejects(sg.find('Shot', []), (e) => (e as { code?: string }).code === code);
        assert.equal(site.calls().length, 0);
      } finally {
        await sg.close();
        await site.close();
      }
    }
  });
});
