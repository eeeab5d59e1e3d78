import { ShotgunClientError } from './errors.ts';
import { InfoBody, parseWire } from './wire.ts';
import type { ServerInfo } from './types.ts';

export type Version = readonly [number, number, number];

/** What the client knows of the site after `info` (shotgun.py ServerCapabilities). */
export interface ServerCaps {
  info: ServerInfo;
  version: Version;
  /** shotgun.py _Config.records_per_page: api_max_entities_per_page or 500. */
  recordsPerPage: number;
}

export function atLeast(v: Version, min: Version): boolean {
  for (let i = 0; i < 3; i++) {
    if (v[i]! !== min[i]!) return v[i]! > min[i]!;
  }
  return true;
}

/** Refuses a feature the site is too old for (shotgun.py _ensure_support, raise_hell=True). */
export function ensureSupport(caps: ServerCaps, min: Version, label: string): void {
  if (!atLeast(caps.version, min)) {
    throw new ShotgunClientError('SG_UNSUPPORTED_BY_SERVER', `${label} requires server version ${min.join('.')} or higher`, {
      version: caps.version,
      required: min,
    });
  }
}

/** The capabilities from an `info` answer; refuses a site without a version or older than 2.4.0. */
export function serverCaps(raw: unknown): ServerCaps {
  const body = parseWire(InfoBody, raw, 'info');
  const info = body as ServerInfo;
  const version = body.version.slice(0, 3) as unknown as Version;
  // shotgun.py ServerCapabilities._ensure_json_supported.
  if (!atLeast(version, [2, 4, 0])) {
    throw new ShotgunClientError('SG_UNSUPPORTED_BY_SERVER', 'the JSON API needs server version 2.4.0 or later', {
      version,
    });
  }
  const per = info.api_max_entities_per_page;
  const recordsPerPage = typeof per === 'number' && Number.isInteger(per) && per > 0 ? per : 500;
  return { info, version, recordsPerPage };
}
