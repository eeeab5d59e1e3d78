// A webhook delivery as a real site puts it on the wire (protocol.md 4): the
// items, the 1 MB cap on a payload, the body with its timestamp, the headers
// and the signature.
import { createHmac, randomUUID } from 'node:crypto';
import type { WebhookSpec } from './webhook-spec.ts';

/** The largest payload a site sends (protocol.md 4). */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;
const OVERSIZE_WARNING = 'payload over 1 MB: old_value and new_value removed';

/** One event as a delivery carries it (`data`, or one item of `data.deliveries`). */
export interface DeliveryItem {
  id: string;
  event_log_entry_id: number;
  event_type: string;
  operation: string;
  user: { type: string; id: number } | null;
  entity: { type: string; id: number } | null;
  project: { type: string; id: number } | null;
  meta: unknown;
  attribute_name: string | null;
  created_at: string;
  session_uuid: string | null;
}

/** The rows one transaction wrote that this webhook receives. */
export interface EventBatchRef {
  id: string;
  size: number;
  index: number;
}

/** One request's body and headers. */
export interface DeliveryRequest {
  deliveryId: string;
  body: string;
  headers: Record<string, string>;
}

/** An item over the payload cap loses old_value/new_value and gains a warning, as on a real site. */
export function capItem(item: DeliveryItem): { item: DeliveryItem; bytes: number; oversized: boolean } {
  const bytes = Buffer.byteLength(JSON.stringify(item));
  if (bytes <= MAX_PAYLOAD_BYTES) return { item, bytes, oversized: false };
  const meta = item.meta !== null && typeof item.meta === 'object' ? { ...(item.meta as Record<string, unknown>) } : item.meta;
  if (meta !== null && typeof meta === 'object') {
    delete (meta as Record<string, unknown>)['old_value'];
    delete (meta as Record<string, unknown>)['new_value'];
  }
  const smaller = { ...item, meta, warning: OVERSIZE_WARNING };
  return { item: smaller, bytes: Buffer.byteLength(JSON.stringify(smaller)), oversized: true };
}

export interface RequestParts {
  webhookId: string;
  spec: WebhookSpec;
  siteUrl: string;
  /** The items, each with the delivery id and event batch it was queued with. */
  items: ReadonlyArray<{ item: DeliveryItem; deliveryId: string; eventBatch: EventBatchRef }>;
  /** A batched webhook's batch (its items in `data.deliveries`); null: one item, sent as `data`. */
  batch: EventBatchRef | null;
}

export function buildRequest(r: RequestParts): DeliveryRequest {
  const first = r.items[0]!;
  const now = new Date();
  let data: unknown;
  let deliveryId: string;
  let eventBatch: EventBatchRef;
  if (r.batch !== null) {
    deliveryId = randomUUID();
    eventBatch = r.batch;
    data = { deliveries: r.items.map((p) => p.item) };
  } else {
    deliveryId = first.deliveryId;
    eventBatch = first.eventBatch;
    data = { ...first.item, delivery_id: deliveryId };
  }
  // Single deliveries carry a whole-second timestamp, batched ones milliseconds (protocol.md 4).
  const timestamp = r.batch !== null ? now.toISOString() : now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const body = JSON.stringify({ data, timestamp });
  const headers: Record<string, string> = {
    accept: 'application/json',
    'content-type': 'application/json; charset=utf-8',
    'x-sg-webhook-id': r.webhookId,
    'x-sg-delivery-id': deliveryId,
    'x-sg-event-batch-id': eventBatch.id,
    'x-sg-event-batch-size': String(eventBatch.size),
    'x-sg-event-batch-index': String(eventBatch.index),
    'x-sg-webhook-site-url': r.siteUrl,
  };
  if (r.spec.secret !== undefined) {
    headers['x-sg-signature'] = `sha1=${createHmac('sha1', r.spec.secret.reveal()).update(body, 'utf8').digest('hex')}`;
  }
  return { deliveryId, body, headers };
}
