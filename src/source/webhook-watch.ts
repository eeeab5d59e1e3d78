import type { EventLogEntry } from '../shared/index.ts';
import type { SourceLogger } from './types.ts';

export type WebhookOperation = 'create' | 'update' | 'delete' | 'revive';

/** One entity type and the operations the site's webhook is subscribed to (`Shot:create|update`). */
export interface WebhookExpectationLike {
  readonly entityType: string;
  readonly operations: readonly WebhookOperation[];
}

export interface WebhookWatchOptions {
  expect: readonly WebhookExpectationLike[];
  /** An expected event found by polling that no delivery covers this long after: the webhook is silent. */
  silentAfterMs: number;
  logger: SourceLogger;
  /**
   * Told once per silence (the daemon counts it); `mail` is true for the first
   * silence and then for the first one at least `mailIntervalMs` after the last mailed one.
   */
  onSilent?: (silence: WebhookSilence, mail: boolean) => void;
  /** At most one mail per this long (the daemon passes an hour). */
  mailIntervalMs?: number;
  /** The clock (tests pass their own). */
  now?: () => number;
}

/** What the status page shows while the webhook is silent. */
export interface WebhookSilence {
  /** ISO time the silence was noticed. */
  since: string;
  /** The oldest expected event no delivery covered. */
  eventId: number;
  eventType: string;
  /** The highest id any delivery announced (0: none since start). */
  lastDeliveredId: number;
}

// Events a site's webhook can send: `Shotgun_<Type>_<New|Change|Retirement|Revival>`.
const OPERATION_OF: Record<string, WebhookOperation> = { New: 'create', Change: 'update', Retirement: 'delete', Revival: 'revive' };
const EVENT_TYPE = /^Shotgun_(.+)_(New|Change|Retirement|Revival)$/;

/** Pending events kept at most; the oldest are the ones that matter. */
const MAX_PENDING = 1000;

/** The entity type and operation a webhook would deliver `event` under, or null when no webhook sends it. */
export function webhookOperationOf(event: Pick<EventLogEntry, 'event_type' | 'meta'>): { entityType: string; operation: WebhookOperation } | null {
  const m = EVENT_TYPE.exec(event.event_type);
  if (m === null) return null;
  const operation = OPERATION_OF[m[2] ?? ''];
  if (operation === undefined) return null;
  // Update hooks skip the field rows a create writes.
  if (operation === 'update' && (event.meta as { in_create?: unknown } | null)?.in_create === true) return null;
  return { entityType: m[1] ?? '', operation };
}

/**
 * Notices a webhook that stopped delivering: polling found an event the
 * site's webhook is subscribed to (`expect`), and `silentAfterMs` after
 * polling found it no delivery has announced its id or a higher one.
 * Only events found by polling at the frontier count (a catch-up after a
 * restart reads events whose deliveries went nowhere). Age is measured on
 * this machine's clock from when polling found the event, so a site clock
 * that differs cannot raise it.
 */
export class WebhookWatch {
  readonly #opts: WebhookWatchOptions;
  readonly #expected: Set<string>;
  readonly #now: () => number;
  /** Expected events found by polling, not covered by a delivery yet, ascending by id. */
  #pending: Array<{ id: number; eventType: string; seenAt: number }> = [];
  #lastDeliveredId = 0;
  #lastDeliveryAt = 0;
  #silence: WebhookSilence | null = null;
  #silences = 0;
  #lastMailAt = -Infinity;

  constructor(opts: WebhookWatchOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#expected = new Set(opts.expect.flatMap((e) => e.operations.map((op) => `${e.entityType}:${op}`)));
  }

  get silence(): WebhookSilence | null {
    return this.#silence;
  }

  /** Times the webhook was found silent since start. */
  get silences(): number {
    return this.#silences;
  }

  get lastDeliveredId(): number {
    return this.#lastDeliveredId;
  }

  /** Epoch ms of the last accepted delivery (0: none). */
  get lastDeliveryAt(): number {
    return this.#lastDeliveryAt;
  }

  /** A delivery announced `eventId`: every pending event at or below it is covered. */
  delivered(eventId: number): void {
    this.#lastDeliveryAt = this.#now();
    if (eventId <= this.#lastDeliveredId) return;
    this.#lastDeliveredId = eventId;
    this.#pending = this.#pending.filter((p) => p.id > eventId);
    if (this.#silence !== null && this.#pending.every((p) => this.#now() - p.seenAt <= this.#opts.silentAfterMs)) {
      this.#opts.logger.info({ eventId, silentSince: this.#silence.since }, 'webhook deliveries arrive again');
      this.#silence = null;
    }
  }

  /** Events a poll at the frontier found; then checks for silence. */
  polled(events: readonly EventLogEntry[]): void {
    const now = this.#now();
    for (const e of events) {
      if (e.id <= this.#lastDeliveredId) continue;
      const op = webhookOperationOf(e);
      if (op === null || !this.#expected.has(`${op.entityType}:${op.operation}`)) continue;
      if (this.#pending.length < MAX_PENDING) this.#pending.push({ id: e.id, eventType: e.event_type, seenAt: now });
    }
    this.check();
  }

  /** Raises the silence once when the oldest uncovered expected event is older than `silentAfterMs`. */
  check(): void {
    const oldest = this.#pending[0];
    if (this.#silence !== null || oldest === undefined) return;
    if (this.#now() - oldest.seenAt <= this.#opts.silentAfterMs) return;
    this.#silence = {
      since: new Date(this.#now()).toISOString(), eventId: oldest.id, eventType: oldest.eventType, lastDeliveredId: this.#lastDeliveredId,
    };
    this.#silences++;
    this.#opts.logger.warn({ ...this.#silence, silentAfterMs: this.#opts.silentAfterMs },
      'webhook silent, falling back to polling: no delivery covered an expected event');
    const mail = this.#now() - this.#lastMailAt >= (this.#opts.mailIntervalMs ?? 0);
    if (mail) this.#lastMailAt = this.#now();
    this.#opts.onSilent?.(this.#silence, mail);
  }
}
