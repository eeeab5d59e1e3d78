import type { z } from 'zod';
import type { ConfigIssue } from './errors.ts';
import { rawConfigSchema } from './schema.ts';

/**
 * The optional `[sgeventd]` section of a shotgunEventDaemon.conf: native keys
 * that shotgunEvents has no word for (the status server, the state file,
 * concurrency...), written as their dotted native paths. ConfigParser lower-cases
 * keys, so `http.port`, `daemon.callbackTimeoutMs` and `daemon.callbacktimeoutms`
 * are the same key; each is matched case-insensitively against the native
 * schema. shotgunEvents itself ignores sections it does not know, so one file
 * still serves both daemons.
 */
export const NATIVE_SECTION = 'sgeventd';

/** A place in the native config: the section and the path below it. */
export interface NativeKey {
  path: string[];
  /** How a list is written: comma-separated. */
  list: boolean;
}

type AnySchema = z.core.$ZodType;

/** Unwraps defaults, optionals, prefaults, preprocess and transform pipes down to the schema that shapes the value. */
function unwrap(schema: AnySchema): AnySchema {
  let s = schema;
  for (;;) {
    const def = s._zod.def as unknown as { type: string; innerType?: AnySchema; in?: AnySchema; out?: AnySchema };
    if ((def.type === 'default' || def.type === 'optional' || def.type === 'prefault' || def.type === 'nullable') && def.innerType !== undefined) s = def.innerType;
    else if (def.type === 'pipe' && def.in !== undefined && def.out !== undefined) {
      // preprocess: in is a transform, out the real schema; transform: in is the real schema.
      const inType = (def.in._zod.def as unknown as { type: string }).type;
      s = inType === 'transform' ? def.out : def.in;
    } else return s;
  }
}

/** Resolves `section.key[.key]` (any case) to the native path, or explains why not. */
export function resolveNativeKey(iniKey: string): NativeKey | string {
  const parts = iniKey.split('.');
  let schema: AnySchema = rawConfigSchema;
  const path: string[] = [];
  for (const part of parts) {
    const obj = unwrap(schema);
    const def = obj._zod.def as unknown as { type: string; shape?: Record<string, AnySchema> };
    if (def.type !== 'object' || def.shape === undefined) return `${path.join('.')} has no keys below it`;
    const name = Object.keys(def.shape).find((k) => k.toLowerCase() === part.toLowerCase());
    if (name === undefined) return `${[...path, part].join('.')} is not a native key (known here: ${Object.keys(def.shape).join(', ')})`;
    path.push(name);
    schema = def.shape[name]!;
  }
  const leaf = unwrap(schema);
  const type = (leaf._zod.def as unknown as { type: string }).type;
  if (path[0] === 'plugins') return 'plugins come from [plugins] paths';
  if (type === 'object' || type === 'record' || type === 'union') return `${path.join('.')} is a mapping: write it in sgeventd.yaml`;
  if (type === 'array') {
    const element = unwrap((leaf._zod.def as unknown as { element: AnySchema }).element);
    const et = (element._zod.def as unknown as { type: string }).type;
    if (et !== 'string') return `${path.join('.')} is a list of mappings: write it in sgeventd.yaml`;
    return { path, list: true };
  }
  return { path, list: false };
}

/**
 * Lays the `[sgeventd]` keys over the native config built from the other
 * sections. A key that a shotgunEvents key already sets is an error (one place
 * for each setting), as is a key that is not native.
 */
export function applyNativeSection(
  raw: Record<string, Record<string, unknown>>,
  section: Record<string, string> | undefined,
  issues: ConfigIssue[],
  keyNames: Map<string, string>,
): void {
  if (section === undefined) return;
  for (const [iniKey, value] of Object.entries(section)) {
    const label = `[${NATIVE_SECTION}] ${iniKey}`;
    const key = resolveNativeKey(iniKey);
    if (typeof key === 'string') {
      issues.push({ key: label, message: `${label}: ${key}`, expected: 'a native key such as http.port or daemon.callbackTimeoutMs' });
      continue;
    }
    const dotted = key.path.join('.');
    let target = raw as Record<string, unknown>;
    for (const p of key.path.slice(0, -1)) {
      const next = target[p];
      if (next === undefined || typeof next !== 'object' || next === null || Array.isArray(next)) target[p] = {};
      target = target[p] as Record<string, unknown>;
    }
    const leafName = key.path[key.path.length - 1]!;
    if (target[leafName] !== undefined && keyNames.has(dotted)) {
      issues.push({ key: label, message: `${label} sets ${dotted}, which ${keyNames.get(dotted)!} already sets: keep one of them` });
      continue;
    }
    target[leafName] = key.list ? value.split(',').map((s) => s.trim()).filter((s) => s !== '') : value;
    keyNames.set(dotted, label);
  }
}
