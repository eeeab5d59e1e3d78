// The webhook listener: HTTP server, signature check and parsing. It runs on
// its own thread (webhooks-thread.ts), so its answers never wait on the
// daemon's main thread; what it learns leaves as messages (`ListenerSink`).
import { createHmac, timingSafeEqual, type Hmac } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { z } from 'zod';
import { describeError } from '../shared/index.ts';
import { listen, type Listening } from './listen.ts';
import type { WebhookResult } from './webhooks-protocol.ts';

/** What a correctly signed delivery announced: the log has reached at least each of these ids. */
export interface WebhookDelivery {
  eventIds: number[];
  /** `x-sg-delivery-id`, or the body's `delivery_id` (null when neither says). */
  deliveryId: string | null;
  batched: boolean;
}

/** Where the listener tells what it saw (the thread posts each to the main thread). */
export interface ListenerSink {
  /** A correctly signed delivery, after its 200 was written. */
  delivery(d: WebhookDelivery): void;
  result(r: WebhookResult): void;
}

/**
 * The body kept and parsed: a batch holds at most 50 deliveries, and the site
 * caps one payload at 1 MB. Larger bodies are still hashed (up to
 * `MAX_HASHED_BYTES`) so a signed one is answered 200, never a failure the
 * site would count against the webhook.
 */
const MAX_PARSED_BYTES = 2 * 1024 * 1024;
const MAX_HASHED_BYTES = 16 * 1024 * 1024;

const LIMITS = { headersTimeoutMs: 10_000, requestTimeoutMs: 15_000, keepAliveTimeoutMs: 10_000, maxConnections: 256 };

const eventId = z.number().int().positive();
// One delivery as a webhook sends it; the batch format wraps the same object.
const deliveryData = z.looseObject({ event_log_entry_id: eventId, delivery_id: z.string().optional() });
const singleBody = z.looseObject({ data: deliveryData });
const batchBody = z.looseObject({
  data: z.looseObject({
    deliveries: z.array(z.union([z.looseObject({ data: deliveryData }), deliveryData])).min(1),
  }),
});

/** The `sha1=` HMAC of the raw body, for each configured secret (rotation: any one matches). */
class SignatureCheck {
  readonly #hmacs: Hmac[];

  constructor(secrets: readonly string[]) {
    this.#hmacs = secrets.map((s) => createHmac('sha1', s));
  }

  update(chunk: Buffer): void {
    for (const h of this.#hmacs) h.update(chunk);
  }

  /** 'ok', or why not; with no secret configured every delivery is accepted (loopback only). */
  verdict(header: string | string[] | undefined): 'ok' | 'unsigned' | 'bad_signature' {
    if (this.#hmacs.length === 0) return 'ok';
    if (typeof header !== 'string' || header === '') return 'unsigned';
    const m = /^sha1=([0-9a-f]{40})$/i.exec(header.trim());
    if (m?.[1] === undefined) return 'bad_signature';
    const given = Buffer.from(m[1], 'hex');
    let ok = false;
    // Every secret is compared, so the time taken does not say which one matched.
    for (const h of this.#hmacs) ok = timingSafeEqual(h.digest(), given) || ok;
    return ok ? 'ok' : 'bad_signature';
  }
}

/** The event ids and delivery id of a parsed body, or null when it is not a delivery. */
export function parseDelivery(body: unknown, headerDeliveryId: string | null): WebhookDelivery | null {
  const batch = batchBody.safeParse(body);
  if (batch.success) {
    const items = batch.data.data.deliveries.map((d) => ('data' in d && typeof d.data === 'object' ? (d.data as z.infer<typeof deliveryData>) : (d as z.infer<typeof deliveryData>)));
    return { eventIds: items.map((d) => d.event_log_entry_id), deliveryId: headerDeliveryId ?? items[0]?.delivery_id ?? null, batched: true };
  }
  const single = singleBody.safeParse(body);
  if (!single.success) return null;
  return { eventIds: [single.data.data.event_log_entry_id], deliveryId: single.data.data.delivery_id ?? headerDeliveryId, batched: false };
}

export interface ListenerOptions {
  host: string;
  port: number;
  path: string;
  /** Revealed secret values; none: every delivery is accepted (loopback only, checked by the caller). */
  secrets: readonly string[];
  logger: Logger;
  sink: ListenerSink;
  failure: (err: NodeJS.ErrnoException) => Error;
}

/**
 * POST on one path, the signature as the only authentication (a site cannot
 * send a bearer token). A correctly signed request is answered 200 at once,
 * whatever it holds: the site disables a webhook after 100 failed deliveries
 * in a day, and a delivery is only a hint (the event log stays the truth).
 * Bodies are never logged.
 */
export async function startListener(opts: ListenerOptions): Promise<Listening> {
  const { host, port, path, logger, sink } = opts;
  const server = createServer({ requestTimeout: LIMITS.requestTimeoutMs, headersTimeout: LIMITS.headersTimeoutMs }, (req, res) => {
    try {
      handle(req, res);
    } catch (err) {
      logger.error({ err }, 'webhook receiver: request failed');
      if (!res.headersSent) answer(res, 500, { error: 'internal', code: 'WEBHOOK_INTERNAL' });
      else res.destroy();
    }
  });
  server.keepAliveTimeout = LIMITS.keepAliveTimeoutMs;
  server.maxConnections = LIMITS.maxConnections;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    logger.debug({ err: describeError(err), code: err.code }, 'webhook receiver: bad request');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const q = (req.url ?? '/').indexOf('?');
    const reqPath = q === -1 ? (req.url ?? '/') : (req.url ?? '/').slice(0, q);
    if (reqPath !== path) {
      req.resume();
      answer(res, 404, { error: 'not found', code: 'WEBHOOK_NOT_FOUND' });
      return;
    }
    if (req.method !== 'POST') {
      req.resume();
      res.setHeader('allow', 'POST');
      answer(res, 405, { error: 'method not allowed', code: 'WEBHOOK_METHOD_NOT_ALLOWED' });
      return;
    }
    const check = new SignatureCheck(opts.secrets);
    const kept: Buffer[] = [];
    let size = 0;
    let aborted = false;
    req.on('data', (chunk: Buffer) => {
      if (aborted) return;
      size += chunk.length;
      if (size > MAX_HASHED_BYTES) {
        aborted = true;
        sink.result('too_large');
        logger.warn({ bytes: size, limit: MAX_HASHED_BYTES }, 'webhook receiver: body too large; refused');
        res.setHeader('connection', 'close');
        answer(res, 413, { error: 'body too large', code: 'WEBHOOK_BODY_TOO_LARGE' });
        req.destroy();
        return;
      }
      check.update(chunk);
      if (size <= MAX_PARSED_BYTES) kept.push(chunk);
    });
    req.on('error', (err) => {
      if (!aborted) logger.debug({ err: describeError(err) }, 'webhook receiver: request stream failed');
    });
    req.on('end', () => {
      if (aborted) return;
      const verdict = check.verdict(req.headers['x-sg-signature']);
      if (verdict !== 'ok') {
        sink.result(verdict);
        answer(res, 401, { error: 'unauthorized', code: 'WEBHOOK_UNAUTHORIZED' });
        logger.warn({ result: verdict, webhook: header(req, 'x-sg-webhook-id'), remote: req.socket.remoteAddress }, 'webhook receiver: delivery refused (signature)');
        return;
      }
      // Signed: answered 200 whatever it holds. The messages go first, so the
      // main thread hears of a delivery no later than the site hears its answer.
      const deliveryId = header(req, 'x-sg-delivery-id');
      const delivery = size > MAX_PARSED_BYTES ? null : readDelivery(kept, size, deliveryId);
      if (delivery !== null) {
        sink.result('accepted');
        sink.delivery(delivery);
      } else {
        sink.result(size > MAX_PARSED_BYTES ? 'too_large' : 'malformed');
      }
      answer(res, 200, { ok: true });
      if (delivery !== null) {
        logger.debug({ deliveryId, events: delivery.eventIds.length, newest: Math.max(...delivery.eventIds) }, 'webhook delivery');
      } else if (size > MAX_PARSED_BYTES) {
        // No id could be read, so nothing is announced (polling reads it).
        logger.warn({ deliveryId, bytes: size }, 'webhook receiver: signed delivery too large to read; left to polling');
      } else {
        logger.warn({ deliveryId, bytes: size }, 'webhook receiver: signed delivery without an event id; ignored');
      }
    });
  }

  return listen(server, host, port, { logger, what: 'webhook receiver', path, failure: opts.failure });
}

function readDelivery(kept: Buffer[], size: number, deliveryId: string | null): WebhookDelivery | null {
  try {
    return parseDelivery(JSON.parse(Buffer.concat(kept, size).toString('utf8')), deliveryId);
  } catch {
    return null;
  }
}

function header(req: IncomingMessage, name: string): string | null {
  const v = req.headers[name];
  return typeof v === 'string' && v !== '' ? v : null;
}

function answer(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  const buf = Buffer.from(JSON.stringify(body), 'utf8');
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': buf.length, 'cache-control': 'no-store' });
  res.end(buf);
}
