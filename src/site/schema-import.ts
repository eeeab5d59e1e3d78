/**
 * A studio's own schema, dumped from its real site (`sgeventd site dump-schema`)
 * and served by `sgeventd site --schema-from FILE` instead of the built-in one,
 * so plugin authors test against their real fields.
 *
 * The dump is `{format, entities, fields}`: `entities` is the answer of
 * `schema_entity_read` and `fields` that of `schema_read` (no records, no
 * credentials). Each field keeps its name, display name, description,
 * editability, valid types and values, and default. Data types this site does
 * not store as such are mapped (color, entity_type, footage → text; percent,
 * timecode → number; currency → float; addressing → multi_entity); computed
 * ones (pivot_column, summary, calculated, query) and names the site cannot
 * store are left out and listed in `skipped`. The two sides of a link are kept
 * as two fields (a real site does not say which field mirrors which).
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../shared/index.ts';
import { DATA_TYPES, type DataType, type EntitySpec, type FieldSpec } from './schema-types.ts';

export const SCHEMA_DUMP_FORMAT = 'sgeventd-schema-dump/1';

const prop = z.object({ value: z.unknown() }).passthrough();
const fieldRecordSchema = z.object({
  data_type: prop,
  name: prop.optional(),
  description: prop.optional(),
  editable: prop.optional(),
  mandatory: prop.optional(),
  properties: z.record(z.string(), prop).optional(),
}).passthrough();
export const schemaDumpSchema = z.object({
  format: z.literal(SCHEMA_DUMP_FORMAT),
  entities: z.record(z.string(), z.object({ name: prop.optional() }).passthrough()),
  fields: z.record(z.string(), z.record(z.string(), fieldRecordSchema)),
});
export type SchemaDump = z.infer<typeof schemaDumpSchema>;

const MAPPED: Readonly<Record<string, DataType>> = {
  color: 'text', entity_type: 'text', footage: 'text', system_task_type: 'text', url_template: 'text',
  percent: 'number', timecode: 'number', currency: 'float', addressing: 'multi_entity',
};
const NAME_RE = /^[A-Za-z][A-Za-z0-9_]*$/;
/** Defaults kept only when they have the JS type a write of that data type needs. */
const DEFAULT_KIND: Partial<Record<DataType, string>> = {
  text: 'string', list: 'string', status_list: 'string', number: 'number', float: 'number', duration: 'number', checkbox: 'boolean',
};
const DISPLAY_FIELDS = ['code', 'name', 'content', 'title', 'subject', 'description'];

/** The dump of a site, made from its schema_entity_read and schema_read answers. */
export function makeSchemaDump(entities: Record<string, unknown>, fields: Record<string, unknown>): SchemaDump {
  return schemaDumpSchema.parse({ format: SCHEMA_DUMP_FORMAT, entities, fields });
}

/** Entity specs of a dump, and the `Type.field`s left out. */
export function specsFromDump(dump: SchemaDump): { specs: Record<string, EntitySpec>; skipped: string[] } {
  const types = new Set(Object.keys(dump.fields).filter((t) => NAME_RE.test(t)));
  const specs: Record<string, EntitySpec> = {};
  const skipped: string[] = [];
  for (const type of types) {
    const fields: Record<string, FieldSpec> = {};
    for (const [name, rec] of Object.entries(dump.fields[type] ?? {})) {
      const raw = String(rec.data_type.value);
      const dataType = (DATA_TYPES as readonly string[]).includes(raw) ? raw as DataType : MAPPED[raw];
      if (dataType === undefined || !NAME_RE.test(name) || name.includes('__')) {
        skipped.push(`${type}.${name}`);
        continue;
      }
      const p = rec.properties ?? {};
      const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined);
      const spec: Exclude<FieldSpec, string> = { type: dataType };
      if (typeof rec.name?.value === 'string') spec.name = rec.name.value;
      if (typeof rec.description?.value === 'string') spec.description = rec.description.value;
      if (typeof rec.editable?.value === 'boolean') spec.editable = rec.editable.value;
      if (typeof rec.mandatory?.value === 'boolean') spec.mandatory = rec.mandatory.value;
      if (dataType === 'entity' || dataType === 'multi_entity') {
        const given = strings(p.valid_types?.value) ?? [];
        const valid = given.filter((t) => types.has(t));
        // A link whose every target type is missing cannot hold anything: leave it out.
        if (given.length > 0 && valid.length === 0) {
          skipped.push(`${type}.${name}`);
          continue;
        }
        if (valid.length > 0) spec.types = valid;
      }
      if (dataType === 'list' || dataType === 'status_list') {
        const values = strings(p.valid_values?.value);
        if (values !== undefined && values.length > 0) spec.values = values;
      }
      const dflt = p.default_value?.value;
      if (dflt !== undefined && dflt !== null && typeof dflt === DEFAULT_KIND[dataType]) spec.default = dflt;
      fields[name] = spec;
    }
    const displayField = DISPLAY_FIELDS.find((f) => fields[f] !== undefined && typeof fields[f] !== 'string' && fields[f].type === 'text') ?? 'id';
    const display = dump.entities[type]?.name?.value;
    specs[type] = {
      displayField, fields,
      ...(typeof display === 'string' ? { displayName: display } : {}),
      // Types without the usual bookkeeping fields (EventLogEntry, Reply) get only what they have.
      ...(fields.updated_by === undefined ? { plain: true } : {}),
    };
  }
  return { specs, skipped };
}

/** Reads a dump file written by `sgeventd site dump-schema`. */
export function loadSchemaDump(path: string): { specs: Record<string, EntitySpec>; skipped: string[] } {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError('schemaFrom', `cannot read ${path}`, { cause: err, value: path });
  }
  const parsed = schemaDumpSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`schemaFrom${issue ? '.' + issue.path.join('.') : ''}`, `${path}: ${issue?.message ?? 'invalid'}`, { value: path });
  }
  return specsFromDump(parsed.data);
}
