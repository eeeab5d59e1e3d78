// What the Python plugin runner answers (plugin_load, each step of
// plugin_process_batch), parsed into the host contract's types, and how its
// load failures are coded.
import { z } from 'zod';
import { concurrencySchema, type ConcurrencyOption } from '../../config/index.ts';
import type { SerializedError } from '../../plugins/errors.ts';
import { SgeventdError } from '../../shared/index.ts';
import type { ProcessResult } from '../contract.ts';

const SerializedErrorSchema = z.object({ name: z.string(), message: z.string(), stack: z.string().optional(), code: z.string().nullish() });
const ResultSchema = z.object({
  callback: z.string(), index: z.number(), startedAt: z.number(), durationMs: z.number(), error: SerializedErrorSchema.optional(),
});
const FailureSchema = z.object({ callback: z.string(), error: SerializedErrorSchema });
const ProcessSchema = z.discriminatedUnion('outcome', [
  z.object({ outcome: z.literal('ok'), results: z.array(ResultSchema), failures: z.array(FailureSchema) }),
  z.object({ outcome: z.literal('deactivate'), callback: z.string(), error: SerializedErrorSchema, results: z.array(ResultSchema), failures: z.array(FailureSchema) }),
]);
export const LoadSchema = z.object({
  callbacks: z.array(z.object({ index: z.number(), name: z.string(), scriptName: z.string(), matchEvents: z.unknown(), stopOnError: z.boolean() })),
  emails: z.union([z.boolean(), z.array(z.string())]),
  usesToolkit: z.boolean(),
  shotgunApi3Error: z.string().nullable(),
  /** The module's SGEVENTD_CONCURRENCY, checked below (absent in project runtimes). */
  concurrency: z.unknown().optional(),
});

/** A load failure the plugin's module caused, reported as the load's result. */
export class PluginLoadFault extends SgeventdError {}

/** The module's `SGEVENTD_CONCURRENCY`, checked like the config's `concurrency`. */
export function declaredConcurrency(plugin: string, raw: unknown): ConcurrencyOption | undefined {
  if (raw === undefined || raw === null) return undefined;
  const parsed = concurrencySchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  throw new PluginLoadFault('PLUGIN_BAD_CONCURRENCY',
    `plugin ${plugin}: SGEVENTD_CONCURRENCY must be a dict {"by": "none" | "project" | "entity", "max": a positive integer}, got ${JSON.stringify(raw)}`,
    { details: { plugin, got: raw } });
}

function toSerialized(e: z.infer<typeof SerializedErrorSchema>, fallback: string): SerializedError {
  return { name: e.name, message: e.message, ...(e.stack ? { stack: e.stack } : {}), code: e.code ?? fallback };
}

/** One finished event as the runner reports it, or null when it has another shape. */
export function parseStep(raw: unknown): ProcessResult | null {
  const parsed = ProcessSchema.safeParse(raw);
  if (!parsed.success) return null;
  const r = parsed.data;
  const results = r.results.map((x) => ({
    callback: x.callback, index: x.index, startedAt: new Date(x.startedAt), durationMs: x.durationMs,
    ...(x.error ? { error: toSerialized(x.error, 'PLUGIN_CALLBACK_ERROR') } : {}),
  }));
  const failures = r.failures.map((f) => ({ callback: f.callback, error: toSerialized(f.error, 'PLUGIN_CALLBACK_ERROR') }));
  return r.outcome === 'ok'
    ? { outcome: 'ok', results, failures }
    : { outcome: 'deactivate', callback: r.callback, error: toSerialized(r.error, 'PLUGIN_CALLBACK_ERROR'), results, failures };
}

/** The code of a failed load: the plugin's own (PLUGIN_*), a load timeout, else an import failure. */
export function mapLoadCode(err: SgeventdError): string {
  const code = (err.details as { pythonCode?: unknown }).pythonCode;
  if (typeof code === 'string' && code.startsWith('PLUGIN_')) return code;
  if (err.code === 'TK_CALL_TIMEOUT' || err.code === 'TK_INIT_TIMEOUT') return 'PLUGIN_LOAD_TIMEOUT';
  return err.code.startsWith('PLUGIN_') ? err.code : 'PLUGIN_IMPORT_FAILED';
}
