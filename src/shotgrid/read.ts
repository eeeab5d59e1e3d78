import type { z } from 'zod';
import { atLeast, type ServerCaps } from './caps.ts';
import type { Params } from './params.ts';
import { badResponse, type ReadResults } from './wire.ts';

export type ReadPage = (params: Params) => Promise<z.infer<typeof ReadResults>>;
type Record = z.infer<typeof ReadResults>['entities'] & object;

/**
 * find's paging, exactly as shotgun.py find (v3.10.0):
 * - a limit within one page and no page: one call, entities_per_page = limit;
 * - an explicit page: one call for that page;
 * - otherwise a loop with the paging flag true, following has_next_page on
 *   sites >= 7.4 (return_paging_info_without_counts), else stopping at
 *   entity_count or an empty page (return_paging_info); cut at the limit.
 * Mutates `params.paging` as it goes, as the Python client does.
 */
export async function readPages(
  caps: ServerCaps,
  params: Params & { paging: { entities_per_page: number; current_page: number } },
  limit: number,
  page: number,
  readPage: ReadPage,
): Promise<Record> {
  const withoutCounts = atLeast(caps.version, [7, 4, 0]);
  const flag = withoutCounts ? 'return_paging_info_without_counts' : 'return_paging_info';
  params[flag] = false;

  if (limit && limit <= caps.recordsPerPage) {
    params.paging.entities_per_page = limit;
    if (page === 0) page = 1;
  }
  if (page !== 0) {
    params.paging.current_page = page;
    return (await readPage(params)).entities ?? [];
  }

  params[flag] = true;
  let records: Record = [];
  if (withoutCounts) {
    let hasNext = true;
    while (hasNext) {
      const result = await readPage(params);
      records.push(...(result.entities ?? []));
      if (limit && records.length >= limit) {
        records = records.slice(0, limit);
        break;
      }
      const next = result.paging_info?.has_next_page;
      if (next === undefined) throw badResponse('read', 'paging_info.has_next_page missing');
      hasNext = next;
      params.paging.current_page += 1;
    }
  } else {
    let result = await readPage(params);
    while (result.entities && result.entities.length > 0) {
      records.push(...result.entities);
      if (limit && records.length >= limit) {
        records = records.slice(0, limit);
        break;
      }
      const count = result.paging_info?.entity_count;
      if (count === undefined) throw badResponse('read', 'paging_info.entity_count missing');
      if (records.length === count) break;
      params.paging.current_page += 1;
      result = await readPage(params);
    }
  }
  return records;
}
