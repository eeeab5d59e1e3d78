import { z } from 'zod';
import { EVENT_FIELDS, type EventLogEntry } from '../shared/index.ts';
import type { EventQueryClient, EventSource, SourceLogger } from './types.ts';

const link = z.object({ type: z.string(), id: z.number() }).passthrough();

// What a row must look like to be dispatched; everything else passes through.
const eventRow = z
  .object({
    id: z.number().int().positive(),
    event_type: z.string(),
    attribute_name: z.string().nullish(),
    meta: z.record(z.string(), z.unknown()).nullish(),
    entity: link.nullish(),
    user: link.nullish(),
    project: link.nullish(),
    session_uuid: z.string().nullish(),
    created_at: z.union([z.date(), z.string()]).nullish(),
  })
  .passthrough();

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
const isLink = (v: unknown): boolean => v == null || (isObject(v) && typeof v['type'] === 'string' && typeof v['id'] === 'number');
const isText = (v: unknown): boolean => v == null || typeof v === 'string';

/** The checks of `eventRow`, without building a copy: a catch-up reads thousands of rows a second. */
function isEventRow(row: Record<string, unknown>): boolean {
  const id = row['id'];
  const created = row['created_at'];
  const meta = row['meta'];
  return typeof id === 'number' && Number.isInteger(id) && id > 0 && typeof row['event_type'] === 'string'
    && isText(row['attribute_name']) && isText(row['session_uuid']) && (meta == null || isObject(meta))
    && isLink(row['entity']) && isLink(row['user']) && isLink(row['project'])
    && (created == null || created instanceof Date || typeof created === 'string');
}

function decodeCreated(v: unknown): Date | null {
  const created = v instanceof Date ? v : typeof v === 'string' ? new Date(v) : null;
  return created !== null && !Number.isNaN(created.getTime()) ? created : null;
}

/**
 * Turns a raw row into an `EventLogEntry`, or explains what is wrong with it.
 * `created_at` strings that the client did not decode are parsed here. A
 * valid row becomes the entry itself (it belongs to the caller: a freshly
 * read answer or a stored event); only a bad one goes through the schema,
 * for its error message.
 */
export function toEventLogEntry(row: Record<string, unknown>): EventLogEntry {
  if (isEventRow(row)) {
    row['type'] = 'EventLogEntry';
    row['attribute_name'] ??= null;
    row['meta'] ??= null;
    row['entity'] ??= null;
    row['user'] ??= null;
    row['project'] ??= null;
    row['session_uuid'] ??= null;
    row['created_at'] = decodeCreated(row['created_at']);
    return row as EventLogEntry;
  }
  const r = eventRow.safeParse(row);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue?.path.join('.') ?? '?';
    throw new InvalidEventError(row['id'], `EventLogEntry ${String(row['id'])}: field ${where} ${issue?.message ?? 'is invalid'}`);
  }
  const e = r.data;
  return {
    ...e,
    type: 'EventLogEntry',
    attribute_name: e.attribute_name ?? null,
    meta: e.meta ?? null,
    entity: e.entity ?? null,
    user: e.user ?? null,
    project: e.project ?? null,
    session_uuid: e.session_uuid ?? null,
    created_at: decodeCreated(e.created_at),
  };
}

export class InvalidEventError extends Error {
  readonly code = 'EVENT_INVALID';
  readonly eventId: unknown;
  constructor(eventId: unknown, message: string) {
    super(message);
    this.name = 'InvalidEventError';
    this.eventId = eventId;
  }
}

const BY_ID: Array<{ field_name: string; direction: 'asc' | 'desc' }> = [{ field_name: 'id', direction: 'asc' }];

/** Reads the event log over api3 (`read` on EventLogEntry, ordered by id). */
export class Api3EventSource implements EventSource {
  readonly #client: EventQueryClient;
  readonly #logger: SourceLogger;
  readonly #fields: string[];

  constructor(client: EventQueryClient, logger: SourceLogger, fields: readonly string[] = EVENT_FIELDS) {
    this.#client = client;
    this.#logger = logger;
    this.#fields = [...fields];
  }

  async newestId(): Promise<number> {
    const rows = await this.#client.find('EventLogEntry', [], ['id'], {
      order: [{ field_name: 'id', direction: 'desc' }],
      limit: 1,
    });
    const id = rows[0]?.['id'];
    return typeof id === 'number' ? id : 0;
  }

  async readAfter(afterId: number, limit: number): Promise<EventLogEntry[]> {
    const rows = await this.#client.find('EventLogEntry', [['id', 'greater_than', afterId]], this.#fields, { order: BY_ID, limit });
    return this.#decode(rows);
  }

  async readIds(ids: readonly number[]): Promise<EventLogEntry[]> {
    if (ids.length === 0) return [];
    const rows = await this.#client.find('EventLogEntry', [['id', 'in', [...ids]]], this.#fields, { order: BY_ID, limit: ids.length });
    return this.#decode(rows);
  }

  #decode(rows: Array<Record<string, unknown>>): EventLogEntry[] {
    const out: EventLogEntry[] = [];
    for (const row of rows) {
      try {
        out.push(toEventLogEntry(row));
      } catch (err) {
        // A malformed row is reported, never dispatched; its id then shows up
        // as a gap in every plugin's backlog and expires there, logged.
        this.#logger.error({ err, row }, 'skipping malformed EventLogEntry');
      }
    }
    return out;
  }
}
