import { SgeventdError } from '../shared/index.ts';
import type { EventSource } from './types.ts';

/**
 * A reader's position fell below the site's event log: the ids between it
 * and the oldest row still there were culled (a hosted site keeps about six
 * months), not merely late or never committed. Handing out what follows
 * would skip them silently, so the reader stops until an operator
 * acknowledges (`sgeventd plugin ack-gap`).
 */
export class EventLogCulledError extends SgeventdError {
  readonly after: number;
  readonly oldestId: number;

  constructor(after: number, oldestId: number) {
    super('EVENT_LOG_CULLED',
      `events ${after + 1}–${oldestId - 1} are no longer in the site's event log (culled; its oldest event is ${oldestId}): `
      + 'stopped here instead of skipping them; acknowledge with `sgeventd plugin ack-gap <plugin>` to resume at the oldest event',
      { details: { from: after + 1, to: oldestId - 1, oldestId } });
    this.after = after;
    this.oldestId = oldestId;
  }
}

/** How long the oldest id read from the site is trusted (culling moves it up slowly). */
const OLDEST_TTL_MS = 60_000;

/**
 * Tells a culled log from an ordinary gap in ids (a late commit, an id never
 * used): only a gap at the start of what a reader got is checked, against
 * the oldest event the site still has (read at most once a minute).
 */
export class CulledLogCheck {
  readonly #source: EventSource;
  #oldest: { id: number; at: number } | null = null;
  #reading: Promise<number> | null = null;

  constructor(source: EventSource) {
    this.#source = source;
  }

  /** Throws EVENT_LOG_CULLED when ids after `pos` and below `firstId` are below the oldest event the site keeps. */
  async check(pos: number, firstId: number, signal?: AbortSignal): Promise<void> {
    if (firstId <= pos + 1) return;
    const oldest = await this.oldestId(signal);
    if (oldest > pos + 1) throw new EventLogCulledError(pos, oldest);
  }

  /** The lowest id the site's log still holds (0 when it is empty). */
  async oldestId(signal?: AbortSignal): Promise<number> {
    const cached = this.#oldest;
    if (cached !== null && Date.now() - cached.at < OLDEST_TTL_MS) return cached.id;
    this.#reading ??= this.#source.readAfter(0, 1, signal).then((rows) => {
      const id = rows[0]?.id ?? 0;
      this.#oldest = { id, at: Date.now() };
      return id;
    }).finally(() => {
      this.#reading = null;
    });
    return this.#reading;
  }
}
