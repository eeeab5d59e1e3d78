import { request } from 'undici';
import type { DaemonConfig } from '../config/index.ts';
import { statusDocumentSchema, type StatusDocument } from '../http/index.ts';
import { SgeventdError } from '../shared/index.ts';
import { runningPid } from './pidfile.ts';
import { runningUrl } from './status-server.ts';

/** The running daemon's status server, or null when no daemon (or no status server) runs. */
export function daemonUrl(config: DaemonConfig): string | null {
  if (runningPid(config.daemon.pidFile) === null) return null;
  return runningUrl(config);
}

function headers(config: DaemonConfig, extra: Record<string, string> = {}): Record<string, string> {
  const token = config.http.token;
  return { ...extra, ...(token && !token.isEmpty ? { authorization: `Bearer ${token.reveal()}` } : {}) };
}

/** GET /api/status of the running daemon. */
export async function fetchStatus(config: DaemonConfig, url: string): Promise<StatusDocument> {
  const res = await request(`${url}/api/status`, { headers: headers(config), headersTimeout: 10_000, bodyTimeout: 10_000 });
  const body = await res.body.text();
  if (res.statusCode !== 200) throw new SgeventdError('DAEMON_API_FAILED', `${url}/api/status answered ${res.statusCode}`, { details: { status: res.statusCode } });
  return statusDocumentSchema.parse(JSON.parse(body));
}

/** POST /api/toolkit/recycle on the running daemon. */
export async function requestRecycle(config: DaemonConfig, url: string, project?: string): Promise<number> {
  const q = project === undefined ? '' : `?project=${encodeURIComponent(project)}`;
  const res = await request(`${url}/api/toolkit/recycle${q}`, {
    method: 'POST',
    headers: headers(config, { 'x-sgeventd-action': 'recycle' }),
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
  });
  const body = JSON.parse(await res.body.text()) as { recycled?: unknown; code?: unknown; error?: unknown };
  if (res.statusCode === 404 && typeof body.code === 'string' && typeof body.error === 'string') {
    throw new SgeventdError(body.code, body.error, { details: { project } });
  }
  if (res.statusCode !== 200 || typeof body.recycled !== 'number') {
    throw new SgeventdError('DAEMON_API_FAILED', `recycle answered ${res.statusCode} (${typeof body.code === 'string' ? body.code : 'no code'})`, { details: { status: res.statusCode } });
  }
  return body.recycled;
}

/** POST /api/plugins/reload on the running daemon; returns the names reloaded. */
export async function requestReload(config: DaemonConfig, url: string, plugin?: string): Promise<string[]> {
  const q = plugin === undefined ? '' : `?plugin=${encodeURIComponent(plugin)}`;
  const res = await request(`${url}/api/plugins/reload${q}`, {
    method: 'POST',
    headers: headers(config, { 'x-sgeventd-action': 'reload' }),
    headersTimeout: 120_000,
    bodyTimeout: 120_000,
  });
  const body = JSON.parse(await res.body.text()) as { reloaded?: unknown; code?: unknown; error?: unknown };
  if (res.statusCode === 404 && typeof body.code === 'string' && typeof body.error === 'string') {
    throw new SgeventdError(body.code, body.error, { details: { plugin } });
  }
  if (res.statusCode !== 200 || !Array.isArray(body.reloaded)) {
    throw new SgeventdError('DAEMON_API_FAILED', `reload answered ${res.statusCode} (${typeof body.code === 'string' ? body.code : 'no code'})`, { details: { status: res.statusCode } });
  }
  return body.reloaded.map(String);
}

export function noDaemon(config: DaemonConfig): SgeventdError {
  return new SgeventdError('DAEMON_NOT_RUNNING', `no running sgeventd with a status server for ${config.source} (pid file ${config.daemon.pidFile})`);
}
