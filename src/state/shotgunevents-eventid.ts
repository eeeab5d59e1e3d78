import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { SgeventdError } from '../shared/index.ts';
import type { BacklogEntry } from './types.ts';

const READER = fileURLToPath(new URL('./read_shotgunevents_eventid.py', import.meta.url));

const backlog = z.array(z.tuple([z.number().int(), z.number().int()]));
const output = z.union([
  z.object({ fatal: z.object({ reason: z.enum(['missing', 'empty', 'unreadable', 'unsupported']), message: z.string() }) }),
  z.object({ format: z.literal('int'), lastEventId: z.number().int() }),
  z.object({
    format: z.literal('pickle'),
    collections: z.record(z.string(), z.union([
      z.object({ lastEventId: z.number().int() }),
      z.object({ plugins: z.record(z.string(), z.object({ lastEventId: z.number().int().nullable(), backlog })) }),
    ])),
  }),
]);

export interface LegacyPluginState {
  lastEventId: number | null;
  backlog: BacklogEntry[];
}

/** What shotgunEvents' eventIdFile holds. */
export type LegacyEventIdData =
  /** The old single-integer file: one cursor for every plugin. */
  | { format: 'int'; lastEventId: number }
  | {
      format: 'pickle';
      /** By plugin collection path exactly as written in the conf's `[plugins] paths`. */
      collections: Record<string, { lastEventId: number } | { plugins: Record<string, LegacyPluginState> }>;
    };

/** The event-id file is missing, empty, unreadable or holds something shotgunEvents never wrote. */
export class LegacyStateError extends SgeventdError {
  constructor(code: 'LEGACY_STATE_MISSING' | 'LEGACY_STATE_EMPTY' | 'LEGACY_STATE_UNREADABLE' | 'LEGACY_STATE_UNSUPPORTED' | 'LEGACY_STATE_PYTHON_FAILED', path: string, message: string, options: { cause?: unknown } = {}) {
    super(code, message, { cause: options.cause, details: { path } });
  }
}

/**
 * Reads shotgunEvents' pickled eventIdFile with python3 (standard library, a
 * restricted unpickler: only containers and datetimes). Backlog expiries,
 * written as naive local datetimes, come back as epoch ms in this machine's
 * local time zone (run the migration where the old daemon ran, or set TZ).
 */
export async function readShotgunEventsEventIdFile(path: string, env: Readonly<Record<string, string | undefined>> = process.env): Promise<LegacyEventIdData> {
  const python = env.SGEVENTD_PYTHON ?? 'python3';
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = v;
  const stdout = await new Promise<string>((ok, fail) => {
    execFile(python, [READER, path], { env: childEnv, maxBuffer: 64 * 1024 * 1024, timeout: 60_000 }, (err, out, errOut) => {
      if (err && !(typeof err.code === 'number' && err.code === 2)) {
        fail(new LegacyStateError('LEGACY_STATE_PYTHON_FAILED', path, `could not read ${path} with ${python}: ${err.message}${errOut ? `\n${errOut.trim()}` : ''}`, { cause: err }));
      } else ok(out);
    });
  });
  let parsed: z.output<typeof output>;
  try {
    parsed = output.parse(JSON.parse(stdout));
  } catch (cause) {
    throw new LegacyStateError('LEGACY_STATE_PYTHON_FAILED', path, `the event id reader printed unexpected output for ${path}`, { cause });
  }
  if ('fatal' in parsed) {
    const code = ({ missing: 'LEGACY_STATE_MISSING', empty: 'LEGACY_STATE_EMPTY', unreadable: 'LEGACY_STATE_UNREADABLE', unsupported: 'LEGACY_STATE_UNSUPPORTED' } as const)[parsed.fatal.reason];
    throw new LegacyStateError(code, path, parsed.fatal.message);
  }
  if (parsed.format === 'int') return parsed;
  const collections: Extract<LegacyEventIdData, { format: 'pickle' }>['collections'] = {};
  for (const [key, c] of Object.entries(parsed.collections)) {
    collections[key] = 'plugins' in c
      ? { plugins: Object.fromEntries(Object.entries(c.plugins).map(([name, s]) => [name, { lastEventId: s.lastEventId, backlog: s.backlog.map(([eventId, expiresAt]) => ({ eventId, expiresAt })) }])) }
      : c;
  }
  return { format: 'pickle', collections };
}
