/**
 * Compiles api3 filters (protocol.md 1.6) to parameterized SQL over the store's
 * tables. Values are always bound parameters; identifiers come from the schema
 * only. Relations allowed per data type follow python-api docs/reference.rst
 * ("Valid Operators By Data Type"); anything else is a 103 fault.
 *
 * Semantics worth knowing:
 * - `is` on multi_entity and tag_list means "contains" (PYREF);
 * - dotted paths (`sg_sequence.Sequence.code`, `entity.Shot.sg_sequence.Sequence.code`)
 *   join through entity links with LEFT JOINs, so `is_not` still matches records
 *   whose link is empty; through a multi_entity link they mean "any linked record";
 * - text comparisons `contains`/`starts_with`/`ends_with` are case-insensitive (LIKE).
 */
import type { EntityDef, FieldDef, Schema } from './schema.ts';
import { quoteIdent } from './schema.ts';
import { clientFault } from './faults.ts';
import { isDate, normalizeDateTime, type SqlValue } from './values.ts';
import { QueryScope, RELATIONS, like, timeWindow, typeName } from './filter-parts.ts';

export { QueryScope, timeWindow };

export const MAX_FILTER_DEPTH = 64;
export const MAX_FILTER_VALUES = 30_000;

export interface Compiled {
  sql: string;
  params: SqlValue[];
}

export class FilterCompiler {
  readonly schema: Schema;
  readonly params: SqlValue[] = [];
  readonly now: Date;

  constructor(schema: Schema, now = new Date()) {
    this.schema = schema;
    this.now = now;
  }

  #depth = 0;

  #p(v: SqlValue): string {
    if (this.params.length >= MAX_FILTER_VALUES) {
      throw clientFault('SITE_FILTER_TOO_LARGE', `filters hold more than ${MAX_FILTER_VALUES} values in all (an in list counts each value); split the query`, { limit: MAX_FILTER_VALUES });
    }
    this.params.push(v);
    return '?';
  }

  /** Compiles a filter tree (the wire form, or the `[f, rel, v]` list form) to an SQL condition. */
  compile(scope: QueryScope, alias: string, ent: EntityDef, filters: unknown): string {
    if (filters === undefined || filters === null) return '1';
    if (Array.isArray(filters)) return this.#group(scope, alias, ent, 'and', filters);
    if (typeof filters !== 'object') throw clientFault('SITE_INVALID_FILTER', 'filters must be an object or a list', {});
    const o = filters as Record<string, unknown>;
    if ('path' in o || 'relation' in o) return this.#condition(scope, alias, ent, o);
    const op = o.logical_operator ?? o.filter_operator ?? 'and';
    const conds = o.conditions ?? o.filters ?? [];
    if (!Array.isArray(conds)) throw clientFault('SITE_INVALID_FILTER', 'conditions must be a list', {});
    const logical = op === 'and' || op === 'all' ? 'and' : op === 'or' || op === 'any' ? 'or' : undefined;
    if (logical === undefined) throw clientFault('SITE_INVALID_FILTER', 'logical_operator must be and or or', { operator: op });
    return this.#group(scope, alias, ent, logical, conds);
  }

  #group(scope: QueryScope, alias: string, ent: EntityDef, op: 'and' | 'or', conds: unknown[]): string {
    if (conds.length === 0) return op === 'and' ? '1' : '0';
    if (this.#depth >= MAX_FILTER_DEPTH) {
      throw clientFault('SITE_FILTER_TOO_DEEP', `filter groups are nested more than ${MAX_FILTER_DEPTH} deep`, { limit: MAX_FILTER_DEPTH });
    }
    this.#depth++;
    try {
      return this.#groupParts(scope, alias, ent, op, conds);
    } finally {
      this.#depth--;
    }
  }

  #groupParts(scope: QueryScope, alias: string, ent: EntityDef, op: 'and' | 'or', conds: unknown[]): string {
    const parts = conds.map((c) => {
      if (Array.isArray(c)) {
        const [path, relation, ...values] = c as unknown[];
        const vs = values.length === 1 && Array.isArray(values[0]) ? values[0] as unknown[] : values;
        return this.#condition(scope, alias, ent, { path, relation, values: vs });
      }
      return this.compile(scope, alias, ent, c);
    });
    return `(${parts.join(op === 'and' ? ' AND ' : ' OR ')})`;
  }

  #condition(scope: QueryScope, alias: string, ent: EntityDef, c: Record<string, unknown>): string {
    const { path, relation } = c;
    const values = c.values ?? [];
    if (typeof path !== 'string' || typeof relation !== 'string' || !Array.isArray(values)) {
      throw clientFault('SITE_INVALID_FILTER', 'a condition needs path, relation and values', {});
    }
    return this.#path(scope, alias, ent, path.split('.'), relation, values);
  }

  #path(scope: QueryScope, alias: string, ent: EntityDef, parts: string[], relation: string, values: unknown[]): string {
    if (parts[0]?.startsWith('$FROM$') === true) return this.#reverse(scope, alias, ent, parts, relation, values);
    const f = this.schema.field(ent, parts[0]);
    if (parts.length === 1) return this.#relation(scope, alias, f, relation, values);
    const targetType = parts[1];
    const rest = parts.slice(2);
    if (rest.length === 0 || (f.dataType !== 'entity' && f.dataType !== 'multi_entity')) {
      throw clientFault('SITE_INVALID_FILTER', `invalid deep path ${ent.name}.${parts.join('.')}`, { entityType: ent.name, path: parts.join('.') });
    }
    const target = this.schema.entity(targetType);
    if (f.validTypes.length > 0 && !f.validTypes.includes(target.name)) {
      throw clientFault('SITE_INVALID_FILTER', `${ent.name}.${f.name} cannot link to ${target.name}`, { entityType: ent.name, path: parts.join('.') });
    }
    const st = this.schema.storage(f);
    const t = quoteIdent(target.table);
    if (st.kind === 'entity') {
      const j = scope.joinFor(`${alias}.${f.name}.${target.name}`, (a) =>
        `LEFT JOIN ${t} ${a} ON ${a}.id = ${alias}.${quoteIdent(st.idColumn)} AND ${alias}.${quoteIdent(st.typeColumn)} = '${target.name}' AND ${a}._retired = 0`);
      return this.#path(scope, j, target, rest, relation, values);
    }
    const sub = scope.child();
    const a = sub.alias('m');
    const inner = this.#path(sub, a, target, rest, relation, values);
    const joins = sub.joins.join(' ');
    if (st.kind === 'links') {
      return `EXISTS (SELECT 1 FROM links lk_${a} JOIN ${t} ${a} ON ${a}.id = lk_${a}.dst_id AND ${a}._retired = 0 ${joins} WHERE lk_${a}.src_type = '${f.entityType}' AND lk_${a}.field = '${f.name}' AND lk_${a}.src_id = ${alias}.id AND lk_${a}.dst_type = '${target.name}' AND ${inner})`;
    }
    if (st.kind === 'reverse-links') {
      return `EXISTS (SELECT 1 FROM links lk_${a} JOIN ${t} ${a} ON ${a}.id = lk_${a}.src_id AND ${a}._retired = 0 ${joins} WHERE lk_${a}.src_type = '${st.owner.entityType}' AND lk_${a}.field = '${st.owner.name}' AND lk_${a}.dst_type = '${f.entityType}' AND lk_${a}.dst_id = ${alias}.id AND ${inner})`;
    }
    if (st.kind === 'reverse-entity') {
      return `EXISTS (SELECT 1 FROM ${t} ${a} ${joins} WHERE ${a}.${quoteIdent(`${st.owner.name}__type`)} = '${f.entityType}' AND ${a}.${quoteIdent(`${st.owner.name}__id`)} = ${alias}.id AND ${a}._retired = 0 AND ${inner})`;
    }
    throw clientFault('SITE_INVALID_FILTER', `invalid deep path ${ent.name}.${parts.join('.')}`, { entityType: ent.name });
  }

  /**
   * `$FROM$<Type>.<link>.<path>`: records of `ent` that some active `<Type>` row points at
   * through `<link>`, with `<path>` tested on that row (tk-core step.py; SGE). The queried
   * records themselves may be retired (`$FROM$EventLogEntry.entity.id` with `retired_only`).
   */
  #reverse(scope: QueryScope, alias: string, ent: EntityDef, parts: string[], relation: string, values: unknown[]): string {
    const full = parts.join('.');
    const bad = (why: string): never => {
      throw clientFault('SITE_INVALID_FILTER', `invalid reverse path ${full}: ${why}`, { entityType: ent.name, path: full });
    };
    const source = this.schema.entities.get(parts[0]!.slice('$FROM$'.length));
    if (source === undefined) return bad('unknown entity type');
    if (parts.length < 3) return bad('expected $FROM$<Type>.<link field>.<path>');
    const link = source.fields.get(parts[1]!);
    if (link === undefined || (link.dataType !== 'entity' && link.dataType !== 'multi_entity')) return bad(`${source.name}.${parts[1]!} is not a link field`);
    if (link.validTypes.length > 0 && !link.validTypes.includes(ent.name)) return bad(`${source.name}.${link.name} cannot link to ${ent.name}`);
    const sub = scope.child();
    const a = sub.alias('r');
    const inner = this.#path(sub, a, source, parts.slice(2), relation, values);
    const joins = sub.joins.join(' ');
    const t = quoteIdent(source.table);
    const st = this.schema.storage(link);
    const active = `${a}._retired = 0 AND ${a}._hidden = 0`;
    if (st.kind === 'entity') {
      return `EXISTS (SELECT 1 FROM ${t} ${a} ${joins} WHERE ${a}.${quoteIdent(st.typeColumn)} = '${ent.name}' AND ${a}.${quoteIdent(st.idColumn)} = ${alias}.id AND ${active} AND ${inner})`;
    }
    if (st.kind === 'links') {
      return `EXISTS (SELECT 1 FROM links lk_${a} JOIN ${t} ${a} ON ${a}.id = lk_${a}.src_id ${joins} WHERE lk_${a}.src_type = '${source.name}' AND lk_${a}.field = '${link.name}' AND lk_${a}.dst_type = '${ent.name}' AND lk_${a}.dst_id = ${alias}.id AND ${active} AND ${inner})`;
    }
    if (st.kind === 'reverse-entity' || st.kind === 'reverse-links') {
      // The link is itself a back-reference: `ent` owns the stored side.
      const owner = st.owner;
      if (owner.entityType !== ent.name) return bad(`${source.name}.${link.name} mirrors ${owner.entityType}.${owner.name}`);
      const ost = this.schema.storage(owner);
      if (ost.kind === 'entity') {
        return `EXISTS (SELECT 1 FROM ${t} ${a} ${joins} WHERE ${alias}.${quoteIdent(ost.typeColumn)} = '${source.name}' AND ${alias}.${quoteIdent(ost.idColumn)} = ${a}.id AND ${active} AND ${inner})`;
      }
      return `EXISTS (SELECT 1 FROM links lk_${a} JOIN ${t} ${a} ON ${a}.id = lk_${a}.dst_id ${joins} WHERE lk_${a}.src_type = '${ent.name}' AND lk_${a}.field = '${owner.name}' AND lk_${a}.src_id = ${alias}.id AND lk_${a}.dst_type = '${source.name}' AND ${active} AND ${inner})`;
    }
    return bad('unsupported link storage');
  }

  #relation(scope: QueryScope, alias: string, f: FieldDef, relation: string, values: unknown[]): string {
    const allowed = RELATIONS[f.dataType];
    if (allowed === undefined || !allowed.includes(relation)) {
      throw clientFault('SITE_INVALID_FILTER', `relation ${relation} is not supported on ${f.dataType} field ${f.entityType}.${f.name}`, {
        entityType: f.entityType, field: f.name, relation, dataType: f.dataType,
      });
    }
    const st = this.schema.storage(f);
    if (st.kind === 'entity') return this.#entityRelation(alias, f, st.typeColumn, st.idColumn, relation, values);
    if (st.kind === 'links' || st.kind === 'reverse-links' || st.kind === 'reverse-entity') return this.#multiRelation(scope, alias, f, relation, values);
    const col = st.kind === 'id' ? `${alias}.id` : `${alias}.${quoteIdent(st.column)}`;
    if (f.dataType === 'tag_list') return this.#tagRelation(col, f, relation, values);
    return this.#scalarRelation(col, f, relation, values);
  }

  #value(f: FieldDef, v: unknown): SqlValue {
    const badValue = (): never => {
      throw clientFault('SITE_INVALID_FILTER_VALUE', `invalid filter value for ${f.dataType} field ${f.entityType}.${f.name}`, { entityType: f.entityType, field: f.name });
    };
    if (v === null) return null;
    switch (f.dataType) {
      case 'number': case 'duration': if (typeof v !== 'number') badValue(); return v as number;
      case 'float': if (typeof v !== 'number') badValue(); return v as number;
      case 'checkbox': if (typeof v !== 'boolean') badValue(); return v ? 1 : 0;
      case 'date': if (!isDate(v)) badValue(); return v as string;
      case 'date_time': return normalizeDateTime(v) ?? badValue();
      default: if (typeof v !== 'string') badValue(); return v as string;
    }
  }

  #scalarRelation(col: string, f: FieldDef, relation: string, values: unknown[]): string {
    const v0 = values[0];
    const one = () => this.#value(f, v0);
    const str = () => {
      if (typeof v0 !== 'string') throw clientFault('SITE_INVALID_FILTER_VALUE', `${relation} needs a string`, { field: f.name });
      return v0;
    };
    switch (relation) {
      case 'is': {
        const v = one();
        if (f.dataType === 'checkbox' && v === 0) return `(${col} IS NULL OR ${col} = 0)`;
        return v === null ? `${col} IS NULL` : `${col} = ${this.#p(v)}`;
      }
      case 'is_not': {
        const v = one();
        if (f.dataType === 'checkbox' && v === 0) return `${col} = 1`;
        return v === null ? `${col} IS NOT NULL` : `(${col} IS NULL OR ${col} != ${this.#p(v)})`;
      }
      case 'less_than': { const v = one(); return v === null ? '0' : `${col} < ${this.#p(v)}`; }
      case 'greater_than': { const v = one(); return v === null ? '0' : `${col} > ${this.#p(v)}`; }
      case 'contains': return `${col} LIKE ${this.#p(like(str(), 'contains'))} ESCAPE '\\'`;
      case 'not_contains': return `(${col} IS NULL OR ${col} NOT LIKE ${this.#p(like(str(), 'contains'))} ESCAPE '\\')`;
      case 'starts_with': return `${col} LIKE ${this.#p(like(str(), 'starts'))} ESCAPE '\\'`;
      case 'ends_with': return `${col} LIKE ${this.#p(like(str(), 'ends'))} ESCAPE '\\'`;
      case 'between': case 'not_between': {
        const lo = this.#value(f, values[0] ?? null);
        const hi = this.#value(f, values[1] ?? null);
        const parts: string[] = [];
        if (lo !== null) parts.push(`${col} >= ${this.#p(lo)}`);
        if (hi !== null) parts.push(`${col} <= ${this.#p(hi)}`);
        const inside = parts.length === 0 ? '1' : `(${col} IS NOT NULL AND ${parts.join(' AND ')})`;
        return relation === 'between' ? inside : `NOT ${inside}`;
      }
      case 'in': case 'not_in': {
        const vs = values.map((v) => this.#value(f, v));
        const nonNull = vs.filter((v) => v !== null);
        const hasNull = nonNull.length !== vs.length;
        const parts: string[] = [];
        if (nonNull.length > 0) parts.push(`${col} IN (${nonNull.map((v) => this.#p(v)).join(', ')})`);
        if (hasNull) parts.push(`${col} IS NULL`);
        const inside = parts.length === 0 ? '0' : `(${parts.join(' OR ')})`;
        return relation === 'in' ? inside : `NOT COALESCE(${inside}, 0)`;
      }
      default: return this.#timeRelation(col, f, relation, values);
    }
  }

  #timeRelation(col: string, f: FieldDef, relation: string, values: unknown[]): string {
    const [lo, hi] = timeWindow(this.now, relation, values);
    const fmt = (d: Date) => (f.dataType === 'date' ? d.toISOString().slice(0, 10) : d.toISOString().replace(/\.\d{3}Z$/, 'Z'));
    const upper = relation.startsWith('in_calendar') ? '<' : '<=';
    const inside = `(${col} >= ${this.#p(fmt(lo))} AND ${col} ${upper} ${this.#p(fmt(hi))})`;
    return relation.startsWith('not_') ? `(${col} IS NULL OR NOT ${inside})` : inside;
  }

  #tagRelation(col: string, f: FieldDef, relation: string, values: unknown[]): string {
    const v0 = values[0];
    if (v0 === null || v0 === undefined) {
      const empty = `(${col} IS NULL OR ${col} = '[]')`;
      return relation === 'is' ? empty : `NOT ${empty}`;
    }
    if (typeof v0 !== 'string') throw clientFault('SITE_INVALID_FILTER_VALUE', `tag filters need a tag name`, { field: f.name });
    const contains = relation === 'name_contains' || relation === 'name_not_contains';
    const test = contains ? `value LIKE ${this.#p(like(v0, 'contains'))} ESCAPE '\\'` : `value = ${this.#p(v0)}`;
    const exists = `EXISTS (SELECT 1 FROM json_each(COALESCE(${col}, '[]')) WHERE ${test})`;
    return relation === 'is' || relation === 'name_contains' || relation === 'name_is' ? exists : `NOT ${exists}`;
  }

  #links(values: unknown[], f: FieldDef): Array<{ type: string; id: number } | null> {
    return values.map((v) => {
      if (v === null) return null;
      if (typeof v !== 'object' || Array.isArray(v) || typeof (v as Record<string, unknown>).type !== 'string' || typeof (v as Record<string, unknown>).id !== 'number') {
        throw clientFault('SITE_INVALID_FILTER_VALUE', `${f.entityType}.${f.name} filters need entity hashes {type, id}`, { entityType: f.entityType, field: f.name });
      }
      const o = v as { type: string; id: number };
      return { type: o.type, id: o.id };
    });
  }

  /** SQL true when the link (typeExpr, idExpr) has a name matching `relation`. */
  #nameTest(f: FieldDef, typeExpr: string, idExpr: string, relation: string, v: unknown): string {
    if (typeof v !== 'string') throw clientFault('SITE_INVALID_FILTER_VALUE', `${relation} needs a string`, { field: f.name });
    const types = f.validTypes.length > 0 ? f.validTypes : [...this.schema.entities.keys()];
    const tests: string[] = [];
    for (const t of types) {
      const te = this.schema.entities.get(t);
      const df = te?.fields.get(te.displayField);
      if (te === undefined || df === undefined) continue;
      const st = this.schema.storage(df);
      if (st.kind !== 'column') continue;
      const pattern = relation === 'name_is' ? null : like(v, relation === 'name_starts_with' ? 'starts' : relation === 'name_ends_with' ? 'ends' : 'contains');
      const cmp = pattern === null ? `x.${quoteIdent(st.column)} = ${this.#p(v)}` : `x.${quoteIdent(st.column)} LIKE ${this.#p(pattern)} ESCAPE '\\'`;
      tests.push(`(${typeExpr} = '${t}' AND EXISTS (SELECT 1 FROM ${quoteIdent(te.table)} x WHERE x.id = ${idExpr} AND ${cmp}))`);
    }
    return tests.length === 0 ? '0' : `(${tests.join(' OR ')})`;
  }

  #entityRelation(alias: string, f: FieldDef, typeColumn: string, idColumn: string, relation: string, values: unknown[]): string {
    const tc = `${alias}.${quoteIdent(typeColumn)}`;
    const ic = `${alias}.${quoteIdent(idColumn)}`;
    const match = (l: { type: string; id: number } | null) => (l === null ? `${ic} IS NULL` : `(${tc} = ${this.#p(l.type)} AND ${ic} = ${this.#p(l.id)})`);
    switch (relation) {
      case 'is': case 'in': {
        const ls = this.#links(values, f);
        return ls.length === 0 ? '0' : `(${ls.map(match).join(' OR ')})`;
      }
      case 'is_not': case 'not_in': {
        const ls = this.#links(values, f);
        return ls.length === 0 ? '1' : `NOT COALESCE((${ls.map(match).join(' OR ')}), 0)`;
      }
      case 'type_is': return values[0] === null ? `${ic} IS NULL` : `${tc} = ${this.#p(typeName(values[0]))}`;
      case 'type_is_not': return values[0] === null ? `${ic} IS NOT NULL` : `(${tc} IS NULL OR ${tc} != ${this.#p(typeName(values[0]))})`;
      case 'name_not_contains': return `NOT COALESCE(${this.#nameTest(f, tc, ic, 'name_contains', values[0])}, 0)`;
      default: return this.#nameTest(f, tc, ic, relation, values[0]);
    }
  }

  #multiRelation(_scope: QueryScope, alias: string, f: FieldDef, relation: string, values: unknown[]): string {
    const st = this.schema.storage(f);
    const member = (cond: (typeExpr: string, idExpr: string) => string): string => {
      if (st.kind === 'links') {
        return `EXISTS (SELECT 1 FROM links lk WHERE lk.src_type = '${f.entityType}' AND lk.field = '${f.name}' AND lk.src_id = ${alias}.id AND ${cond('lk.dst_type', 'lk.dst_id')})`;
      }
      if (st.kind === 'reverse-links') {
        return `EXISTS (SELECT 1 FROM links lk WHERE lk.src_type = '${st.owner.entityType}' AND lk.field = '${st.owner.name}' AND lk.dst_type = '${f.entityType}' AND lk.dst_id = ${alias}.id AND ${cond(`'${st.owner.entityType}'`, 'lk.src_id')})`;
      }
      if (st.kind === 'reverse-entity') {
        const owner = this.schema.entity(st.owner.entityType);
        return `EXISTS (SELECT 1 FROM ${quoteIdent(owner.table)} o WHERE o.${quoteIdent(`${st.owner.name}__type`)} = '${f.entityType}' AND o.${quoteIdent(`${st.owner.name}__id`)} = ${alias}.id AND o._retired = 0 AND ${cond(`'${owner.name}'`, 'o.id')})`;
      }
      return '0';
    };
    const anyOf = (ls: Array<{ type: string; id: number }>) => (t: string, i: string) =>
      `(${ls.map((l) => `(${t} = ${this.#p(l.type)} AND ${i} = ${this.#p(l.id)})`).join(' OR ')})`;
    switch (relation) {
      case 'is': case 'in': case 'is_not': case 'not_in': {
        const ls = this.#links(values, f);
        const real = ls.filter((l) => l !== null);
        const parts: string[] = [];
        if (real.length > 0) parts.push(member(anyOf(real)));
        if (real.length !== ls.length) parts.push(`NOT ${member(() => '1')}`);
        const inside = parts.length === 0 ? '0' : `(${parts.join(' OR ')})`;
        return relation === 'is' || relation === 'in' ? inside : `NOT ${inside}`;
      }
      case 'type_is': return member((t) => `${t} = ${this.#p(typeName(values[0]))}`);
      case 'type_is_not': return `NOT ${member((t) => `${t} = ${this.#p(typeName(values[0]))}`)}`;
      case 'name_not_contains': return `NOT ${member((t, i) => this.#nameTest(f, t, i, 'name_contains', values[0]))}`;
      default: return member((t, i) => this.#nameTest(f, t, i, relation, values[0]));
    }
  }
}
