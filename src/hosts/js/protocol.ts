// The messages between a PluginHost (main thread) and its worker thread.
// Every message is an object tagged by `type` and is checked on receipt;
// anything else is a protocol fault. Structured clone carries them, so Dates
// inside events arrive as Dates. Thread → host messages are parsed here with
// zod, on the main thread; host → thread ones are in to-worker.ts, checked
// without zod, so plugin threads never load it.
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

export { isEventShape } from './to-worker.ts';
export type { ToWorker, WorkerConfig } from './to-worker.ts';

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
  /** The answer to `collect`: the heap and external memory in bytes after a full GC. */
  z.object({ type: z.literal('collected'), heapBytes: z.number().min(0), externalBytes: z.number().min(0) }),
]);
export type FromWorker = z.infer<typeof fromWorkerSchema>;
export type CallbackInfoMessage = z.infer<typeof callbackInfo>;
