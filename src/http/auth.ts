import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { Secret } from '../shared/index.ts';
import { HttpServerError, WebhookReceiverError } from './errors.ts';

/** True for addresses that only this machine can reach: 127.0.0.0/8, ::1, `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (h.toLowerCase() === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) {
    const lower = h.toLowerCase();
    if (lower === '::1' || lower === '0:0:0:0:0:0:0:1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
    return mapped?.[1] !== undefined && mapped[1].startsWith('127.');
  }
  return false;
}

/** HTTP_TOKEN_REQUIRED: a status server that other machines can reach needs `http.token`. */
export function checkStatusExposure(host: string, token: Secret | undefined): void {
  if ((token === undefined || token.isEmpty) && !isLoopbackHost(host)) {
    throw new HttpServerError('HTTP_TOKEN_REQUIRED', `http.host ${host} is reachable from other machines; set http.token or bind a loopback address`, {
      details: { key: 'http.host', value: host },
    });
  }
}

/** WEBHOOK_SECRET_REQUIRED: a webhook receiver that other machines can reach needs a secret. */
export function checkWebhookExposure(host: string, secrets: readonly Secret[]): void {
  if (secrets.every((s) => s.isEmpty) && !isLoopbackHost(host)) {
    throw new WebhookReceiverError('WEBHOOK_SECRET_REQUIRED',
      `webhooks.host ${host} is reachable from other machines; set webhooks.secrets (the webhook's secret token) or bind a loopback address`,
      { details: { key: 'webhooks.secrets', host } });
  }
}

/**
 * Checks an `Authorization` header against the token in constant time: both
 * sides are hashed first, so neither the length nor a prefix leaks.
 */
export function bearerMatches(header: string | undefined, token: Secret): boolean {
  if (header === undefined) return false;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  const given = m?.[1] ?? '';
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token.reveal()).digest();
  return timingSafeEqual(a, b) && given.length > 0;
}
