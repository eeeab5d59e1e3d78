import type { ShotgunClient } from '../shotgrid/index.ts';
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

/** What the event source needs of the api3 client. */
export type EventQueryClient = Pick<ShotgunClient, 'find'>;

export interface SourceLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
