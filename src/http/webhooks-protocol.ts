// The messages between the webhook receiver (main thread) and its listener
// thread. Each is an object tagged by `type`, parsed on receipt with zod: a
// thread boundary is a wire boundary.
import { z } from 'zod';

/** How one request to the receiver ended (the label of `sgeventd_webhook_deliveries_total`). */
export const webhookResults = ['accepted', 'malformed', 'unsigned', 'bad_signature', 'too_large'] as const;
export type WebhookResult = (typeof webhookResults)[number];

/** What the listener thread is started with (`workerData`). The secrets are revealed values: they stay in memory. */
export const listenerConfigSchema = z.object({
  host: z.string(),
  port: z.number().int().min(0).max(65_535),
  path: z.string(),
  secrets: z.array(z.string()),
  logLevel: z.string(),
});
export type ListenerConfig = z.infer<typeof listenerConfigSchema>;

/** Main → listener: stop listening, end open connections, then exit. */
export interface CloseMessage { type: 'close' }
export const toListenerSchema = z.object({ type: z.literal('close') });
export type ToListener = CloseMessage;

/** The listener is bound: `url` as bound (the real port when 0 was asked). */
export interface ListeningMessage { type: 'listening'; url: string }
/** The listener could not bind (`WEBHOOK_LISTEN_FAILED`): the address is taken or not ours. */
export interface ListenFailedMessage { type: 'listen-failed'; message: string; errno: string | null }
/** A correctly signed delivery, already answered 200: the log has reached at least `atLeastId`. */
export interface DeliveryMessage { type: 'delivery'; atLeastId: number; events: number; deliveryId: string | null; batched: boolean }
/** One request to the path, by result (counted for /metrics and the status page). */
export interface ResultMessage { type: 'result'; result: WebhookResult }
/** One log line of the listener, as pino wrote it (JSON), re-logged by the main thread's logger. */
export interface LogMessage { type: 'log'; line: string }
/** The listener closed; the thread ends next. */
export interface ClosedMessage { type: 'closed' }

export const fromListenerSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('listening'), url: z.string() }),
  z.object({ type: z.literal('listen-failed'), message: z.string(), errno: z.string().nullable() }),
  z.object({
    type: z.literal('delivery'), atLeastId: z.number().int().positive(), events: z.number().int().positive(),
    deliveryId: z.string().nullable(), batched: z.boolean(),
  }),
  z.object({ type: z.literal('result'), result: z.enum(webhookResults) }),
  z.object({ type: z.literal('log'), line: z.string() }),
  z.object({ type: z.literal('closed') }),
]);
export type FromListener = ListeningMessage | ListenFailedMessage | DeliveryMessage | ResultMessage | LogMessage | ClosedMessage;
