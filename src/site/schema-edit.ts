/**
 * `schema_field_create`, `schema_field_update` and `schema_field_delete`
 * (protocol.md 6.1). A created field is named `sg_` + its display name lower-cased
 * with non-alphanumerics as `_` (`_1`, `_2`... on a clash), gets its column at
 * once, and is kept in the `schema_fields` table so a `--db FILE` site has it
 * after a restart. Only fields made this way can be changed or deleted.
 *
 * Each change writes the EventLogEntry row a real site writes for a field, which
 * is a `DisplayColumn` record: `Shotgun_DisplayColumn_New` (meta `new_entity`
 * with the field's entity_type and name), `Shotgun_DisplayColumn_Change` (one per
 * changed property, `attribute_change` with old and new value) and
 * `Shotgun_DisplayColumn_Retirement`; `entity` is the DisplayColumn
 * `{type: 'DisplayColumn', id}`. The meta keys `field_entity_type` and
 * `field_name` are this site's own: the exact meta of a real site's field events
 * is not verified (protocol.md has no sample).
 */
import { z } from 'zod';
import type { SiteStore } from './store.ts';
import type { SiteWriter, Actor } from './writer.ts';
import { makeField, quoteIdent, type FieldDef } from './schema.ts';
import { DATA_TYPES, type DataType, type FieldSpec } from './schema-types.ts';
import { columnType } from './values.ts';
import { clientFault } from './faults.ts';

const propertySchema = z.object({ property_name: z.string(), value: z.unknown() }).passthrough();
export const fieldCreateSchema = z.object({ type: z.string(), data_type: z.string(), properties: z.array(propertySchema).default([]) }).passthrough();
export const fieldUpdateSchema = z.object({
  type: z.string(), field_name: z.string(), properties: z.array(propertySchema).default([]), project: z.unknown().optional(),
}).passthrough();
export const fieldDeleteSchema = z.object({ type: z.string(), field_name: z.string() }).passthrough();

/** Data types a client may create (not the site's own: image, password, serializable, uuid). */
const CREATABLE = new Set<string>(['text', 'number', 'float', 'checkbox', 'date', 'date_time', 'duration', 'entity', 'multi_entity', 'list', 'status_list', 'url', 'tag_list']);
/** Properties a client may set, and the FieldSpec key each is kept under. */
const PROPERTIES: Record<string, keyof Exclude<FieldSpec, string> | null> = {
  name: 'name', description: 'description', valid_types: 'types', valid_values: 'values', default_value: 'default',
  summary_default: null, visible: null,
};

interface Stored { id: number; entity_type: string; name: string; spec: string }

export class SchemaEditor {
  readonly #store: SiteStore;
  readonly #writer: SiteWriter;

  constructor(store: SiteStore, writer: SiteWriter) {
    this.#store = store;
    this.#writer = writer;
    store.db.exec('CREATE TABLE IF NOT EXISTS schema_fields (id INTEGER PRIMARY KEY AUTOINCREMENT, entity_type TEXT NOT NULL, name TEXT NOT NULL, spec TEXT NOT NULL, retired INTEGER NOT NULL DEFAULT 0)');
    for (const r of store.db.prepare('SELECT id, entity_type, name, spec FROM schema_fields WHERE retired = 0 ORDER BY id').all() as Stored[]) {
      if (store.schema.entities.has(r.entity_type)) this.#install(makeField(r.entity_type, r.name, JSON.parse(r.spec) as FieldSpec));
    }
  }

  create(actor: Actor, p: z.infer<typeof fieldCreateSchema>): string {
    const ent = this.#store.schema.entity(p.type);
    if (!CREATABLE.has(p.data_type) || !(DATA_TYPES as readonly string[]).includes(p.data_type)) {
      throw clientFault('SITE_INVALID_PARAMS', `schema_field_create: data type ${p.data_type} cannot be created`, { dataType: p.data_type });
    }
    const spec = this.#apply({ type: p.data_type as DataType }, p.properties);
    if (typeof spec.name !== 'string' || spec.name.trim() === '') throw clientFault('SITE_INVALID_PARAMS', 'schema_field_create needs a display name', {});
    const base = `sg_${spec.name.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '')}`;
    let name = base;
    for (let i = 1; ent.fields.has(name); i++) name = `${base}_${i}`;
    const f = makeField(ent.name, name, spec);
    return this.#writer.transaction(() => {
      const id = Number(this.#store.prepare('INSERT INTO schema_fields (entity_type, name, spec) VALUES (?, ?, ?)').run(ent.name, name, JSON.stringify(spec)).lastInsertRowid);
      this.#install(f);
      this.#writer.events.log(actor, {
        eventType: 'Shotgun_DisplayColumn_New', attributeName: null, entity: { type: 'DisplayColumn', id }, project: null,
        meta: { type: 'new_entity', entity_type: 'DisplayColumn', entity_id: id, field_entity_type: ent.name, field_name: name, field_data_type: f.dataType },
        description: `${this.#writer.events.name(actor.user)} created new field ${ent.name}.${name}`,
      });
      return name;
    });
  }

  update(actor: Actor, p: z.infer<typeof fieldUpdateSchema>): boolean {
    const { row, f } = this.#custom(p.type, p.field_name);
    const old = JSON.parse(row.spec) as Exclude<FieldSpec, string>;
    const spec = this.#apply({ ...old }, p.properties);
    const next = makeField(f.entityType, f.name, spec);
    this.#writer.transaction(() => {
      this.#store.prepare('UPDATE schema_fields SET spec = ? WHERE id = ?').run(JSON.stringify(spec), row.id);
      this.#store.schema.putField(next);
      for (const prop of p.properties) {
        const key = PROPERTIES[prop.property_name];
        if (key === null || key === undefined) continue;
        this.#writer.events.log(actor, {
          eventType: 'Shotgun_DisplayColumn_Change', attributeName: prop.property_name, entity: { type: 'DisplayColumn', id: row.id }, project: null,
          meta: { type: 'attribute_change', attribute_name: prop.property_name, entity_type: 'DisplayColumn', entity_id: row.id,
            field_entity_type: f.entityType, field_name: f.name, old_value: old[key] ?? null, new_value: spec[key] ?? null },
          description: `${this.#writer.events.name(actor.user)} changed "${prop.property_name}" on field ${f.entityType}.${f.name}`,
        });
      }
    });
    return true;
  }

  delete(actor: Actor, p: z.infer<typeof fieldDeleteSchema>): boolean {
    const { row, f } = this.#custom(p.type, p.field_name);
    const ent = this.#store.schema.entity(f.entityType);
    this.#writer.transaction(() => {
      this.#store.prepare('UPDATE schema_fields SET retired = 1 WHERE id = ?').run(row.id);
      const st = this.#store.schema.storage(f);
      const t = quoteIdent(ent.table);
      if (st.kind === 'column') this.#store.db.exec(`ALTER TABLE ${t} DROP COLUMN ${quoteIdent(st.column)}`);
      else if (st.kind === 'entity') {
        this.#store.db.exec(`DROP INDEX IF EXISTS ${quoteIdent(`${ent.table}__${f.name}`)}`);
        this.#store.db.exec(`ALTER TABLE ${t} DROP COLUMN ${quoteIdent(st.typeColumn)}`);
        this.#store.db.exec(`ALTER TABLE ${t} DROP COLUMN ${quoteIdent(st.idColumn)}`);
      } else if (st.kind === 'links') this.#store.prepare('DELETE FROM links WHERE src_type = ? AND field = ?').run(ent.name, f.name);
      this.#store.schema.dropField(f);
      this.#writer.events.log(actor, {
        eventType: 'Shotgun_DisplayColumn_Retirement', attributeName: null, entity: { type: 'DisplayColumn', id: row.id }, project: null,
        meta: { type: 'entity_retirement', class_name: 'DisplayColumn', entity_type: 'DisplayColumn', entity_id: row.id, id: row.id,
          display_name: f.displayName, field_entity_type: f.entityType, field_name: f.name },
        description: `${this.#writer.events.name(actor.user)} retired field ${f.entityType}.${f.name}`,
      });
    });
    return true;
  }

  #custom(type: string, name: string): { row: Stored; f: FieldDef } {
    const ent = this.#store.schema.entity(type);
    const f = this.#store.schema.field(ent, name);
    const row = this.#store.prepare('SELECT id, entity_type, name, spec FROM schema_fields WHERE entity_type = ? AND name = ? AND retired = 0').get(ent.name, f.name) as Stored | undefined;
    if (row === undefined) throw clientFault('SITE_FIELD_NOT_EDITABLE', `${ent.name}.${f.name} is a built-in field and cannot be changed`, { entityType: ent.name, field: f.name });
    return { row, f };
  }

  #apply(spec: Exclude<FieldSpec, string>, props: ReadonlyArray<{ property_name: string; value: unknown }>): Exclude<FieldSpec, string> {
    const out: Record<string, unknown> = { ...spec };
    for (const p of props) {
      const key = PROPERTIES[p.property_name];
      if (key === undefined) throw clientFault('SITE_INVALID_PARAMS', `unknown field property ${p.property_name}`, { property: p.property_name });
      if (key === null) continue;
      const v = p.value;
      const ok = key === 'types' || key === 'values' ? Array.isArray(v) && v.every((x) => typeof x === 'string') : key === 'default' ? true : typeof v === 'string';
      if (!ok) throw clientFault('SITE_INVALID_PARAMS', `invalid value for field property ${p.property_name}`, { property: p.property_name });
      out[key] = v;
    }
    return out as Exclude<FieldSpec, string>;
  }

  /** Adds the field and its column(s) (a no-op for columns that exist). */
  #install(f: FieldDef): void {
    const schema = this.#store.schema;
    const ent = schema.entity(f.entityType);
    schema.putField(f);
    const st = schema.storage(f);
    const t = quoteIdent(ent.table);
    const have = new Set((this.#store.db.prepare(`PRAGMA table_info(${t})`).all() as Array<{ name: string }>).map((c) => c.name));
    if (st.kind === 'column' && !have.has(st.column)) {
      this.#store.db.exec(`ALTER TABLE ${t} ADD COLUMN ${quoteIdent(st.column)} ${columnType(f)}${f.dataType === 'checkbox' ? ' NOT NULL DEFAULT 0' : ''}`);
    } else if (st.kind === 'entity' && !have.has(st.idColumn)) {
      this.#store.db.exec(`ALTER TABLE ${t} ADD COLUMN ${quoteIdent(st.typeColumn)} TEXT`);
      this.#store.db.exec(`ALTER TABLE ${t} ADD COLUMN ${quoteIdent(st.idColumn)} INTEGER`);
    }
  }
}
