import type { z } from 'zod';
import type { ConfigIssue } from './errors.ts';
import { isSecretPath } from './schema.ts';

/** Turns zod issues into sentences: `toolkit.maxRuntimes must be a positive integer, got -1`. */
export function issuesFromZod(error: z.ZodError, schema: z.ZodType, rename: (key: string) => string = (k) => k): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of error.issues) {
    const path = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(schema, path);
      for (const k of issue.keys) {
        const key = rename([...path, k].join('.'));
        const suggestion = closest(k, known);
        const hint = suggestion === undefined ? (known.length > 0 ? ` (known keys: ${known.join(', ')})` : '') : ` (did you mean ${suggestion}?)`;
        out.push({ key, message: `${key} is not a known key${hint}`, ...(suggestion === undefined ? {} : { suggestion }) });
      }
      continue;
    }
    const key = rename(path.join('.'));
    const secret = isSecretPath(path.join('.'));
    const input = (issue as { input?: unknown }).input;
    const expected = issue.message.startsWith('Invalid input') || issue.message.startsWith('Invalid option') ? genericExpected(issue) : issue.message;
    const got = input === undefined ? 'nothing' : secret ? 'a value (hidden: secret)' : render(input);
    out.push({ key: key || '(root)', message: `${key || 'the config'} must be ${expected}, got ${got}`, expected, ...(secret || input === undefined ? {} : { value: input }) });
  }
  return out;
}

function genericExpected(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') return `a ${issue.expected}`;
  if (issue.code === 'invalid_value') return `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  return issue.message;
}

export function render(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null) return 'null';
  if (typeof value === 'object') {
    const s = JSON.stringify(value);
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return `a ${typeof value}`;
}

interface ZodDefLike {
  type?: string;
  shape?: Record<string, unknown>;
  innerType?: unknown;
  /** A pipe (a section with a transform) reads its keys on the way in. */
  in?: unknown;
  element?: unknown;
  valueType?: unknown;
  options?: unknown[];
}

function defOf(schema: unknown): ZodDefLike {
  return ((schema as { _zod?: { def?: ZodDefLike } })._zod?.def) ?? {};
}

/** The keys an object schema at `path` accepts (walks wrappers, arrays, records and unions). */
function knownKeysAt(schema: unknown, path: readonly string[]): string[] {
  let nodes: unknown[] = [schema];
  const unwrap = (n: unknown): unknown[] => {
    const d = defOf(n);
    if (d.innerType !== undefined) return unwrap(d.innerType);
    if (d.type === 'pipe' && d.in !== undefined) return unwrap(d.in);
    if (d.type === 'union' && d.options) return d.options.flatMap(unwrap);
    return [n];
  };
  for (const segment of path) {
    const next: unknown[] = [];
    for (const n of nodes.flatMap(unwrap)) {
      const d = defOf(n);
      if (d.type === 'object' && d.shape && segment in d.shape) next.push(d.shape[segment]);
      else if (d.type === 'array' && d.element !== undefined) next.push(d.element);
      else if (d.type === 'record' && d.valueType !== undefined) next.push(d.valueType);
    }
    nodes = next;
  }
  const keys = new Set<string>();
  for (const n of nodes.flatMap(unwrap)) {
    const d = defOf(n);
    if (d.type === 'object' && d.shape) for (const k of Object.keys(d.shape)) keys.add(k);
  }
  return [...keys];
}

/** The known key closest to `word` (case-insensitive edit distance at most 2, or a case-only difference). */
export function closest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = distance(word.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.min(2, Math.max(1, Math.floor(word.length / 3))) ? best : undefined;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}
