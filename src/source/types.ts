import type { EventLogEntry } from '../shared/index.ts';

/**
 * Where events come from. The poller over api3 is the only implementation
 * today; webhook nudges or a NATS JetStream consumer slot in behind the same
 * three calls.
 */
export interface EventSource {
  /** Highest event id visible on the site now (0 when the log is empty). */
  newestId(signal?: AbortSignal): Promise<number>;
  /** Visible events with `id > afterId`, ascending by id, at most `limit`. */
  readAfter(afterId: number, limit: number, signal?: AbortSignal): Promise<EventLogEntry[]>;
  /** Visible events among `ids` (late ids from a backlog), ascending by id. */
  readIds(ids: readonly number[], signal?: AbortSignal): Promise<EventLogEntry[]>;
}

/** A minimal view of the api3 client: what the event source needs of it. */
export interface EventQueryClient {
  find(
    entityType: string,
    filters: unknown[],
    fields: string[],
    options: { order: Array<{ field_name: string; direction: 'asc' | 'desc' }>; limit: number },
  ): Promise<Array<Record<string, unknown>>>;
}

export interface SourceLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
