import { z } from 'zod';
import type { Secret } from '../shared/secret.ts';

/** What `init` carries. The script key is a Secret until the moment it is written to the pipe. */
export interface InitParams {
  /** `proxy`: the site's proxy (`site.proxy`, as shotgun_api3 takes it), `timeoutMs`: `site.timeoutMs`; both for the runtime's own connections and tk-core's. */
  site: { url: string; scriptName: string; scriptKey: Secret; proxy?: string | undefined; timeoutMs?: number | undefined } | null;
  /** bootstrap: a short-lived process on toolkit.bootstrapCore that only prepares distributed configurations. */
  mode: 'centralized' | 'shared-core' | 'swap' | 'distributed' | 'bootstrap' | 'plugin';
  configPath?: string | undefined;
  corePython?: string | undefined;
  pythonPath: readonly string[];
  syncPathCache: boolean;
  engine?: string | undefined;
}

/** `init` as written to the pipe: the only place the script key is revealed. */
export function revealInit(p: InitParams): Record<string, unknown> {
  return {
    ...p,
    site: p.site ? { url: p.site.url, scriptName: p.site.scriptName, scriptKey: p.site.scriptKey.reveal(), proxy: p.site.proxy ?? null, timeoutMs: p.site.timeoutMs ?? null } : null,
  };
}

/** What a runtime reports after init (and in `info`). */
export const InitResultSchema = z.object({
  pid: z.number(),
  python: z.string(),
  mode: z.string(),
  coreVersion: z.string().nullable().optional(),
  sgtkVersion: z.string().nullable().optional(),
  corePath: z.string().optional(),
  corePython: z.string().nullable().optional(),
  shotgunApi3: z.string().nullable().optional(),
});
export type InitResult = z.infer<typeof InitResultSchema>;

export const InfoSchema = InitResultSchema.extend({
  configPath: z.string().nullable().optional(),
  configs: z.array(z.string()),
  rssKb: z.number().nullable(),
});
export type RuntimeInfo = z.infer<typeof InfoSchema>;

const ErrorBody = z.object({
  code: z.string(),
  type: z.string(),
  message: z.string(),
  traceback: z.string(),
});

/** One line from the runtime: a result or an error, tagged by which key is present. */
export const ResponseSchema = z.union([
  z.object({ id: z.number(), error: ErrorBody }),
  z.object({ id: z.number().nullable(), error: ErrorBody }),
  z.object({ id: z.number(), result: z.unknown(), rss: z.number().nullable().optional() }),
]);
export type Response = z.infer<typeof ResponseSchema>;

/** A step of a long call, before its result (a batch of plugin events: one per event). */
export const ProgressSchema = z.object({ id: z.number(), progress: z.unknown() });

export const PreparedSchema = z.object({
  configPath: z.string(),
  corePython: z.string(),
  descriptor: z.string().nullable(),
});
export type Prepared = z.infer<typeof PreparedSchema>;

export type CallTarget = 'tk' | 'sgtk' | 'engine' | 'context';
