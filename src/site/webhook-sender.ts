/**
 * One webhook's deliveries, sent as a real site sends them (protocol.md 4): a queue
 * ordered by due time, one request in flight, batched payloads of up to 50 items
 * gathered over a short window, a signature when a secret is set, a 6 s timeout
 * (batched: max(6 s, 1 s per event)), < 400 success and anything else a failure,
 * bounded retries with exponential backoff, and the Active / Unstable / Failed
 * status over a 24 h window (Failed: no further attempts).
 *
 * A batched webhook sends at once when its previous request went out at least
 * `batchWindowMs` ago (2 s on a real site), else it gathers what comes until
 * then: several items per payload only when events come faster than that.
 * One payload holds at most 1 MB: an item larger than that loses its meta's
 * `old_value` and `new_value` and gains a `warning`, and a batch stops before
 * the item that would pass the cap. Every request waits for the site-wide
 * response-time budget (webhook-throttle.ts). A 3xx answer is a success
 * (< 400) and is not followed. A failed webhook gets nothing until it is
 * enabled again (`enable()`, the admin route).
 *
 * Fault injection for tests and benches: with probability `faultRate` a request is
 * dropped (never sent), duplicated (sent twice) or reordered (held back until the
 * next request went out), each counted.
 */
import { randomUUID } from 'node:crypto';
import { request, type Dispatcher } from 'undici';
import { describeError } from '../shared/index.ts';
import type { SiteLogger } from './server.ts';
import type { WebhookSpec } from './webhook-spec.ts';
import { DueQueue } from './webhook-queue.ts';
import type { ResponseBudget } from './webhook-throttle.ts';
import { buildRequest, capItem, MAX_PAYLOAD_BYTES, type DeliveryItem, type DeliveryRequest, type EventBatchRef } from './webhook-payload.ts';

export interface SenderTuning {
  timeoutMs: number;
  batchWindowMs: number;
  delayMs: number;
  faultRate: number;
  random: () => number;
  reorderHoldMs: number;
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  failureThreshold: number;
  failureWindowMs: number;
  maxQueued: number;
  /** Site-wide answer-time budget shared by every sender (the site's throttle). */
  budget: ResponseBudget;
}

export type WebhookState = 'active' | 'unstable' | 'failed';

export interface WebhookCounts {
  /** Requests answered < 400. */
  sent: number;
  /** Requests answered >= 400, timed out or refused. */
  failed: number;
  /** Events in requests answered < 400. */
  eventsDelivered: number;
  /** Events given up on: attempts exhausted, queue full, or the webhook failed. */
  eventsAbandoned: number;
  dropped: number;
  duplicated: number;
  reordered: number;
  /** Requests held back by the site's answer-time budget. */
  throttled: number;
  /** Items sent without old_value/new_value because they passed the 1 MB cap. */
  oversized: number;
}

interface Pending {
  item: DeliveryItem;
  /** Bytes of `item` as JSON (after the cap). */
  bytes: number;
  eventBatch: EventBatchRef;
  /** Kept across retries of a single delivery. */
  deliveryId: string;
  dueAt: number;
  attempts: number;
}

interface Outgoing extends DeliveryRequest {
  items: Pending[];
}

export class WebhookSender {
  readonly id: string;
  readonly spec: WebhookSpec;
  readonly #o: SenderTuning;
  readonly #siteUrl: string;
  readonly #dispatcher: Dispatcher;
  readonly #logger: SiteLogger | undefined;
  readonly #queue = new DueQueue<Pending>();
  readonly #failures: number[] = [];
  readonly #abort = new AbortController();
  readonly counts: WebhookCounts = { sent: 0, failed: 0, eventsDelivered: 0, eventsAbandoned: 0, dropped: 0, duplicated: 0, reordered: 0, throttled: 0, oversized: 0 };
  #dead = false;
  #closed = false;
  #held: Outgoing | undefined;
  #loop: Promise<void> | undefined;
  #running = false;
  #wakeUp: (() => void) | undefined;
  #batchSeq = 0;
  #lastError: string | undefined;
  /** When the last request went out (a batched webhook batches within `batchWindowMs` of it). */
  #lastSentAt = -Infinity;

  constructor(id: string, spec: WebhookSpec, tuning: SenderTuning, siteUrl: string, dispatcher: Dispatcher, logger?: SiteLogger) {
    this.id = id;
    this.spec = spec;
    this.#o = tuning;
    this.#siteUrl = siteUrl;
    this.#dispatcher = dispatcher;
    this.#logger = logger;
  }

  /** The URL without credentials or query, for logs and listings. */
  get shownUrl(): string {
    const u = new URL(this.spec.url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  }

  get state(): WebhookState {
    if (this.#dead) return 'failed';
    return this.#recentFailures() > 0 ? 'unstable' : 'active';
  }

  get queued(): number {
    return this.#queue.length + (this.#held?.items.length ?? 0);
  }

  get lastError(): string | undefined {
    return this.#lastError;
  }

  /** Queues the items of one event batch; returns at once (sending is asynchronous). */
  enqueue(items: ReadonlyArray<{ item: DeliveryItem; eventBatch: EventBatchRef }>): void {
    if (this.#closed) return;
    if (this.#dead || this.#queue.length + items.length > this.#o.maxQueued) {
      this.counts.eventsAbandoned += items.length;
      if (!this.#dead) this.#logger?.warn({ webhook: this.id, url: this.shownUrl, events: items.length }, 'site: webhook queue full, deliveries abandoned');
      return;
    }
    const dueAt = Date.now() + this.#o.delayMs;
    for (const { item, eventBatch } of items) {
      const capped = capItem(item);
      if (capped.oversized) this.counts.oversized++;
      this.#queue.push({ item: capped.item, bytes: capped.bytes, eventBatch, deliveryId: randomUUID(), dueAt, attempts: 0 });
    }
    this.#wake();
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run().catch((err: unknown) => {
      this.#running = false;
      this.#logger?.error({ webhook: this.id, err: describeError(err) }, 'site: webhook sender stopped');
    });
  }

  /** A failed webhook takes deliveries again (its failures are forgotten); rows written while it was failed are not sent. */
  enable(): void {
    if (!this.#dead) return;
    this.#dead = false;
    this.#failures.length = 0;
    this.#lastError = undefined;
    this.#logger?.info({ webhook: this.id, url: this.shownUrl }, 'site: webhook enabled again');
  }

  /** Stops sending; an answer in flight is abandoned. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#abort.abort();
    this.#wake();
    await this.#loop;
  }

  #wake(): void {
    this.#wakeUp?.();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wakeUp = done;
    });
  }

  #recentFailures(): number {
    const since = Date.now() - this.#o.failureWindowMs;
    while (this.#failures.length > 0 && this.#failures[0]! < since) this.#failures.shift();
    return this.#failures.length;
  }

  async #run(): Promise<void> {
    let throttled = false;
    while (!this.#closed && !this.#dead) {
      const head = this.#queue.peek();
      if (head === undefined) {
        if (this.#held === undefined) {
          // Cleared in the same turn as the check, so an enqueue after it starts a new loop.
          this.#running = false;
          return;
        }
        // Nothing to send it after: wait a little for a successor, then send it anyway.
        await this.#sleep(this.#o.reorderHoldMs);
        if (this.#queue.length === 0 && this.#held !== undefined) await this.#sendHeld();
        continue;
      }
      const now = Date.now();
      if (head.dueAt > now) {
        await this.#sleep(head.dueAt - now);
        continue;
      }
      if (this.spec.batch && this.#queue.dueCount(now, 50) < 50) {
        const gatherUntil = this.#lastSentAt + this.#o.batchWindowMs;
        if (gatherUntil > now) {
          await this.#sleep(gatherUntil - now);
          continue;
        }
      }
      const throttledFor = this.#o.budget.waitMs();
      if (throttledFor > 0) {
        if (!throttled) this.counts.throttled++;
        throttled = true;
        await this.#sleep(throttledFor);
        continue;
      }
      throttled = false;
      const taken = this.#takeDue(this.spec.batch ? 50 : 1);
      this.#lastSentAt = Date.now();
      const batch = this.spec.batch ? { id: `${this.id.slice(0, 8)}-${++this.#batchSeq}`, size: taken.length, index: 0 } : null;
      await this.#dispatch({ items: taken, ...buildRequest({ webhookId: this.id, spec: this.spec, siteUrl: this.#siteUrl, items: taken, batch }) });
    }
    if (this.#dead) this.#abandonAll();
    // Stopped or failed: a webhook enabled again starts a new loop on its next row.
    this.#running = false;
  }

  #takeDue(max: number): Pending[] {
    const n = Math.max(1, this.#queue.dueCount(Date.now(), max));
    const out: Pending[] = [];
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      // A payload stops before the item that would pass the cap (the first is always taken).
      const next = this.#queue.peek();
      if (next === undefined || (out.length > 0 && bytes + next.bytes > MAX_PAYLOAD_BYTES)) break;
      bytes += next.bytes;
      out.push(this.#queue.shift()!);
    }
    return out;
  }

  /** Sends one request, with the injected fault if one is drawn. */
  async #dispatch(out: Outgoing): Promise<void> {
    if (this.#o.faultRate > 0 && this.#o.random() < this.#o.faultRate) {
      const pick = this.#o.random();
      if (pick < 1 / 3) {
        this.counts.dropped++;
        return;
      }
      if (pick < 2 / 3) {
        this.counts.duplicated++;
        await this.#attempt(out);
        await this.#attempt(out);
        await this.#sendHeld();
        return;
      }
      if (this.#held === undefined) {
        this.counts.reordered++;
        this.#held = out;
        return;
      }
    }
    await this.#attempt(out);
    await this.#sendHeld();
  }

  async #sendHeld(): Promise<void> {
    const held = this.#held;
    if (held === undefined || this.#closed) return;
    this.#held = undefined;
    await this.#attempt(held);
  }

  async #attempt(out: Outgoing): Promise<void> {
    if (this.#closed || this.#dead) return;
    const n = out.items.length;
    const timeout = this.spec.batch ? Math.max(this.#o.timeoutMs, 1000 * n) : this.#o.timeoutMs;
    let error: string | undefined;
    const startedAt = Date.now();
    try {
      const res = await request(this.spec.url, {
        method: 'POST', headers: out.headers, body: out.body, dispatcher: this.#dispatcher,
        headersTimeout: timeout, bodyTimeout: timeout, signal: AbortSignal.any([AbortSignal.timeout(timeout), this.#abort.signal]),
      });
      await res.body.dump();
      if (res.statusCode >= 400) error = `HTTP ${res.statusCode}`;
    } catch (err) {
      error = describeError(err);
    }
    this.#o.budget.spend(Date.now() - startedAt);
    if (this.#closed) return;
    if (error === undefined) {
      this.counts.sent++;
      this.counts.eventsDelivered += n;
      return;
    }
    this.counts.failed++;
    this.#lastError = error;
    this.#failures.push(Date.now());
    const again = out.items.filter((p) => ++p.attempts < this.#o.maxAttempts);
    this.counts.eventsAbandoned += n - again.length;
    this.#logger?.warn({ webhook: this.id, url: this.shownUrl, deliveryId: out.deliveryId, events: n, error, retrying: again.length }, 'site: webhook delivery failed');
    if (this.#recentFailures() >= this.#o.failureThreshold) {
      this.#dead = true;
      this.counts.eventsAbandoned += again.length;
      this.#logger?.error({ webhook: this.id, url: this.shownUrl, failures: this.#failures.length }, 'site: webhook failed: no further deliveries');
      this.#wake();
      return;
    }
    for (const p of again) {
      const backoff = Math.min(this.#o.retryMaxMs, this.#o.retryBaseMs * 2 ** (p.attempts - 1));
      this.#queue.retry({ ...p, dueAt: Date.now() + backoff });
    }
  }

  #abandonAll(): void {
    this.counts.eventsAbandoned += this.#queue.length + (this.#held?.items.length ?? 0);
    this.#queue.clear();
    this.#held = undefined;
  }
}
