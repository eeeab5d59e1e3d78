import { Secret } from '../shared/secret.ts';
import { ShotgunClientError } from './errors.ts';
import { apiUrl } from './transport.ts';
import type { ShotgunAuth, ShotgunClientOptions } from './types.ts';

/** Client options with defaults applied and checked, once, at construction. */
export interface CompiledOptions {
  url: URL;
  /** Basic auth from `user:pass@` in the site URL (shotgun.py config.authorization). */
  basic: Secret | undefined;
  /** The password of `user:pass@`, so an echo of it can be masked. */
  urlPassword: Secret | undefined;
  auth: ShotgunAuth;
  timeoutMs: number;
  maxRetries: number;
  retryDelayMs: number;
}

function invalid(option: string, expected: string, value?: unknown): never {
  throw new ShotgunClientError('SG_INVALID_ARGUMENT', `${option} must be ${expected}`, { option, value });
}

function count(option: string, v: number | undefined, fallback: number, min: number): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v < min) invalid(option, min > 0 ? 'a positive integer' : 'a non-negative integer', v);
  return v;
}

function nonEmpty(option: string, v: string | Secret): void {
  const text = v instanceof Secret ? v.reveal() : v;
  // The value itself is never echoed: it may be a secret.
  if (typeof text !== 'string' || text.length === 0) invalid(option, 'a non-empty string');
}

export function compileOptions(options: ShotgunClientOptions): CompiledOptions {
  let parsed: URL;
  let url: URL;
  try {
    parsed = new URL(options.baseUrl);
    url = apiUrl(options.baseUrl);
  } catch {
    // Not echoed: a site URL may carry user:password.
    return invalid('baseUrl', 'an http or https URL');
  }
  const basic =
    parsed.username !== ''
      ? new Secret(
          'Basic ' +
            Buffer.from(
              decodeURIComponent(parsed.username) + (parsed.password ? ':' + decodeURIComponent(parsed.password) : ''),
            ).toString('base64'),
        )
      : undefined;

  // As shotgun.py's constructor: each auth mode needs both of its parts.
  const auth = options.auth;
  if (auth.kind === 'script') {
    nonEmpty('auth.scriptName', auth.scriptName);
    nonEmpty('auth.scriptKey', auth.scriptKey);
  } else if (auth.kind === 'user') {
    nonEmpty('auth.login', auth.login);
    nonEmpty('auth.password', auth.password);
  } else if (auth.kind === 'session') {
    nonEmpty('auth.sessionToken', auth.sessionToken);
  } else {
    invalid('auth.kind', "'script', 'user' or 'session'", (auth as { kind?: unknown }).kind);
  }

  return {
    url,
    basic,
    urlPassword: parsed.password ? new Secret(decodeURIComponent(parsed.password)) : undefined,
    auth,
    timeoutMs: count('timeoutMs', options.timeoutMs, 60_000, 1),
    maxRetries: count('maxRetries', options.maxRetries, 3, 0),
    retryDelayMs: count('retryDelayMs', options.retryDelayMs, 750, 0),
  };
}
