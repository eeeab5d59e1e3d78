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
 * gaps), `sessions/expire` (every session token answers 102 afterwards).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { describeError } from '../shared/index.ts';
import { Api3 } from './methods.ts';
import { FAULT_CODES, SiteFault, clientFault } from './faults.ts';

export interface SiteLogger {
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
}

class BodyTooLarge extends Error {}

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
  // Encoded once: its length is the content-length.
  const bytes = Buffer.from(JSON.stringify(body), 'utf8');
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': bytes.length });
  res.end(bytes);
}

function faultBody(f: SiteFault): Record<string, unknown> {
  return { exception: true, message: f.message, error_code: f.errorCode };
}

const adminSchema = z.object({
  script_name: z.string(), script_key: z.string(),
  count: z.number().int().nonnegative().optional(), ids: z.array(z.number().int()).optional(),
});

/** Hooks the admin endpoints call into (RunningSite implements them). */
export interface AdminHooks {
  holdEvents(count: number): void;
  releaseEvents(ids?: number[]): number;
  burnEventIds(count: number): void;
  hiddenEventIds(): number[];
  expireSessions(): void;
}

export function createSiteServer(o: ServerOptions, admin: AdminHooks): Server {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (req.method !== 'POST') {
      send(res, 405, { error: 'POST only' });
      return;
    }
    let raw: Buffer;
    try {
      raw = await readBody(req, o.maxBodyBytes);
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        send(res, 413, { exception: true, message: 'request body too large', error_code: FAULT_CODES.client });
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
      return;
    }
    if (o.faultRate > 0 && o.random() < o.faultRate) {
      if (o.random() < 0.5) {
        send(res, 503, { error: 'Service Unavailable (injected)' });
      } else {
        req.socket.destroy();
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
      send(res, 200, faultBody(clientFault('SITE_MALFORMED_JSON', 'the request body is not valid JSON')));
      return;
    }
    try {
      send(res, 200, o.api.call(body));
    } catch (err) {
      if (err instanceof SiteFault) {
        send(res, 200, faultBody(err));
        return;
      }
      o.logger?.error({ err: describeError(err), method: Api3.methodOf(body) }, 'site: internal error');
      send(res, 200, { exception: true, message: 'internal server error', error_code: FAULT_CODES.internal });
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
