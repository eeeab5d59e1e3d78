/**
 * The HTTP side: `POST <any prefix>/api3/json`, `POST <prefix>/api3/track_metrics/`
 * (Toolkit's metrics; an empty success), and the admin endpoints used by tests that
 * run the site as a child process. Faults are HTTP 200 with `{exception, message,
 * error_code}` (protocol.md 1.1). Request bodies are bounded.
 *
 * Fault injection: `faultRate` applies to every `/api3/json` request, `info`
 * included (clients must survive a failing first call too); half of the injected
 * faults are HTTP 503, half a dropped connection. `latencyMs` delays every answer.
 * Admin endpoints (`POST /admin/...`, body `{script_name, script_key, ...}` of a configured
 * script; never faulted): `events/hold {count}` allocates the next ids hidden (a late
 * commit), `events/release {ids?}`, `events/hidden`, `events/burn {count}` (permanent
 * gaps), `sessions/expire` (every session token answers 102 afterwards),
 * `events/cull {before_id}` (a hosted site's culled log: rows below it are gone) and
 * `events/backdate {days}` (every event's created_at moved back: an old log).
 *
 * File routes (`/upload/...`, `/file_serve/...`, `/thumbnail/...`, the transient thumbnail placeholder) are uploads.ts.
 * Request log: every request is logged at debug (route, api3 method, entity type,
 * status, duration), every refusal (fault, 4xx/5xx, injected fault) at warn with
 * its code; the site's script keys and session tokens are masked in any text logged.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { performance } from 'node:perf_hooks';
import { describeError, redact, type Secret } from '../shared/index.ts';
import { Api3 } from './methods.ts';
import { FAULT_CODES, SiteFault, clientFault } from './faults.ts';
import type { UploadRoutes } from './uploads.ts';
import { FORM_OVERHEAD_BYTES } from './files.ts';
import { encodeBody } from './encode.ts';

export interface SiteLogger {
  /** Each request (`sgeventd site --log-level debug`). */
  debug?(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface ServerOptions {
  api: Api3;
  maxBodyBytes: number;
  faultRate: number;
  latencyMs: number;
  random: () => number;
  logger?: SiteLogger;
  uploads?: UploadRoutes;
  /** Largest upload accepted. */
  maxFileBytes?: number;
  /** Values masked in every logged text (script keys). */
  secrets?: () => Iterable<Secret | string>;
  /** `/admin/webhooks` (webhook-admin.ts): any method, a small JSON body. */
  webhookAdmin?: (method: string, path: string, headers: IncomingHttpHeaders, raw: Buffer) => Promise<{ status: number; body: unknown }>;
}

class BodyTooLarge extends Error {}

/** One line of the request log. */
export interface RequestRecord {
  route: string;
  method?: string;
  entityType?: string;
  status: number;
  durationMs: number;
  fault?: { code: string; errorCode: number; message: string };
  injected?: '503' | 'dropped';
}

/** The api3 method and entity type(s) of a body, for the request log. */
function describeCall(body: unknown): { method?: string; entityType?: string } {
  const method = Api3.methodOf(body);
  const p = (body as { params?: unknown[] } | null)?.params?.[1];
  const typeOf = (x: unknown) => (x !== null && typeof x === 'object' && typeof (x as { type?: unknown }).type === 'string' ? (x as { type: string }).type : undefined);
  const types = Array.isArray(p) ? [...new Set(p.map(typeOf).filter((t) => t !== undefined))].join(',') : typeOf(p);
  return { method, entityType: types === '' ? undefined : types };
}

/** Reads the body up to `limit`; past it, drains the rest and resolves undefined. */
function readOrDrain(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= limit) chunks.push(c);
    });
    req.on('end', () => resolve(size > limit ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const FILE_ROUTES = ['/upload/', '/file_serve/', '/thumbnail/', '/images/status/transient/'];

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new BodyTooLarge());
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  // Encoded once: its length is the content-length. A page of records is encoded in pieces (encode.ts).
  const bytes = encodeBody(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': bytes.length });
  res.end(bytes);
}

function faultBody(f: SiteFault): Record<string, unknown> {
  return { exception: true, message: f.message, error_code: f.errorCode };
}

const adminSchema = z.object({
  script_name: z.string(), script_key: z.string(),
  count: z.number().int().nonnegative().optional(), ids: z.array(z.number().int()).optional(),
  before_id: z.number().int().positive().optional(), days: z.number().nonnegative().max(36_500).optional(),
});

/** Hooks the admin endpoints call into (RunningSite implements them). */
export interface AdminHooks {
  holdEvents(count: number): void;
  releaseEvents(ids?: number[]): number;
  burnEventIds(count: number): void;
  hiddenEventIds(): number[];
  cullEventLog(beforeId: number): number;
  backdateEventLog(days: number): number;
  expireSessions(): void;
}

export function createSiteServer(o: ServerOptions, admin: AdminHooks): Server {
  const mask = (text: string): string => redact(text, o.secrets?.() ?? []);
  const logRequest = (r: RequestRecord): void => {
    // Anything a client sent may hold a secret (a key sent as a method name): mask the whole line.
    const line = JSON.parse(mask(JSON.stringify(r))) as RequestRecord;
    if (r.fault !== undefined || r.injected !== undefined || r.status >= 400) o.logger?.warn(line, 'site: refused');
    else o.logger?.debug?.(line, 'site: request');
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    const url = new URL(req.url ?? '/', 'http://site');
    const path = url.pathname;
    const done = (status: number, extra: Partial<RequestRecord> = {}) =>
      logRequest({ route: `${req.method ?? '?'} ${path}`, status, durationMs: Math.round((performance.now() - started) * 10) / 10, ...extra });
    if (o.uploads !== undefined && FILE_ROUTES.some((r) => path.startsWith(r))) {
      // The limit is the file part's (checked in uploads.ts); the form's other fields and boundaries get room of their own.
      const raw = req.method === 'POST' ? await readOrDrain(req, (o.maxFileBytes ?? 100 * 1024 * 1024) + FORM_OVERHEAD_BYTES) : Buffer.alloc(0);
      const a = await o.uploads.handle(req, path, url.searchParams, raw);
      if (a === undefined) {
        send(res, 404, { error: 'not found' });
        done(404);
        return;
      }
      const bytes = typeof a.body === 'string' ? Buffer.from(a.body, 'utf8') : a.body;
      res.writeHead(a.status, { 'content-type': a.contentType, 'content-length': bytes.length });
      res.end(bytes);
      done(a.status, { entityType: a.entityType, fault: a.fault === undefined ? undefined : { code: a.fault.code, errorCode: a.fault.errorCode, message: a.fault.message } });
      return;
    }
    if (o.webhookAdmin !== undefined && (path === '/admin/webhooks' || path.startsWith('/admin/webhooks/'))) {
      const raw = await readOrDrain(req, 1024 * 1024);
      const a = raw === undefined ? { status: 413, body: { error: 'request body too large' } } : await o.webhookAdmin(req.method ?? 'GET', path, req.headers, raw);
      send(res, a.status, a.body);
      done(a.status);
      return;
    }
    if (req.method !== 'POST') {
      send(res, 405, { error: 'POST only' });
      done(405);
      return;
    }
    let raw: Buffer;
    try {
      raw = await readBody(req, o.maxBodyBytes);
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        send(res, 413, { exception: true, message: 'request body too large', error_code: FAULT_CODES.client });
        done(413, { fault: { code: 'SITE_BODY_TOO_LARGE', errorCode: FAULT_CODES.client, message: 'request body too large' } });
        return;
      }
      throw err;
    }
    if (path.startsWith('/admin/')) {
      await handleAdmin(path, raw, res);
      return;
    }
    if (path.endsWith('/api3/track_metrics/') || path.endsWith('/api3/track_metrics')) {
      send(res, 200, {});
      return;
    }
    if (!path.endsWith('/api3/json')) {
      send(res, 404, { error: 'not found' });
      done(404);
      return;
    }
    if (o.faultRate > 0 && o.random() < o.faultRate) {
      // Throttling: a real site answers HTTP 503 (protocol.md 1.1); or the connection drops.
      if (o.random() < 0.5) {
        send(res, 503, { error: 'Service Unavailable (injected)' });
        done(503, { injected: '503' });
      } else {
        req.socket.destroy();
        done(0, { injected: 'dropped' });
      }
      return;
    }
    if (o.latencyMs > 0) {
      await sleep(o.latencyMs);
      // Stopped while this answer was delayed: the store may be closed already.
      if (!server.listening) {
        res.destroy();
        return;
      }
    }
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      const f = clientFault('SITE_MALFORMED_JSON', 'the request body is not valid JSON');
      send(res, 200, faultBody(f));
      done(200, { fault: { code: f.code, errorCode: f.errorCode, message: f.message } });
      return;
    }
    const call = describeCall(body);
    try {
      send(res, 200, o.api.call(body));
      done(200, call);
    } catch (err) {
      if (err instanceof SiteFault) {
        send(res, 200, faultBody(err));
        done(200, { ...call, fault: { code: err.code, errorCode: err.errorCode, message: err.message } });
        return;
      }
      o.logger?.error({ err: mask(describeError(err)), method: call.method }, 'site: internal error');
      send(res, 200, { exception: true, message: 'internal server error', error_code: FAULT_CODES.internal });
      done(200, { ...call, fault: { code: 'SITE_INTERNAL', errorCode: FAULT_CODES.internal, message: 'internal server error' } });
    }
  };

  const handleAdmin = async (path: string, raw: Buffer, res: ServerResponse): Promise<void> => {
    await Promise.resolve();
    let a: z.infer<typeof adminSchema>;
    try {
      a = adminSchema.parse(JSON.parse(raw.toString('utf8')));
    } catch {
      send(res, 400, { error: 'expected {script_name, script_key, count?, ids?}' });
      return;
    }
    if (!o.api.auth.isScript(a.script_name, a.script_key)) {
      send(res, 403, { error: 'bad script credentials' });
      return;
    }
    switch (path) {
      case '/admin/events/hold': admin.holdEvents(a.count ?? 1); send(res, 200, { ok: true }); return;
      case '/admin/events/release': send(res, 200, { released: admin.releaseEvents(a.ids) }); return;
      case '/admin/events/burn': admin.burnEventIds(a.count ?? 1); send(res, 200, { ok: true }); return;
      case '/admin/events/hidden': send(res, 200, { ids: admin.hiddenEventIds() }); return;
      // A hosted site's log is readable for about six months: older rows are culled, their ids never come back.
      case '/admin/events/cull':
        if (a.before_id === undefined) { send(res, 400, { error: 'expected before_id: the lowest EventLogEntry id to keep' }); return; }
        send(res, 200, { culled: admin.cullEventLog(a.before_id) }); return;
      case '/admin/events/backdate':
        if (a.days === undefined) { send(res, 400, { error: 'expected days: how far back to move every created_at' }); return; }
        send(res, 200, { backdated: admin.backdateEventLog(a.days) }); return;
      case '/admin/sessions/expire': admin.expireSessions(); send(res, 200, { ok: true }); return;
      default: send(res, 404, { error: 'unknown admin endpoint' });
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      o.logger?.error({ err: describeError(err) }, 'site: request failed');
      if (!res.headersSent) send(res, 500, { error: 'internal server error' });
      else res.destroy();
    });
  });
  return server;
}
