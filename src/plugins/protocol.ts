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
  site: z.string(),
  useSessionUuid: z.boolean(),
  logLevel: z.string(),
});
export type WorkerConfig = z.infer<typeof workerConfigSchema>;

const event = z.looseObject({ id: z.number().int(), event_type: z.string() });

/** Host → worker. */
export const toWorkerSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('load') }),
  z.object({
    type: z.literal('process'),
    seq: z.number().int(),
    event,
    attempt: z.number().int().min(1),
    replay: z.boolean(),
    /** Index of the first callback to consider (callbacks before it already ran). */
    fromIndex: z.number().int().min(0),
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
  z.object({ type: z.literal('loaded'), callbacks: z.array(callbackInfo), emails: z.union([z.boolean(), z.array(z.string())]) }),
  z.object({ type: z.literal('load-failed'), error: serializedError }),
  z.object({ type: z.literal('callback-start'), seq: z.number().int(), index: z.number().int(), callback: z.string() }),
  z.object({
    type: z.literal('callback-end'),
    seq: z.number().int(),
    index: z.number().int(),
    callback: z.string(),
    startedAt: z.date(),
    durationMs: z.number(),
    error: serializedError.optional(),
  }),
  z.object({ type: z.literal('processed'), seq: z.number().int() }),
  z.object({ type: z.literal('log'), level: logLevel, bindings: z.record(z.string(), z.unknown()), obj: z.unknown().optional(), msg: z.string().optional() }),
  z.object({ type: z.literal('request'), id: z.number().int(), method: z.string(), params: z.unknown() }),
]);
export type FromWorker = z.infer<typeof fromWorkerSchema>;
export type CallbackInfoMessage = z.infer<typeof callbackInfo>;
