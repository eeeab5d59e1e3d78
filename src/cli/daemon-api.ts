import { loadConfig, type DaemonConfig } from '../config/index.ts';
// Single files, not the folders' index: a command that only reads loads neither the daemon nor the HTTP server.
import { statusDocumentSchema, type StatusDocument } from '../http/status.ts';
import { SgeventdError } from '../shared/index.ts';
import { daemonHeaders as headers, daemonUrl } from './daemon-contact.ts';

export { daemonUrl };

/** GET /api/status of the running daemon. */
export async function fetchStatus(config: DaemonConfig, url: string): Promise<StatusDocument> {
  // Node's own fetch, not undici's package: a command that asks the daemon stays quick to start.
  const res = await fetch(`${url}/api/status`, { headers: headers(config), signal: AbortSignal.timeout(10_000) });
  const body = await res.text();
  if (res.status !== 200) throw new SgeventdError('DAEMON_API_FAILED', `${url}/api/status answered ${res.status}`, { details: { status: res.status } });
  return statusDocumentSchema.parse(JSON.parse(body));
}

/**
 * POSTs an action route of the running daemon (`x-sgeventd-action: <action>`,
 * no body) and returns the answer's `key`. A 404 carries the daemon's own
 * coded message (unknown plugin or project); anything else unexpected is
 * DAEMON_API_FAILED.
 */
async function postAction(config: DaemonConfig, url: string, route: string, action: string, query: Record<string, string | undefined>, key: string, timeoutMs: number): Promise<unknown> {
  const q = new URLSearchParams(Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined)).toString();
  const res = await fetch(`${url}${route}${q ? `?${q}` : ''}`, {
    method: 'POST',
    headers: headers(config, { 'x-sgeventd-action': action }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(await res.text()) as Record<string, unknown>;
  } catch {
    // Not JSON: reported below by status.
  }
  if (res.status === 404 && typeof body['code'] === 'string' && typeof body['error'] === 'string') {
    throw new SgeventdError(body['code'], body['error'], { details: query });
  }
  if (res.status !== 200 || !(key in body)) {
    const code = typeof body['code'] === 'string' ? body['code'] : 'no code';
    throw new SgeventdError('DAEMON_API_FAILED', `${action} answered ${res.status} (${code})`, { details: { status: res.status } });
  }
  return body[key];
}

/** POST /api/toolkit/recycle on the running daemon; returns how many runtimes were recycled. */
export async function requestRecycle(config: DaemonConfig, url: string, project?: string): Promise<number> {
  return Number(await postAction(config, url, '/api/toolkit/recycle', 'recycle', { project }, 'recycled', 30_000));
}

/** POST /api/plugins/reload on the running daemon (a reload waits for in-flight callbacks); returns the names reloaded. */
export async function requestReload(config: DaemonConfig, url: string, plugin?: string): Promise<string[]> {
  const reloaded = await postAction(config, url, '/api/plugins/reload', 'reload', { plugin }, 'reloaded', 120_000);
  return Array.isArray(reloaded) ? reloaded.map(String) : [];
}

/** The config at `configPath` and its running daemon's status server URL; DAEMON_NOT_RUNNING without one. */
export async function runningDaemon(configPath: string): Promise<{ config: DaemonConfig; url: string }> {
  const config = await loadConfig(configPath);
  const url = daemonUrl(config);
  if (url === null) throw noDaemon(config);
  return { config, url };
}

function noDaemon(config: DaemonConfig): SgeventdError {
  return new SgeventdError('DAEMON_NOT_RUNNING', `no running sgeventd with a status server for ${config.source} (pid file ${config.daemon.pidFile})`);
}
