/**
 * The parts of the filter compiler that hold no state of a compile: the join
 * scope of one SELECT, the relations allowed per data type, LIKE patterns and
 * the windows of time relations.
 */
import { clientFault } from './faults.ts';

/** One SELECT scope: its joins and their aliases. */
export class QueryScope {
  readonly joins: string[] = [];
  readonly #aliases = new Map<string, string>();
  readonly #shared: { n: number };

  constructor(shared: { n: number } = { n: 0 }) {
    this.#shared = shared;
  }

  alias(prefix = 'j'): string {
    this.#shared.n += 1;
    return `${prefix}${this.#shared.n}`;
  }

  child(): QueryScope {
    return new QueryScope(this.#shared);
  }

  joinFor(key: string, make: (alias: string) => string): string {
    let a = this.#aliases.get(key);
    if (a === undefined) {
      a = this.alias();
      this.#aliases.set(key, a);
      this.joins.push(make(a));
    }
    return a;
  }
}

/**
 * Limits on one query's filters, so a client mistake (a generated filter gone
 * wrong) is a 103 fault naming the limit rather than an internal error: groups
 * nested deeper than MAX_FILTER_DEPTH, or more than MAX_FILTER_VALUES values in
 * all (an `in` list counts each value; SQLite binds at most 32,766 per query).
 */
type Relation = string;

export const RELATIONS: Record<string, readonly Relation[]> = {
  text: ['is', 'is_not', 'contains', 'not_contains', 'starts_with', 'ends_with', 'in', 'not_in'],
  uuid: ['is', 'is_not', 'contains', 'not_contains', 'starts_with', 'ends_with', 'in', 'not_in'],
  number: ['is', 'is_not', 'less_than', 'greater_than', 'between', 'not_between', 'in', 'not_in'],
  float: ['is', 'is_not', 'less_than', 'greater_than', 'between', 'not_between', 'in', 'not_in'],
  duration: ['is', 'is_not', 'less_than', 'greater_than', 'between', 'not_between', 'in', 'not_in'],
  checkbox: ['is', 'is_not'],
  date: ['is', 'is_not', 'less_than', 'greater_than', 'between', 'not_between', 'in', 'not_in', 'in_last', 'not_in_last', 'in_next', 'not_in_next',
    'in_calendar_day', 'in_calendar_week', 'in_calendar_month', 'in_calendar_year'],
  list: ['is', 'is_not', 'in', 'not_in'],
  status_list: ['is', 'is_not', 'in', 'not_in'],
  entity: ['is', 'is_not', 'in', 'not_in', 'type_is', 'type_is_not', 'name_is', 'name_contains', 'name_not_contains', 'name_starts_with', 'name_ends_with'],
  multi_entity: ['is', 'is_not', 'in', 'not_in', 'type_is', 'type_is_not', 'name_is', 'name_contains', 'name_not_contains', 'name_starts_with', 'name_ends_with'],
  tag_list: ['is', 'is_not', 'name_contains', 'name_not_contains', 'name_is'],
  image: ['is', 'is_not'],
};
RELATIONS.date_time = RELATIONS.date!;

export function like(v: string, mode: 'contains' | 'starts' | 'ends'): string {
  const esc = v.replace(/[\\%_]/g, (c) => `\\${c}`);
  return mode === 'contains' ? `%${esc}%` : mode === 'starts' ? `${esc}%` : `%${esc}`;
}

export function typeName(v: unknown): string {
  if (typeof v !== 'string') throw clientFault('SITE_INVALID_FILTER_VALUE', 'type_is needs an entity type name', {});
  return v;
}

const UNIT_MS: Record<string, number> = { HOUR: 3600e3, DAY: 86400e3, WEEK: 7 * 86400e3 };

/** [from, to] of a time relation (in_last, in_next, in_calendar_*), relative to `now` in UTC. */
export function timeWindow(now: Date, relation: string, values: unknown[]): [Date, Date] {
  const bad = (): never => {
    throw clientFault('SITE_INVALID_FILTER_VALUE', `${relation} needs [count, HOUR|DAY|WEEK|MONTH|YEAR] or an offset`, { relation });
  };
  if (relation.includes('calendar')) {
    const off = values[0];
    if (typeof off !== 'number' || !Number.isInteger(off)) bad();
    const n = off as number;
    const y = now.getUTCFullYear(); const m = now.getUTCMonth(); const d = now.getUTCDate();
    if (relation === 'in_calendar_day') return [new Date(Date.UTC(y, m, d + n)), new Date(Date.UTC(y, m, d + n + 1))];
    if (relation === 'in_calendar_week') {
      const monday = d - ((now.getUTCDay() + 6) % 7);
      return [new Date(Date.UTC(y, m, monday + 7 * n)), new Date(Date.UTC(y, m, monday + 7 * n + 7))];
    }
    if (relation === 'in_calendar_month') return [new Date(Date.UTC(y, m + n, 1)), new Date(Date.UTC(y, m + n + 1, 1))];
    return [new Date(Date.UTC(y + n, 0, 1)), new Date(Date.UTC(y + n + 1, 0, 1))];
  }
  const [count, unitRaw] = values;
  const unit = typeof unitRaw === 'string' ? unitRaw.toUpperCase() : '';
  if (typeof count !== 'number' || !['HOUR', 'DAY', 'WEEK', 'MONTH', 'YEAR'].includes(unit)) bad();
  const c = count as number;
  const shift = (sign: number): Date => {
    if (unit === 'MONTH' || unit === 'YEAR') {
      const d = new Date(now);
      if (unit === 'MONTH') d.setUTCMonth(d.getUTCMonth() + sign * c);
      else d.setUTCFullYear(d.getUTCFullYear() + sign * c);
      return d;
    }
    return new Date(now.getTime() + sign * c * UNIT_MS[unit]!);
  };
  return relation.includes('last') ? [shift(-1), now] : [now, shift(1)];
}
