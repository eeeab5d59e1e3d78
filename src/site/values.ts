/**
 * Wire values ⇄ SQLite column values, per field data type, and the checks a write
 * goes through (a wrong value type is a 103 fault, never a crash). Encodings follow
 * protocol.md 1.7: date_time "YYYY-MM-DDTHH:MM:SSZ" (UTC, no fractions), date
 * "YYYY-MM-DD", links `{type, id, name}`.
 */
import type { FieldDef } from './schema.ts';
import { clientFault } from './faults.ts';

export interface LinkRef {
  type: string;
  id: number;
}

export type SqlValue = string | number | bigint | null;

const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

function bad(f: FieldDef, value: unknown, expected: string): never {
  throw clientFault('SITE_INVALID_VALUE', `${f.entityType}.${f.name} expects ${expected}`, {
    entityType: f.entityType, field: f.name, dataType: f.dataType, received: value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value,
  });
}

/** Formats a Date as the wire's date_time string. */
export function formatDateTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Parses a wire date_time (any ISO 8601 form Date accepts) to the canonical string, or undefined. */
export function normalizeDateTime(v: unknown): string | undefined {
  if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(v)) return undefined;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : formatDateTime(d);
}

export function isDate(v: unknown): v is string {
  return typeof v === 'string' && DATE_RE.test(v) && !Number.isNaN(new Date(`${v}T00:00:00Z`).getTime());
}

/** A link as written by a client; `name` and other keys are ignored (protocol.md 1.6). */
export function parseLink(f: FieldDef, v: unknown): LinkRef {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(f, v, 'an entity hash {type, id}');
  const o = v as Record<string, unknown>;
  if (typeof o.type !== 'string' || typeof o.id !== 'number' || !Number.isInteger(o.id)) bad(f, v, 'an entity hash {type, id}');
  if (f.validTypes.length > 0 && !f.validTypes.includes(o.type)) {
    throw clientFault('SITE_INVALID_LINK_TYPE', `${f.entityType}.${f.name} cannot link to ${o.type}`, {
      entityType: f.entityType, field: f.name, linkType: o.type, validTypes: f.validTypes,
    });
  }
  return { type: o.type, id: o.id };
}

/** Checks a scalar value for a write and encodes it for its column. */
export function encodeScalar(f: FieldDef, v: unknown): SqlValue {
  switch (f.dataType) {
    case 'text': case 'uuid': case 'image': case 'password':
      if (v === null) return null;
      if (typeof v !== 'string') bad(f, v, 'a string');
      return v;
    case 'list': case 'status_list':
      if (v === null) return null;
      if (typeof v !== 'string') bad(f, v, 'a string');
      if (f.validValues !== undefined && !f.validValues.includes(v)) {
        throw clientFault('SITE_INVALID_LIST_VALUE', `${f.entityType}.${f.name} does not allow this value`, { entityType: f.entityType, field: f.name, value: v, validValues: f.validValues });
      }
      return v;
    case 'number': case 'duration':
      if (v === null) return null;
      if (typeof v !== 'number' || !Number.isInteger(v)) bad(f, v, 'an integer');
      return v;
    case 'float':
      if (v === null) return null;
      if (typeof v !== 'number' || !Number.isFinite(v)) bad(f, v, 'a number');
      return v;
    case 'checkbox':
      if (typeof v !== 'boolean') bad(f, v, 'true or false');
      return v ? 1 : 0;
    case 'date':
      if (v === null) return null;
      if (!isDate(v)) bad(f, v, 'a date "YYYY-MM-DD"');
      return v;
    case 'date_time': {
      if (v === null) return null;
      const s = normalizeDateTime(v);
      if (s === undefined) bad(f, v, 'a date_time "YYYY-MM-DDTHH:MM:SSZ"');
      return s;
    }
    case 'url':
      if (v === null) return null;
      if (typeof v !== 'object' || Array.isArray(v)) bad(f, v, 'a url hash {url|local_path, name, ...}');
      return JSON.stringify(v);
    case 'serializable':
      if (v === null || v === undefined) return null;
      return JSON.stringify(v);
    case 'tag_list':
      if (v === null) return '[]';
      if (!Array.isArray(v) || !v.every((t) => typeof t === 'string')) bad(f, v, 'a list of tag names');
      return JSON.stringify(v);
    case 'entity': case 'multi_entity':
      return bad(f, v, 'a link (not a scalar)');
  }
}

/** Turns a column value back into its wire value. */
export function decodeScalar(f: FieldDef, v: unknown): unknown {
  switch (f.dataType) {
    case 'checkbox': return v === 1 || v === 1n;
    case 'url': case 'serializable': return typeof v === 'string' ? JSON.parse(v) as unknown : null;
    case 'tag_list': return typeof v === 'string' ? JSON.parse(v) as unknown : [];
    case 'number': case 'duration': return typeof v === 'bigint' ? Number(v) : (v ?? null);
    // A password is never read back (a real site answers null).
    case 'password': return null;
    default: return v ?? null;
  }
}

/** SQLite column type of a scalar data type. */
export function columnType(f: FieldDef): string {
  switch (f.dataType) {
    case 'number': case 'duration': case 'checkbox': return 'INTEGER';
    case 'float': return 'REAL';
    default: return 'TEXT';
  }
}
