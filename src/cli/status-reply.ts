// `sgeventd status` asks a running daemon for its plugins. Only the fields the
// command prints are read and checked here, by hand: the full status
// document's schema (http/status.ts) needs zod, about as costly to load as
// the rest of the command. A field of the wrong type is DAEMON_API_FAILED
// naming it and what was expected.
import type { DaemonAddress } from '../config/daemon-address.ts';
import { SgeventdError } from '../shared/index.ts';
import { daemonHeaders } from './daemon-contact.ts';

/** One plugin of the daemon's answer, as `status` prints it. */
export interface PluginReply {
  id: string;
  status: string;
  lastEventId: number | null;
  backlog: number;
  lag: number | null;
  processed: number;
  failed: number;
  inFlight: number | null;
  lanesBusy: number | null;
  oldestUnfinished: number | null;
  oldestUnfinishedLag: number | null;
  lastError: string | null;
}

export interface StatusReply {
  newestEventId: number;
  plugins: PluginReply[];
}

type Kind = 'string' | 'number' | 'number|null' | 'string|null';

function field<T>(obj: Record<string, unknown>, key: string, kind: Kind, where: string, optional = false): T {
  const v = obj[key];
  if (v === undefined && optional) return null as T;
  const ok = kind === 'string' ? typeof v === 'string'
    : kind === 'number' ? typeof v === 'number'
    : kind === 'number|null' ? v === null || typeof v === 'number'
    : v === null || typeof v === 'string';
  if (!ok) throw new SgeventdError('DAEMON_API_FAILED', `the daemon's status: ${where}${key} must be ${kind.replace('|', ' or ')}, got ${JSON.stringify(v) ?? 'nothing'}`, { details: { field: `${where}${key}` } });
  return v as T;
}

function record(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new SgeventdError('DAEMON_API_FAILED', `the daemon's status: ${where || 'the answer'} must be an object, got ${JSON.stringify(v)}`, { details: { field: where } });
  return v as Record<string, unknown>;
}

/** Checks the parts of an `/api/status` answer that `status` prints. */
export function readStatusReply(body: unknown): StatusReply {
  const doc = record(body, '');
  const plugins = doc['plugins'];
  if (!Array.isArray(plugins)) throw new SgeventdError('DAEMON_API_FAILED', `the daemon's status: plugins must be a list, got ${JSON.stringify(plugins) ?? 'nothing'}`, { details: { field: 'plugins' } });
  return {
    newestEventId: field(doc, 'newestEventId', 'number', ''),
    plugins: plugins.map((p: unknown, i): PluginReply => {
      const where = `plugins[${i}].`;
      const o = record(p, `plugins[${i}]`);
      return {
        id: field(o, 'id', 'string', where),
        status: field(o, 'status', 'string', where),
        lastEventId: field(o, 'lastEventId', 'number|null', where),
        backlog: field(o, 'backlog', 'number', where),
        lag: field(o, 'lag', 'number|null', where),
        processed: field(o, 'processed', 'number', where),
        failed: field(o, 'failed', 'number', where),
        inFlight: field(o, 'inFlight', 'number', where, true),
        lanesBusy: field(o, 'lanesBusy', 'number', where, true),
        oldestUnfinished: field(o, 'oldestUnfinished', 'number|null', where, true),
        oldestUnfinishedLag: field(o, 'oldestUnfinishedLag', 'number|null', where, true),
        lastError: field(o, 'lastError', 'string|null', where),
      };
    }),
  };
}

/** GET /api/status of the running daemon, read as `status` needs it. */
export async function fetchStatusReply(address: DaemonAddress, url: string): Promise<StatusReply> {
  // Node's own fetch, not undici's package: a command that asks the daemon stays quick to start.
  const res = await fetch(`${url}/api/status`, { headers: daemonHeaders(address), signal: AbortSignal.timeout(10_000) });
  const body = await res.text();
  if (res.status !== 200) throw new SgeventdError('DAEMON_API_FAILED', `${url}/api/status answered ${res.status}`, { details: { status: res.status } });
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new SgeventdError('DAEMON_API_FAILED', `${url}/api/status answered with something other than JSON`, { details: { status: res.status } });
  }
  return readStatusReply(parsed);
}
