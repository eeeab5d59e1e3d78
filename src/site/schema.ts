/**
 * The compiled schema: entity types and their fields, with storage facts (which
 * columns hold a field) and the back-reference index. Also answers the
 * schema_* methods in the shape a real site uses (protocol.md 1.8; the shape of
 * each field record matches python-api tests/mockgun/schema.pickle).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../shared/index.ts';
import { DEFAULT_SCHEMA } from './default-schema.ts';
import { SNAPSHOT_FIELDS, SNAPSHOT_TYPES } from './snapshot-schema.ts';
import { DATA_TYPES, type DataType, type EntitySpec, type FieldSpec } from './schema-types.ts';
import { clientFault } from './faults.ts';

export interface FieldDef {
  readonly entityType: string;
  readonly name: string;
  readonly dataType: DataType;
  readonly displayName: string;
  readonly description: string;
  readonly editable: boolean;
  readonly mandatory: boolean;
  /** Empty: any entity type. */
  readonly validTypes: readonly string[];
  readonly validValues: readonly string[] | undefined;
  readonly defaultValue: unknown;
  /** For a back-reference: the field (`Type.field`) that owns the stored value. */
  readonly reverseOf: { type: string; field: string } | undefined;
}

export interface EntityDef {
  readonly name: string;
  readonly displayName: string;
  readonly displayField: string;
  readonly table: string;
  readonly hasProject: boolean;
  readonly fields: ReadonlyMap<string, FieldDef>;
}

/** Column(s) holding a field's value, or how a field without columns is read. */
export type FieldStorage =
  | { kind: 'id' }
  | { kind: 'column'; column: string }
  | { kind: 'entity'; typeColumn: string; idColumn: string }
  | { kind: 'links' }
  | { kind: 'reverse-entity'; owner: FieldDef }
  | { kind: 'reverse-links'; owner: FieldDef };

const AUTO_FIELDS: Record<string, FieldSpec> = {
  created_at: { type: 'date_time', editable: false, name: 'Date Created' },
  updated_at: { type: 'date_time', editable: false, name: 'Date Updated' },
  created_by: { type: 'entity', types: ['HumanUser', 'ApiUser'], editable: false, name: 'Created by' },
  updated_by: { type: 'entity', types: ['HumanUser', 'ApiUser'], editable: false, name: 'Updated by' },
};

function titleCase(name: string): string {
  return name.replace(/^sg_/, '').split('_').map((w) => (w.length > 0 ? w[0]!.toUpperCase() + w.slice(1) : w)).join(' ');
}

/** Quotes an SQL identifier; schema names are checked against NAME_RE before they get here. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

const NAME_RE = /^[A-Za-z][A-Za-z0-9_]*$/;

/** A field definition from its spec; throws ConfigError on a bad name or reverse. */
export function makeField(typeName: string, name: string, raw: FieldSpec): FieldDef {
  if (!NAME_RE.test(name) || name.includes('__')) {
    throw new ConfigError(`schema.${typeName}`, `field name must match ${NAME_RE} without "__", got ${JSON.stringify(name)}`);
  }
  const s = typeof raw === 'string' ? { type: raw } : raw;
  let reverseOf: FieldDef['reverseOf'];
  if (s.reverse !== undefined) {
    const [t, f, ...rest] = s.reverse.split('.');
    if (t === undefined || f === undefined || rest.length > 0) throw new ConfigError(`schema.${typeName}.${name}.reverse`, `must be "Type.field", got ${JSON.stringify(s.reverse)}`);
    reverseOf = { type: t, field: f };
  }
  return {
    entityType: typeName, name, dataType: s.type,
    displayName: s.name ?? (name === 'id' ? 'Id' : titleCase(name)),
    description: s.description ?? '',
    editable: s.editable ?? (name !== 'id'),
    mandatory: s.mandatory ?? false,
    validTypes: s.types ?? [],
    validValues: s.values,
    defaultValue: s.default ?? (s.type === 'checkbox' ? false : null),
    reverseOf,
  };
}

export class Schema {
  readonly entities: ReadonlyMap<string, EntityDef>;
  /** `Owner.field` → back-reference fields on the other side, by their entity type. */
  readonly #reverseIndex = new Map<string, Map<string, FieldDef>>();

  constructor(specs: Readonly<Record<string, EntitySpec>>) {
    const entities = new Map<string, EntityDef>();
    for (const [typeName, spec] of Object.entries(specs)) {
      if (!NAME_RE.test(typeName)) throw new ConfigError('schema', `entity type name must match ${NAME_RE}, got ${JSON.stringify(typeName)}`);
      const fields: Map<string, FieldDef> = new Map<string, FieldDef>();
      const add = (name: string, raw: FieldSpec): void => { fields.set(name, makeField(typeName, name, raw)); };
      add('id', { type: 'number', editable: false });
      if (!spec.plain) for (const [n, f] of Object.entries(AUTO_FIELDS)) add(n, f);
      else add('created_at', AUTO_FIELDS.created_at!);
      if (spec.project === true) add('project', { type: 'entity', types: ['Project'], name: 'Project' });
      for (const [n, f] of Object.entries(spec.fields)) add(n, f);
      if (!fields.has(spec.displayField)) throw new ConfigError(`schema.${typeName}.displayField`, `names no field of ${typeName}: ${spec.displayField}`);
      entities.set(typeName, {
        name: typeName, displayName: spec.displayName ?? typeName, displayField: spec.displayField,
        table: `e_${typeName}`, hasProject: fields.has('project'), fields,
      });
    }
    this.entities = entities;
    for (const ent of entities.values()) {
      for (const f of ent.fields.values()) {
        if (f.reverseOf === undefined) continue;
        const owner = entities.get(f.reverseOf.type)?.fields.get(f.reverseOf.field);
        if (owner === undefined || (owner.dataType !== 'entity' && owner.dataType !== 'multi_entity') || owner.reverseOf !== undefined) {
          throw new ConfigError(`schema.${ent.name}.${f.name}.reverse`, `must name a stored entity or multi_entity field, got ${f.reverseOf.type}.${f.reverseOf.field}`);
        }
        if (f.dataType !== 'multi_entity') throw new ConfigError(`schema.${ent.name}.${f.name}`, 'a back-reference must be multi_entity');
        const key = `${owner.entityType}.${owner.name}`;
        let byType = this.#reverseIndex.get(key);
        if (byType === undefined) this.#reverseIndex.set(key, (byType = new Map<string, FieldDef>()));
        byType.set(ent.name, f);
      }
    }
  }

  /** The entity type, or a 103 fault naming it. */
  entity(type: unknown): EntityDef {
    const e = typeof type === 'string' ? this.entities.get(type) : undefined;
    if (e === undefined) throw clientFault('SITE_UNKNOWN_ENTITY_TYPE', `Entity type ${String(type)} does not exist`, { entityType: type });
    return e;
  }

  /** Adds or replaces a stored field at run time (schema_field_create / update). */
  putField(f: FieldDef): void {
    const ent = this.entity(f.entityType);
    const old = ent.fields.get(f.name);
    if (old !== undefined) this.#storage.delete(old);
    (ent.fields as Map<string, FieldDef>).set(f.name, f);
  }

  /** Removes a field at run time (schema_field_delete). */
  dropField(f: FieldDef): void {
    this.#storage.delete(f);
    (this.entity(f.entityType).fields as Map<string, FieldDef>).delete(f.name);
  }

  /** The field, or a 103 fault naming it. */
  field(entity: EntityDef, name: unknown): FieldDef {
    const f = typeof name === 'string' ? entity.fields.get(name) : undefined;
    if (f === undefined) throw clientFault('SITE_UNKNOWN_FIELD', `${entity.name}.${String(name)} doesn't exist`, { entityType: entity.name, field: name });
    return f;
  }

  /** The back-reference of `owner` that lives on `targetType`, if the schema has one. */
  reverseOn(owner: FieldDef, targetType: string): FieldDef | undefined {
    return this.#reverseIndex.get(`${owner.entityType}.${owner.name}`)?.get(targetType);
  }

  /** For a back-reference field: the stored field it mirrors. */
  owner(f: FieldDef): FieldDef | undefined {
    if (f.reverseOf === undefined) return undefined;
    return this.entities.get(f.reverseOf.type)?.fields.get(f.reverseOf.field);
  }

  readonly #storage = new Map<FieldDef, FieldStorage>();

  /** Where a field's value lives (memoized: reads ask for every field of every row). */
  storage(f: FieldDef): FieldStorage {
    let s = this.#storage.get(f);
    if (s === undefined) {
      s = this.#computeStorage(f);
      this.#storage.set(f, s);
    }
    return s;
  }

  #computeStorage(f: FieldDef): FieldStorage {
    if (f.name === 'id') return { kind: 'id' };
    const owner = this.owner(f);
    if (owner !== undefined) return owner.dataType === 'entity' ? { kind: 'reverse-entity', owner } : { kind: 'reverse-links', owner };
    if (f.dataType === 'entity') return { kind: 'entity', typeColumn: `${f.name}__type`, idColumn: `${f.name}__id` };
    if (f.dataType === 'multi_entity') return { kind: 'links' };
    return { kind: 'column', column: f.name };
  }

  /** schema_field_read's record of one field. */
  fieldRecord(f: FieldDef): Record<string, unknown> {
    const p = (value: unknown, editable = false) => ({ value, editable });
    const properties: Record<string, unknown> = {
      default_value: p(f.defaultValue),
      summary_default: p(f.dataType === 'status_list' ? 'status_list' : f.dataType === 'number' || f.dataType === 'duration' ? 'sum' : 'none', true),
    };
    if (f.dataType === 'entity' || f.dataType === 'multi_entity') properties.valid_types = p(f.validTypes.length > 0 ? [...f.validTypes] : [...this.entities.keys()], true);
    if (f.dataType === 'tag_list') properties.valid_types = p(['Tag'], true);
    if (f.validValues !== undefined) properties.valid_values = p([...f.validValues], true);
    return {
      data_type: p(f.dataType), name: p(f.displayName, true), description: p(f.description, true),
      editable: p(f.editable), entity_type: p(f.entityType), mandatory: p(f.mandatory), unique: p(false),
      visible: p(true), ui_value_displayable: p(true), properties,
    };
  }

  entityRecord(e: EntityDef): Record<string, unknown> {
    return { name: { value: e.displayName, editable: false }, visible: { value: true, editable: false } };
  }
}

const fieldSpecSchema = z.union([
  z.enum(DATA_TYPES),
  z.object({
    type: z.enum(DATA_TYPES),
    types: z.array(z.string()).optional(),
    values: z.array(z.string()).optional(),
    default: z.unknown().optional(),
    reverse: z.string().optional(),
    name: z.string().optional(),
    description: z.string().optional(),
    editable: z.boolean().optional(),
    mandatory: z.boolean().optional(),
  }).strict(),
]);
const schemaFileSchema = z.record(z.string(), z.object({
  displayField: z.string().optional(),
  displayName: z.string().optional(),
  project: z.boolean().optional(),
  fields: z.record(z.string(), fieldSpecSchema).default({}),
}).strict());

/**
 * Reads a `--schema` file (JSON or YAML): `{ Type: { displayField?, project?, fields: { name: spec } } }`.
 * Types already in the built-in schema get the extra fields; new types need a displayField
 * (default `code`, added as a text field when missing).
 */
export function loadSchemaFile(path: string): Record<string, Partial<EntitySpec>> {
  let raw: unknown;
  try {
    const text = readFileSync(path, 'utf8');
    raw = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError('schema', `cannot read ${path}`, { cause: err, value: path });
  }
  const parsed = schemaFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`schema${issue ? '.' + issue.path.join('.') : ''}`, `${path}: ${issue?.message ?? 'invalid'}`, { value: path });
  }
  return parsed.data;
}

/** Types the site itself reads and writes; a `base` schema without them gets the built-in ones. */
const SITE_OWN_TYPES = ['EventLogEntry', 'ApiUser', 'HumanUser', 'LocalStorage'];

/**
 * The built-in schema (or `base`, a studio's own dumped schema, instead) with the
 * extra types and fields of a schema file merged in.
 */
export function buildSchema(extra?: Record<string, Partial<EntitySpec>>, base?: Readonly<Record<string, EntitySpec>>): Schema {
  const merged: Record<string, EntitySpec> = {};
  if (base !== undefined) {
    for (const [t, s] of Object.entries(base)) merged[t] = { ...s, fields: { ...s.fields } };
    for (const t of SITE_OWN_TYPES) {
      const own = DEFAULT_SCHEMA[t];
      if (merged[t] === undefined && own !== undefined) merged[t] = { ...own, fields: { ...own.fields, ...SNAPSHOT_FIELDS[t] } };
    }
  } else {
    for (const [t, s] of Object.entries(DEFAULT_SCHEMA)) merged[t] = { ...s, fields: { ...s.fields } };
    for (const [t, s] of Object.entries(SNAPSHOT_TYPES)) merged[t] ??= { ...s, fields: { ...s.fields } };
    for (const [t, fields] of Object.entries(SNAPSHOT_FIELDS)) {
      const b = merged[t];
      if (b !== undefined) merged[t] = { ...b, fields: { ...fields, ...b.fields } };
    }
  }
  for (const [t, s] of Object.entries(extra ?? {})) {
    const base = merged[t];
    if (base !== undefined) {
      merged[t] = { ...base, fields: { ...base.fields, ...s.fields } };
    } else {
      const displayField = s.displayField ?? 'code';
      const fields: Record<string, FieldSpec> = { ...s.fields };
      if (fields[displayField] === undefined) fields[displayField] = 'text';
      merged[t] = { displayField, displayName: s.displayName, project: s.project ?? true, fields };
    }
  }
  return new Schema(merged);
}
