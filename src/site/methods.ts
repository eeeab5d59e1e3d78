/**
 * The api3 methods (protocol.md 1.2-1.8): parses the envelope and each method's
 * params with zod, authenticates, and answers `{results}` (or the bare info dict).
 * Every failure is a SiteFault; the server turns it into the fault body.
 */
import { z } from 'zod';
import type { SiteStore } from './store.ts';
import type { SiteWriter, Actor } from './writer.ts';
import type { SiteAuth } from './auth.ts';
import { Reader, readParamsSchema } from './read.ts';
import { summarize, summarizeParamsSchema } from './summarize.ts';
import { clientFault } from './faults.ts';
import { Social, activityParamsSchema, followParamsSchema, followersParamsSchema, followingParamsSchema } from './social.ts';
import { noteThread, noteThreadParamsSchema, textSearch, textSearchParamsSchema } from './search.ts';
import { WorkSchedule, preferencesReadSchema, readPreferences, workScheduleReadSchema, workScheduleUpdateSchema } from './work-schedule.ts';
import { SchemaEditor, fieldCreateSchema, fieldDeleteSchema, fieldUpdateSchema } from './schema-edit.ts';

export interface SiteInfo {
  version: [number, number, number];
  maxPerPage: number;
}

const envelopeSchema = z.object({ method_name: z.string(), params: z.array(z.unknown()).optional() });
const fieldWriteSchema = z.object({
  field_name: z.string(),
  value: z.unknown(),
  multi_entity_update_mode: z.enum(['set', 'add', 'remove']).optional(),
}).passthrough();
const createSchema = z.object({ type: z.string(), fields: z.array(fieldWriteSchema).default([]), return_fields: z.array(z.string()).nullish() }).passthrough();
const updateSchema = z.object({
  type: z.string(), id: z.number().int(), fields: z.array(fieldWriteSchema).default([]),
  multi_entity_update_mode: z.enum(['set', 'add', 'remove']).optional(),
}).passthrough();
const idSchema = z.object({ type: z.string(), id: z.number().int() }).passthrough();
const batchItemSchema = z.discriminatedUnion('request_type', [
  createSchema.extend({ request_type: z.literal('create') }),
  updateSchema.extend({ request_type: z.literal('update') }),
  idSchema.extend({ request_type: z.literal('delete') }),
]);
const schemaReadSchema = z.object({ project: z.unknown().optional() }).passthrough().nullish();
const schemaFieldReadSchema = z.object({ type: z.string(), field_name: z.string().nullish(), project: z.unknown().optional() }).passthrough();

function parse<T>(schema: z.ZodType<T>, value: unknown, method: string): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw clientFault('SITE_INVALID_PARAMS', `${method}: invalid params at ${issue?.path.join('.') ?? ''}`, { method, path: issue?.path.map(String), problem: issue?.code });
  }
  return r.data;
}

export class Api3 {
  readonly store: SiteStore;
  readonly writer: SiteWriter;
  readonly auth: SiteAuth;
  readonly reader: Reader;
  readonly info: SiteInfo;
  readonly social: Social;
  readonly workSchedule: WorkSchedule;
  readonly schemaEditor: SchemaEditor;

  constructor(store: SiteStore, writer: SiteWriter, auth: SiteAuth, info: SiteInfo) {
    this.store = store;
    this.writer = writer;
    this.auth = auth;
    this.info = info;
    this.reader = new Reader(store, info.maxPerPage);
    this.social = new Social(store, this.reader);
    this.workSchedule = new WorkSchedule(store);
    this.schemaEditor = new SchemaEditor(store, writer);
  }

  /** The method name of a body, when it parses (for fault injection and logs). */
  static methodOf(body: unknown): string | undefined {
    const r = envelopeSchema.safeParse(body);
    return r.success ? r.data.method_name : undefined;
  }

  /** Answers one decoded request body; throws SiteFault. */
  call(body: unknown): unknown {
    const env = parse(envelopeSchema, body, 'envelope');
    const params = env.params ?? [];
    if (env.method_name === 'info') return this.#info();
    const actor = this.auth.authenticate(params[0]);
    const p = params[1];
    switch (env.method_name) {
      case 'read': return { results: this.reader.read(parse(readParamsSchema, p, 'read')) };
      case 'create': return { results: this.#create(actor, parse(createSchema, p, 'create')) };
      case 'update': {
        const u = parse(updateSchema, p, 'update');
        return { results: this.#update(actor, u) };
      }
      case 'delete': { const d = parse(idSchema, p, 'delete'); return { results: this.writer.retire(actor, d.type, d.id) }; }
      case 'revive': { const d = parse(idSchema, p, 'revive'); return { results: this.writer.revive(actor, d.type, d.id) }; }
      case 'batch': return { results: this.#batch(actor, parse(z.array(batchItemSchema), p, 'batch')) };
      case 'summarize': return { results: summarize(this.store, parse(summarizeParamsSchema, p, 'summarize')) };
      case 'schema_read': {
        parse(schemaReadSchema, p, 'schema_read');
        const out: Record<string, unknown> = {};
        for (const e of this.store.schema.entities.values()) {
          const fields: Record<string, unknown> = {};
          for (const f of e.fields.values()) fields[f.name] = this.store.schema.fieldRecord(f);
          out[e.name] = fields;
        }
        return { results: out };
      }
      case 'schema_entity_read': {
        parse(schemaReadSchema, p, 'schema_entity_read');
        const out: Record<string, unknown> = {};
        for (const e of this.store.schema.entities.values()) out[e.name] = this.store.schema.entityRecord(e);
        return { results: out };
      }
      case 'schema_field_read': {
        const s = parse(schemaFieldReadSchema, p, 'schema_field_read');
        const ent = this.store.schema.entity(s.type);
        const out: Record<string, unknown> = {};
        if (s.field_name !== undefined && s.field_name !== null) {
          out[s.field_name] = this.store.schema.fieldRecord(this.store.schema.field(ent, s.field_name));
        } else {
          for (const f of ent.fields.values()) out[f.name] = this.store.schema.fieldRecord(f);
        }
        return { results: out };
      }
      case 'get_session_token': return { results: { session_id: this.auth.newSession(actor) } };
      case 'schema_field_create': return { results: this.schemaEditor.create(actor, parse(fieldCreateSchema, p, 'schema_field_create')) };
      case 'schema_field_update': return { results: this.schemaEditor.update(actor, parse(fieldUpdateSchema, p, 'schema_field_update')) };
      case 'schema_field_delete': return { results: this.schemaEditor.delete(actor, parse(fieldDeleteSchema, p, 'schema_field_delete')) };
      case 'follow': return { results: this.social.follow(parse(followParamsSchema, p, 'follow')) };
      case 'unfollow': return { results: this.social.unfollow(parse(followParamsSchema, p, 'unfollow')) };
      case 'followers': return { results: this.social.followers(parse(followersParamsSchema, p, 'followers')) };
      case 'following': return { results: this.social.following(parse(followingParamsSchema, p, 'following')) };
      case 'activity_stream': return { results: this.social.activityStream(parse(activityParamsSchema, p, 'activity_stream')) };
      case 'query_display_name_cache': return { results: textSearch(this.store, parse(textSearchParamsSchema, p, 'query_display_name_cache')) };
      case 'note_thread_contents': return { results: noteThread(this.store, this.reader, parse(noteThreadParamsSchema, p, 'note_thread_contents')) };
      case 'work_schedule_read': return { results: this.workSchedule.read(parse(workScheduleReadSchema, p, 'work_schedule_read')) };
      case 'work_schedule_update': return { results: this.workSchedule.update(parse(workScheduleUpdateSchema, p, 'work_schedule_update')) };
      case 'preferences_read': return { results: readPreferences(parse(preferencesReadSchema, p, 'preferences_read')) };
      default:
        throw clientFault('SITE_UNKNOWN_METHOD', `Unknown method ${env.method_name}`, { method: env.method_name });
    }
  }

  #info(): Record<string, unknown> {
    const v = this.info.version;
    return {
      version: [...v], full_version: [...v, 'sgeventd'], api_max_entities_per_page: this.info.maxPerPage,
      user_authentication_method: 'default', s3_uploads_enabled: false, s3_direct_uploads_enabled: false,
      s3_enabled_upload_types: {}, totango_site_id: null, totango_site_name: null,
      unified_login_flow_enabled: false, authentication_app_session_launcher_enabled: false,
    };
  }

  #create(actor: Actor, c: z.infer<typeof createSchema>): Record<string, unknown> {
    return this.writer.transaction(() => {
      const { id, fieldsSet } = this.writer.create(actor, c.type, c.fields);
      const ent = this.store.schema.entity(c.type);
      const fields = [...new Set([...fieldsSet, ...(c.return_fields ?? [])])];
      return this.reader.record(ent, this.store.row(ent, id, true)!, fields);
    });
  }

  #update(actor: Actor, u: z.infer<typeof updateSchema>): Record<string, unknown> {
    return this.writer.transaction(() => {
      const { fieldsSet, reading } = this.writer.update(actor, u.type, u.id, u.fields, u.multi_entity_update_mode);
      const ent = this.store.schema.entity(u.type);
      const rec = this.reader.record(ent, this.store.row(ent, u.id, true)!, fieldsSet);
      return reading === undefined ? rec : { ...rec, read_by_current_user: reading };
    });
  }

  /** All-or-nothing: one transaction; the first fault rolls every request back. */
  #batch(actor: Actor, items: Array<z.infer<typeof batchItemSchema>>): unknown[] {
    return this.writer.transaction(() => items.map((it) => {
      if (it.request_type === 'create') return this.#create(actor, it);
      if (it.request_type === 'update') return this.#update(actor, it);
      return this.writer.retire(actor, it.type, it.id);
    }));
  }
}
