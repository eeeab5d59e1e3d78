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

/**
 * Turns a raw row into an `EventLogEntry`, or explains what is wrong with it.
 * `created_at` strings that the client did not decode are parsed here.
 */
export function toEventLogEntry(row: Record<string, unknown>): EventLogEntry {
  const r = eventRow.safeParse(row);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue?.path.join('.') ?? '?';
    throw new InvalidEventError(row['id'], `EventLogEntry ${String(row['id'])}: field ${where} ${issue?.message ?? 'is invalid'}`);
  }
  const e = r.data;
  const created = e.created_at instanceof Date ? e.created_at : typeof e.created_at === 'string' ? new Date(e.created_at) : null;
  return {
    ...e,
    type: 'EventLogEntry',
    attribute_name: e.attribute_name ?? null,
    meta: e.meta ?? null,
    entity: e.entity ?? null,
    user: e.user ?? null,
    project: e.project ?? null,
    session_uuid: e.session_uuid ?? null,
    created_at: created !== null && !Number.isNaN(created.getTime()) ? created : null,
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
