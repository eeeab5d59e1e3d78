// The messages between a PluginHost (main thread) and its worker thread.
// Every message is an object tagged by `type` and is parsed on receipt;
// anything else is a protocol fault. Structured clone carries them, so Dates
// inside events arrive as Dates.
import { z } from 'zod';

const serializedError = z.object({
  name: z.string(),
  message: z.string(),
  code: z.string(),
  stack: z.string().optional(),
  details: z.record(z.string(), z.unknown()).optional(),
});

const matchEvents = z.record(z.string(), z.union([z.array(z.string()), z.string(), z.null()])).nullable();

const logLevel = z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);

/** What the worker is started with (`workerData`). */
export const workerConfigSchema = z.object({
  file: z.string(),
  plugin: z.string(),
  siteUrl: z.string(),
  /** `site.proxy`: every `sg` of the plugin goes through it. */
  proxy: z.string().optional(),
  /** `site.timeoutMs`: what each `sg` request waits for the site at most. */
  siteTimeoutMs: z.number().int().positive().optional(),
  site: z.string(),
  useSessionUuid: z.boolean(),
  logLevel: z.string(),
});
export type WorkerConfig = z.infer<typeof workerConfigSchema>;

/** The cheap shape check of events in a batch (the host checked them already). */
export function isEventShape(v: unknown): v is { id: number; event_type: string } {
  return typeof v === 'object' && v !== null && Number.isInteger((v as { id?: unknown }).id) && typeof (v as { event_type?: unknown }).event_type === 'string';
}

/** Host → worker. */
export const toWorkerSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('load') }),
  /**
   * Several events, run one after the other. The worker stops after the first
   * event with a failing callback (or once `budgetMs` has passed) and reports
   * `batch-done`; what ran is written to `progress` (see BatchProgress).
   */
  z.object({
    type: z.literal('batch'),
    seq: z.number().int(),
    events: z.array(z.custom<{ id: number; event_type: string }>(isEventShape, 'an event with a numeric id and an event_type')).min(1),
    attempt: z.number().int().min(1),
    replay: z.boolean(),
    /** Index of the first callback to consider for the first event (callbacks before it already ran). */
    fromIndex: z.number().int().min(0),
    budgetMs: z.number().positive(),
    progress: z.instanceof(SharedArrayBuffer),
  }),
  /** The answer to a worker's `request`: `result` when ok, else `error`. */
  z.object({ type: z.literal('response'), id: z.number().int(), ok: z.boolean(), result: z.unknown().optional(), error: serializedError.optional() }),
  z.object({ type: z.literal('shutdown') }),
]);
export type ToWorker = z.infer<typeof toWorkerSchema>;

const callbackInfo = z.object({
  index: z.number().int(),
  name: z.string(),
  scriptName: z.string(),
  matchEvents,
  stopOnError: z.boolean(),
  args: z.unknown().optional(),
});

/** Worker → host. */
export const fromWorkerSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('loaded'), callbacks: z.array(callbackInfo), emails: z.union([z.boolean(), z.array(z.string())]),
    /** What the file declared with `reg.setConcurrency`. */
    concurrency: z.object({ by: z.enum(['none', 'project', 'entity']), max: z.number().int().min(1) }).optional(),
  }),
  z.object({ type: z.literal('load-failed'), error: serializedError }),
  /** A callback of a batch failed; its timing is in the batch's progress buffer. */
  z.object({ type: z.literal('batch-error'), seq: z.number().int(), event: z.number().int(), index: z.number().int(), error: serializedError }),
  /** The batch ended: `events` events ran to their end (the rest were not started). */
  z.object({ type: z.literal('batch-done'), seq: z.number().int(), events: z.number().int().min(0) }),
  z.object({ type: z.literal('log'), level: logLevel, bindings: z.record(z.string(), z.unknown()), obj: z.unknown().optional(), msg: z.string().optional() }),
  /** A request of the callback running in batch `seq` (absent: outside a batch); its wait before it starts does not count against that callback's timeout. */
  z.object({ type: z.literal('request'), id: z.number().int(), method: z.string(), params: z.unknown(), seq: z.number().int().optional() }),
]);
export type FromWorker = z.infer<typeof fromWorkerSchema>;
export type CallbackInfoMessage = z.infer<typeof callbackInfo>;
