import { SgeventdError } from '../shared/index.ts';

/**
 * Numeric fault codes the site answers with (HTTP 200, `{exception, message, error_code}`).
 *
 * - 102: authentication failures, exactly as a real site (python-api shotgun.py ERR_AUTH,
 *   protocol.md 1.2; Toolkit renews its session token on it).
 * - 103: every client mistake (unknown entity type or field, bad value types, bad filters,
 *   malformed envelope, unknown method). Source: vfxetc/sgcache `exceptions.py` ClientFault
 *   defaults to 103, and the REST API answers invalid params with 103 (protocol.md 2).
 * - 999: an unexpected server error (sgcache's default Fault code); never a crash.
 */
export const FAULT_CODES = { auth: 102, client: 103, internal: 999 } as const;

/** A fault sent back to the client; `code` is the stable string tests match on. */
export class SiteFault extends SgeventdError {
  readonly errorCode: number;

  constructor(errorCode: number, code: string, message: string, details: Record<string, unknown> = {}) {
    super(code, message, { details: { ...details, errorCode } });
    this.errorCode = errorCode;
  }
}

/** A client mistake (error_code 103). */
export function clientFault(code: string, message: string, details: Record<string, unknown> = {}): SiteFault {
  return new SiteFault(FAULT_CODES.client, code, message, details);
}

/** An authentication failure (error_code 102). */
export function authFault(message: string): SiteFault {
  return new SiteFault(FAULT_CODES.auth, 'SITE_AUTH_FAILED', message);
}
