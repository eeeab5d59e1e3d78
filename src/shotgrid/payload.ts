// The api3 request envelope, as shotgun.py builds it (_auth_params,
// _build_payload): what goes into `params` and in which order.
import { atLeast, ensureSupport, type ServerCaps } from './caps.ts';
import type { ShotgunAuth } from './types.ts';
import { isPlainObject, transformOutbound } from './values.ts';

// Python's truthiness for the params of _build_payload: None, {} and [] are left out.
function isFalsyParams(p: unknown): boolean {
  if (p === null || p === undefined) return true;
  if (Array.isArray(p)) return p.length === 0;
  if (isPlainObject(p)) return Object.keys(p).length === 0;
  return !p;
}

/** shotgun.py _auth_params: credentials, then session_uuid and sudo_as_login when set. */
export function authParams(auth: ShotgunAuth, caps: ServerCaps, sessionUuid: string | undefined, sudoAsLogin: string | undefined): Record<string, unknown> {
  let params: Record<string, unknown>;
  if (auth.kind === 'user') {
    params = { user_login: auth.login, user_password: auth.password.reveal() };
  } else if (auth.kind === 'script') {
    params = { script_name: auth.scriptName, script_key: auth.scriptKey.reveal() };
  } else {
    ensureSupport(caps, [5, 3, 0], 'session token authentication');
    params = { session_token: auth.sessionToken.reveal() };
    // Ask the site to refuse expired sessions (added after 5.4.3).
    if (atLeast(caps.version, [5, 4, 4])) params['reject_if_expired'] = true;
  }
  if (sessionUuid) params['session_uuid'] = sessionUuid;
  if (sudoAsLogin) {
    ensureSupport(caps, [5, 3, 12], 'sudo_as_login');
    params['sudo_as_login'] = sudoAsLogin;
  }
  return params;
}

/** shotgun.py _build_payload: `{method_name, params: [auth?, params?]}` with Dates sent as _transform_outbound does. */
export function buildPayload(method: string, auth: Record<string, unknown> | undefined, params: unknown): string {
  const callParams: unknown[] = [];
  if (auth !== undefined) callParams.push(auth);
  if (!isFalsyParams(params)) callParams.push(transformOutbound(params));
  return JSON.stringify({ method_name: method, params: callParams });
}
