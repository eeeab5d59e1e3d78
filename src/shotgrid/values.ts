import { ShotgunClientError } from './errors.ts';

// The only date_time shape parsed on the way back: exactly 20 characters,
// YYYY-MM-DDTHH:MM:SSZ, no fractional seconds (shotgun.py
// _transform_inbound: len == 20, _DATE_TIME_PATTERN, then strptime
// "%Y-%m-%dT%H:%M:%SZ").

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/**
 * A `Date` as the site's date_time wire form, `YYYY-MM-DDTHH:MM:SSZ` in UTC,
 * sub-seconds dropped (shotgun.py _outbound_visitor, strftime "%Y-%m-%dT%H:%M:%SZ").
 */
export function formatDateTime(d: Date): string {
  const t = d.getTime();
  if (Number.isNaN(t)) throw new ShotgunClientError('SG_INVALID_ARGUMENT', 'invalid Date value');
  return (
    `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}` +
    `T${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}Z`
  );
}

/** The wire date_time string as a `Date`, or undefined when it is not one. */
export function parseDateTime(s: string): Date | undefined {
  // The pattern, checked by character code: a catch-up decodes thousands a second.
  if (s.length !== 20 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 84
    || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58 || s.charCodeAt(19) !== 90) return undefined;
  const y = digits(s, 0, 4);
  const mo = digits(s, 5, 2);
  const d = digits(s, 8, 2);
  const h = digits(s, 11, 2);
  const mi = digits(s, 14, 2);
  const se = digits(s, 17, 2);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 59) return undefined;
  // strptime refuses year 0 and days past the month's end (2023-02-30); the
  // string then stays a string.
  if (y < 1) return undefined;
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, se, 0);
  if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return undefined;
  return date;
}

/** The decimal number in `s[at, at + n)`, or -1 when a character is not a digit. */
function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** A JSON-like object: not an array, not a Date, not null. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

// Walks arrays and plain objects, visiting leaves (shotgun.py _visit_data).
function visit(data: unknown, visitor: (leaf: unknown) => unknown): unknown {
  if (Array.isArray(data)) return data.map((v) => visit(v, visitor));
  if (isPlainObject(data)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(data)) out[k] = visit(v, visitor);
    return out;
  }
  return visitor(data);
}

/**
 * Everything sent: every `Date`, at any depth, becomes the date_time string
 * (shotgun.py _transform_outbound over the whole method params). Date-only
 * fields are sent as the caller's `YYYY-MM-DD` string.
 */
export function transformOutbound(data: unknown): unknown {
  return visit(data, (v) => (v instanceof Date ? formatDateTime(v) : v));
}

/**
 * Everything received: every 20-character date_time string, at any depth,
 * becomes a `Date` (shotgun.py _transform_inbound over the whole response).
 * Date-only strings `YYYY-MM-DD` stay strings. Changes `data` in place (a
 * freshly parsed answer: a page of 500 events is not copied) and returns it.
 */
export function transformInbound(data: unknown): unknown {
  if (typeof data === 'string') return inboundLeaf(data);
  reviveInPlace(data);
  return data;
}

function inboundLeaf(v: string): unknown {
  return v.length === 20 ? (parseDateTime(v) ?? v) : v;
}

function reviveInPlace(data: unknown): void {
  if (typeof data !== 'object' || data === null || data instanceof Date) return;
  if (Array.isArray(data)) {
    for (let i = 0; i < data.length; i++) {
      const v: unknown = data[i];
      if (typeof v === 'string') data[i] = inboundLeaf(v);
      else reviveInPlace(v);
    }
    return;
  }
  const obj = data as Record<string, unknown>;
  for (const k in obj) {
    if (!Object.hasOwn(obj, k)) continue;
    const v = obj[k];
    if (typeof v === 'string') obj[k] = inboundLeaf(v);
    else reviveInPlace(v);
  }
}

/** The `local_path_<os>` key of url fields shotgun.py picks for this OS (ClientCapabilities). */
export function localPathField(platform: NodeJS.Platform = process.platform): string | undefined {
  if (platform === 'darwin') return 'local_path_mac';
  if (platform === 'linux') return 'local_path_linux';
  if (platform === 'win32') return 'local_path_windows';
  return undefined;
}

/**
 * Local fix-ups on records read or written (shotgun.py _parse_records):
 * `&lt;` back to `<` in top-level string fields, and `local_path` + a
 * `file://` url on local file links. Non-dict items (batch `true`) pass.
 * Mutates and returns the list.
 */
export function parseRecords(records: unknown[], pathField = localPathField()): unknown[] {
  for (const rec of records) {
    if (!isPlainObject(rec)) continue;
    for (const k in rec) {
      const v = rec[k];
      if (!v || !Object.hasOwn(rec, k)) continue;
      if (typeof v === 'string') {
        if (v.includes('&lt;')) rec[k] = v.replaceAll('&lt;', '<');
      } else if (isPlainObject(v) && v['link_type'] === 'local' && pathField !== undefined && pathField in v) {
        const localPath = v[pathField];
        v['local_path'] = localPath;
        v['url'] = `file://${typeof localPath === 'string' ? localPath : ''}`;
      }
    }
  }
  return records;
}
