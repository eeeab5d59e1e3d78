import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { describeError, SecretMask, SgeventdError, type Secret } from '../shared/index.ts';
import type { DaemonMetrics } from '../metrics/index.ts';
import { bearerMatches, checkStatusExposure } from './auth.ts';
import { HttpServerError } from './errors.ts';
import { listen } from './listen.ts';
import { evaluateHealth, healthWindowMs, type HealthReport } from './health.ts';
import { renderStatusPage } from './page.ts';
import { statusDocument, type StatusDocument, type StatusSource } from './status.ts';

export interface HttpServerOptions {
  config: { host: string; port: number; token?: Secret | undefined };
  status: StatusSource;
  metrics: DaemonMetrics;
  logger: Logger;
  /** The daemon's `fetchIntervalMs`: `/healthz` allows max(3 × it, 30 s) since the last successful poll. */
  fetchIntervalMs?: number;
  /** Operations the CLI asks of a running daemon (`sgeventd toolkit recycle`, `sgeventd plugin reload`). */
  actions?: DaemonActions;
  /** The daemon's configured secrets, masked in every body this server sends (the token is always masked). */
  mask?: SecretMask;
}

/** What `POST /api/...` routes may do; each needs the `x-sgeventd-action` header (a browser cannot send it cross-site without a preflight this server never grants). */
export interface DaemonActions {
  /** Drains and replaces the runtimes of one project (id or tank_name), or all; returns how many. */
  recycleRuntimes(project: string | undefined): Promise<number> | number;
  /** Re-imports one plugin (by name), or all; returns the names reloaded. */
  reloadPlugins(name: string | undefined): Promise<string[]>;
}

/** `POST` routes → the `x-sgeventd-action` value each needs. */
const ACTIONS: Record<string, string> = { '/api/toolkit/recycle': 'recycle', '/api/plugins/reload': 'reload' };
/** Action errors that mean "no such thing" (404 with the message) rather than a fault (500). */
const NOT_FOUND_CODES = new Set(['PLUGIN_UNKNOWN', 'TK_NO_PROJECT']);

export interface HttpServerHandle {
  /** `http://host:port` as bound (the real port when 0 was asked). */
  readonly url: string;
  /** Stops listening and ends open connections; idempotent. */
  close(): Promise<void>;
}

/** Limits: this server answers a handful of small GETs from people and Prometheus. */
const LIMITS = {
  maxHeaderSize: 8 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 15_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 64,
  maxRequestsPerSocket: 100,
};

const SECURITY_HEADERS: Record<string, string> = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * The status server: `/` (HTML page), `/api/status` (JSON), `/api/history`
 * (the samples behind the page's charts), `/metrics`
 * (Prometheus text), `/healthz`. Refuses a non-loopback host without a token;
 * with a token every route but `/healthz` needs `Authorization: Bearer <token>`.
 *
 * @example
 * const http = await startHttpServer({ config: { host: '127.0.0.1', port: 8080 }, status: daemon, metrics, logger });
 * logger.info({ url: http.url }, 'status page');
 * await http.close();
 */
export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServerHandle> {
  const { host, port } = opts.config;
  const token = opts.config.token && !opts.config.token.isEmpty ? opts.config.token : undefined;
  checkStatusExposure(host, token);
  const logger = opts.logger.child({ subsystem: 'http' });
  const limitMs = healthWindowMs(opts.fetchIntervalMs);
  const mask = opts.mask ?? new SecretMask([token]);
  // Every body goes out through here: a secret that plugin code put into an error text never reaches a page.
  const send = (res: ServerResponse, req: IncomingMessage, status: number, contentType: string, body: string): void =>
    sendBody(res, req, status, contentType, mask.mask(body));

  const server = createServer({ maxHeaderSize: LIMITS.maxHeaderSize, requestTimeout: LIMITS.requestTimeoutMs, headersTimeout: LIMITS.headersTimeoutMs }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger.error({ err, path: pathOf(req) }, 'status server: request failed');
      if (!res.headersSent) send(res, req, 500, 'application/json', JSON.stringify({ error: 'internal', code: 'HTTP_INTERNAL' }));
      else res.destroy();
    });
  });
  server.keepAliveTimeout = LIMITS.keepAliveTimeoutMs;
  server.maxConnections = LIMITS.maxConnections;
  server.maxRequestsPerSocket = LIMITS.maxRequestsPerSocket;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    logger.debug({ err: describeError(err), code: err.code }, 'status server: bad request');
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large'
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    else socket.destroy();
  });

  async function document(): Promise<StatusDocument> {
    return statusDocument(await opts.status.status(), Date.now());
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = pathOf(req);
    if (req.method === 'POST' && opts.actions && ACTIONS[path] !== undefined) {
      await action(req, res, path, opts.actions);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      send(res, req, 405, 'application/json', JSON.stringify({ error: 'method not allowed', code: 'HTTP_METHOD_NOT_ALLOWED' }));
      return;
    }
    if (hasBody(req)) {
      send(res, req, 400, 'application/json', JSON.stringify({ error: 'a GET has no body', code: 'HTTP_BODY_NOT_ALLOWED' }));
      return;
    }
    if (path === '/healthz') {
      const report = await health();
      send(res, req, report.ok ? 200 : 503, 'application/json', JSON.stringify(report));
      return;
    }
    if (token && !bearerMatches(req.headers.authorization, token)) {
      res.setHeader('www-authenticate', 'Bearer realm="sgeventd"');
      send(res, req, 401, 'application/json', JSON.stringify({ error: 'unauthorized', code: 'HTTP_UNAUTHORIZED' }));
      return;
    }
    switch (path) {
      case '/': {
        res.setHeader('content-security-policy', PAGE_CSP);
        send(res, req, 200, 'text/html; charset=utf-8', renderStatusPage(await document(), { history: opts.status.history?.() }));
        return;
      }
      case '/api/history': {
        const history = opts.status.history?.();
        if (history === undefined) send(res, req, 404, 'application/json', JSON.stringify({ error: 'this daemon keeps no history', code: 'HTTP_NO_HISTORY' }));
        else send(res, req, 200, 'application/json; charset=utf-8', JSON.stringify(history));
        return;
      }
      case '/api/status':
        send(res, req, 200, 'application/json; charset=utf-8', JSON.stringify(await document()));
        return;
      case '/metrics':
        send(res, req, 200, opts.metrics.contentType, await opts.metrics.metrics());
        return;
      default:
        send(res, req, 404, 'application/json', JSON.stringify({ error: 'not found', code: 'HTTP_NOT_FOUND' }));
    }
  }

  async function action(req: IncomingMessage, res: ServerResponse, path: string, actions: DaemonActions): Promise<void> {
    if (token && !bearerMatches(req.headers.authorization, token)) {
      send(res, req, 401, 'application/json', JSON.stringify({ error: 'unauthorized', code: 'HTTP_UNAUTHORIZED' }));
      return;
    }
    if (req.headers['x-sgeventd-action'] !== ACTIONS[path] || hasBody(req)) {
      send(res, req, 400, 'application/json', JSON.stringify({ error: 'needs the x-sgeventd-action header and no body', code: 'HTTP_BAD_ACTION' }));
      return;
    }
    const query = new URL(req.url ?? '/', 'http://x').searchParams;
    try {
      if (path === '/api/plugins/reload') {
        const plugin = query.get('plugin') ?? undefined;
        const reloaded = await actions.reloadPlugins(plugin);
        logger.info({ plugin: plugin ?? 'all', reloaded }, 'plugins reloaded on request');
        send(res, req, 200, 'application/json', JSON.stringify({ reloaded }));
        return;
      }
      const project = query.get('project') ?? undefined;
      const recycled = await actions.recycleRuntimes(project);
      logger.info({ project: project ?? 'all', recycled }, 'toolkit runtimes recycled on request');
      send(res, req, 200, 'application/json', JSON.stringify({ recycled }));
    } catch (err) {
      // An unknown plugin or project goes back to the CLI with its message.
      if (!(err instanceof SgeventdError) || !NOT_FOUND_CODES.has(err.code)) throw err;
      send(res, req, 404, 'application/json', JSON.stringify({ error: err.message, code: err.code }));
    }
  }

  async function health(): Promise<HealthReport> {
    try {
      return evaluateHealth(await document(), limitMs);
    } catch (err) {
      logger.error({ err }, 'status server: the daemon status failed');
      return { ok: false, lastPollAgeMs: null, limitMs, reason: 'status-unavailable', message: 'the daemon did not report its status' };
    }
  }

  const listening = await listen(server, host, port, {
    logger, what: 'status server',
    failure: (err) => new HttpServerError('HTTP_LISTEN_FAILED', `cannot listen on ${host}:${port}: ${err.code ?? err.message}`, {
      cause: err, details: { host, port, errno: err.code },
    }),
  });
  logger.info({ url: listening.url, auth: token ? 'bearer' : 'none' }, 'status page listening');
  return listening;
}

function pathOf(req: IncomingMessage): string {
  const raw = req.url ?? '/';
  const q = raw.indexOf('?');
  return q === -1 ? raw : raw.slice(0, q);
}

function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  return (len !== undefined && len !== '0') || req.headers['transfer-encoding'] !== undefined;
}

function sendBody(res: ServerResponse, req: IncomingMessage, status: number, contentType: string, body: string): void {
  const buf = Buffer.from(body, 'utf8');
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': contentType, 'content-length': buf.length });
  res.end(req.method === 'HEAD' ? undefined : buf);
}
