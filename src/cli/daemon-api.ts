// Asking the running daemon: its status document, and the actions of its
// status server (reload, recycle). Only the address of the config is read
// (cli/daemon-contact.ts) and requests go over a plain socket
// (cli/daemon-request.ts), so `plugin reload` and `toolkit recycle` start as
// quickly as `status`; the full status document's schema (zod) loads only
// for the commands that read it.
import type { DaemonAddress } from '../config/daemon-address.ts';
import type { StatusDocument } from '../http/status.ts';
import { SgeventdError } from '../shared/index.ts';
import { addressFor, daemonHeaders as headers, daemonUrl } from './daemon-contact.ts';
import { daemonRequest } from './daemon-request.ts';

export { daemonUrl };

/** GET /api/status of the running daemon, checked against the status document's schema. */
export async function fetchStatus(config: DaemonAddress, url: string): Promise<StatusDocument> {
  const res = await daemonRequest(url, 'GET', '/api/status', headers(config), 10_000);
  if (res.status !== 200) throw new SgeventdError('DAEMON_API_FAILED', `${url}/api/status answered ${res.status}`, { details: { status: res.status } });
  const { statusDocumentSchema } = await import('../http/status.ts');
  return statusDocumentSchema.parse(JSON.parse(res.body));
}

/**
 * POSTs an action route of the running daemon (`x-sgeventd-action: <action>`,
 * no body) and returns the answer's `key`. A 404 carries the daemon's own
 * coded message (unknown plugin or project); anything else unexpected is
 * DAEMON_API_FAILED.
 */
async function postAction(config: DaemonAddress, url: string, route: string, action: string, query: Record<string, string | undefined>, key: string, timeoutMs: number): Promise<unknown> {
  const q = new URLSearchParams(Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined)).toString();
  const res = await daemonRequest(url, 'POST', `${route}${q ? `?${q}` : ''}`, headers(config, { 'x-sgeventd-action': action }), timeoutMs);
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(res.body) as Record<string, unknown>;
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
export async function requestRecycle(config: DaemonAddress, url: string, project?: string): Promise<number> {
  return Number(await postAction(config, url, '/api/toolkit/recycle', 'recycle', { project }, 'recycled', 30_000));
}

/** POST /api/plugins/reload on the running daemon (a reload waits for in-flight callbacks); returns the names reloaded. */
export async function requestReload(config: DaemonAddress, url: string, plugin?: string): Promise<string[]> {
  const reloaded = await postAction(config, url, '/api/plugins/reload', 'reload', { plugin }, 'reloaded', 120_000);
  return Array.isArray(reloaded) ? reloaded.map(String) : [];
}

/** The address of the config at `configPath` and its running daemon's status server URL; DAEMON_NOT_RUNNING without one. */
export async function runningDaemon(configPath: string): Promise<{ config: DaemonAddress; url: string }> {
  const { address: config } = await addressFor(configPath);
  const url = daemonUrl(config);
  if (url === null) throw noDaemon(config);
  return { config, url };
}

function noDaemon(config: DaemonAddress): SgeventdError {
  return new SgeventdError('DAEMON_NOT_RUNNING', `no running sgeventd with a status server for ${config.source} (pid file ${config.daemon.pidFile})`);
}
