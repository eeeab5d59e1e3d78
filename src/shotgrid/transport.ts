import { setTimeout as sleep } from 'node:timers/promises';
import { readFileSync } from 'node:fs';
import type { Dispatcher } from 'undici';
import type { Logger } from 'pino';
import { redact, type Secret } from '../shared/secret.ts';
import { setLongTimeout } from '../shared/long-timer.ts';
import { ShotgunTransportError, faultFor, type ShotgunTransportCode } from './errors.ts';
import { answerText, parseAnswer } from './answer-json.ts';

function packageVersion(): string {
  try {
    // src/shotgrid/ and dist/shotgrid/ both sit two levels below the package root.
    const raw: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    if (typeof raw === 'object' && raw !== null && 'version' in raw && typeof raw.version === 'string') return raw.version;
  } catch {
    // An unreadable package.json only costs the version in the user-agent.
  }
  return '0.0.0';
}

export const USER_AGENT = `sgeventd/${packageVersion()} shotgun-json-compatible`;

/**
 * The api3 endpoint for a site URL, resolved the way shotgun.py
 * set_server_params does: urljoin(urljoin(path or "/", "api3/"), "json").
 * So `http://h/prefix/` gives `/prefix/api3/json` but `http://h/prefix`
 * (no trailing slash) gives `/api3/json`, exactly as the Python client.
 * Credentials in the URL are removed (they go in an Authorization header).
 */
export function apiUrl(baseUrl: string): URL {
  const u = new URL(baseUrl);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new TypeError('baseUrl must use http or https');
  }
  const site = new URL(u.origin);
  const api = new URL('json', new URL('api3/', new URL(u.pathname || '/', site)));
  return api;
}

const RETRY_STATUSES = new Set([502, 503, 504]);
const RETRY_CONNECTION_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'UND_ERR_SOCKET', 'ECONNABORTED']);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

export interface RpcTransportOptions {
  url: URL;
  /**
   * The caller's keep-alive pool (undici, loaded by whoever made it), or
   * undefined: Node's own fetch and its global pool. No undici module loads
   * for a client without one, so the daemon reads its first events without
   * the package (about 110 files).
   */
  dispatcher: Dispatcher | undefined;
  timeoutMs: number;
  maxRetries: number;
  retryDelayMs: number;
  logger: Logger | undefined;
  onRequestError?: ((err: unknown) => void) | undefined;
  /** Basic auth from `user:pass@` in the site URL (shotgun.py config.authorization). */
  authorization: Secret | undefined;
  /** Every secret this client holds, masked out of any text that leaves it. */
  secrets: () => Iterable<Secret | undefined>;
}

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; errors?: unknown; cause?: unknown };
  if (typeof e.code === 'string') return e.code;
  if (Array.isArray(e.errors) && e.errors.length > 0) return errorCode(e.errors[0]);
  if (e.cause !== undefined) return errorCode(e.cause);
  return undefined;
}

class TimeoutReason extends Error {}

/**
 * POSTs one JSON-RPC body to the site and gives back the decoded JSON, or
 * throws a `ShotgunFault` (HTTP 200 fault body) or a `ShotgunTransportError`.
 * Retries only when the caller says the call is safe to repeat.
 */
export class RpcTransport {
  readonly #o: RpcTransportOptions;

  constructor(options: RpcTransportOptions) {
    this.#o = options;
  }

  get url(): URL {
    return this.#o.url;
  }

  get dispatcher(): Dispatcher | undefined {
    return this.#o.dispatcher;
  }

  #redact(text: string): string {
    return redact(text, this.#o.secrets());
  }

  /** `signal`: the caller gave up (the plugin thread that asked is gone); no further attempt starts. */
  async call(method: string, body: string, retry: boolean, signal?: AbortSignal): Promise<unknown> {
    const attemptsAllowed = retry ? 1 + Math.max(0, this.#o.maxRetries) : 1;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#once(method, body, attempt, signal);
      } catch (err) {
        this.#o.onRequestError?.(err);
        const retryable = err instanceof ShotgunTransportError && isRetryable(err);
        if (!retryable || attempt >= attemptsAllowed || signal?.aborted === true) throw err;
        // Backoff grows with the attempt, as shotgun.py's BACKOFF * attempt.
        const delay = this.#o.retryDelayMs * attempt;
        this.#o.logger?.warn({ method, attempt, code: err.code, status: err.status, delayMs: delay }, 'shotgrid call failed, retrying');
        await sleep(delay, undefined, signal === undefined ? undefined : { signal });
      }
    }
  }

  async #once(method: string, body: string, attempt: number, abort: AbortSignal | undefined): Promise<unknown> {
    const headers: Record<string, string> = {
      'content-type': 'application/json; charset=utf-8',
      connection: 'keep-alive',
      'user-agent': USER_AGENT,
    };
    if (this.#o.authorization) headers['authorization'] = this.#o.authorization.reveal();
    const controller = new AbortController();
    const timer = setLongTimeout(() => controller.abort(new TimeoutReason('timeout')), this.#o.timeoutMs);
    const started = performance.now();
    let status: number;
    let bytes: Uint8Array;
    let contentType: string | undefined;
    let location: string | undefined;
    const signal = abort === undefined ? controller.signal : AbortSignal.any([controller.signal, abort]);
    try {
      const dispatcher = this.#o.dispatcher;
      if (dispatcher === undefined) {
        // Redirects are not followed (status >= 300 fails below), as with undici's request().
        const res = await fetch(this.#o.url, { method: 'POST', headers, body, signal, redirect: 'manual' });
        status = res.status;
        contentType = res.headers.get('content-type') ?? undefined;
        location = res.headers.get('location') ?? undefined;
        bytes = new Uint8Array(await res.arrayBuffer());
      } else {
        const { request } = await import('undici');
        const res = await request(this.#o.url, {
          method: 'POST',
          headers,
          body,
          dispatcher,
          signal,
          headersTimeout: this.#o.timeoutMs,
          bodyTimeout: this.#o.timeoutMs,
        });
        status = res.statusCode;
        const ct = res.headers['content-type'];
        contentType = Array.isArray(ct) ? ct[0] : ct;
        const loc = res.headers['location'];
        location = Array.isArray(loc) ? loc[0] : loc;
        bytes = new Uint8Array(await res.body.arrayBuffer());
      }
    } catch (err) {
      throw this.#transportError(err, method, attempt, controller.signal);
    } finally {
      timer.clear();
    }
    this.#o.logger?.debug({ method, attempt, status, ms: Math.round(performance.now() - started) }, 'shotgrid call');

    if (status >= 300) {
      const details: Record<string, unknown> = {};
      // A 403 means the API is blocked; shotgun.py appends the body page.
      if (status === 403) details['body'] = this.#redact(answerText(bytes).slice(0, 500));
      if (location !== undefined) details['location'] = this.#redact(location);
      const message =
        status === 503
          ? 'HTTP 503: the site is down for maintenance or too busy to reply'
          : `HTTP ${status} from the site for ${method}`;
      throw new ShotgunTransportError('SG_HTTP_STATUS', message, { method, status, attempts: attempt, details });
    }

    // JSON when the content type says so or says nothing (shotgun.py _decode_response).
    const ctLower = (contentType ?? 'application/json').toLowerCase();
    if (!ctLower.startsWith('application/json') && !ctLower.startsWith('text/javascript')) {
      throw new ShotgunTransportError('SG_BAD_RESPONSE', `unexpected content type from the site for ${method}`, {
        method,
        status,
        attempts: attempt,
        details: { contentType },
      });
    }
    let decoded: unknown;
    try {
      // JSON.parse of the text; a read page in pieces (answer-json.ts).
      decoded = parseAnswer(bytes);
    } catch {
      // No cause: V8's JSON error quotes the body, which may echo credentials.
      throw new ShotgunTransportError('SG_BAD_RESPONSE', `the site answered ${method} with invalid JSON`, {
        method,
        status,
        attempts: attempt,
        details: { contentType, bodyLength: answerText(bytes).length },
      });
    }

    // Faults come back with HTTP 200 (shotgun.py _response_errors).
    if (typeof decoded === 'object' && decoded !== null && !Array.isArray(decoded)) {
      const r = decoded as Record<string, unknown>;
      if (r['exception']) {
        const code = typeof r['error_code'] === 'number' ? r['error_code'] : 0;
        const msg = typeof r['message'] === 'string' ? this.#redact(r['message']) : undefined;
        throw faultFor(code, msg, method);
      }
    }
    return decoded;
  }

  #transportError(err: unknown, method: string, attempt: number, signal: AbortSignal): ShotgunTransportError {
    const code = errorCode(err);
    let kind: ShotgunTransportCode = 'SG_CONNECTION';
    if ((signal.aborted && signal.reason instanceof TimeoutReason) || (code !== undefined && TIMEOUT_CODES.has(code))) {
      kind = 'SG_TIMEOUT';
    }
    const message =
      kind === 'SG_TIMEOUT'
        ? `no answer from the site for ${method} within ${this.#o.timeoutMs} ms`
        : `connection to the site failed for ${method}${code ? ` (${code})` : ''}`;
    return new ShotgunTransportError(kind, message, {
      method,
      attempts: attempt,
      cause: err,
      details: { errorCode: code },
    });
  }
}

function isRetryable(err: ShotgunTransportError): boolean {
  if (err.code === 'SG_TIMEOUT') return true;
  if (err.code === 'SG_HTTP_STATUS') return err.status !== undefined && RETRY_STATUSES.has(err.status);
  if (err.code === 'SG_CONNECTION') {
    const c = err.details['errorCode'];
    return typeof c === 'string' && RETRY_CONNECTION_CODES.has(c);
  }
  return false;
}
