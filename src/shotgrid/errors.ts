import { SgeventdError } from '../shared/errors.ts';

/**
 * A fault answered by the site: HTTP 200 with `{exception: true, error_code,
 * message}` (as shotgun.py _response_errors). `faultCode` is the site's
 * numeric code; `code` is a stable string, one per class, so both
 * `err.faultCode === 102` and `err instanceof AuthenticationFault` work.
 *
 * @example
 * try { await sg.find('Shot', []); }
 * catch (err) { if (err instanceof ShotgunFault && err.faultCode === 102) renewCredentials(); }
 */
export class ShotgunFault extends SgeventdError {
  readonly faultCode: number;
  readonly method: string;

  constructor(faultCode: number, message: string, method: string, code = 'SG_FAULT') {
    super(code, message, { details: { faultCode, method } });
    this.faultCode = faultCode;
    this.method = method;
  }
}

/** Fault 102: bad or expired credentials (shotgun.py ERR_AUTH). */
export class AuthenticationFault extends ShotgunFault {
  constructor(message: string, method: string) {
    super(102, message, method, 'SG_AUTHENTICATION_FAULT');
  }
}

/** Fault 106: the site wants a two-factor token (shotgun.py ERR_2FA). */
export class MissingTwoFactorAuthenticationFault extends ShotgunFault {
  constructor(message: string, method: string) {
    super(106, message, method, 'SG_MISSING_2FA_FAULT');
  }
}

/** Fault 108: login/password refused on an SSO site (shotgun.py ERR_SSO). */
export class UserCredentialsNotAllowedForSSOAuthenticationFault extends ShotgunFault {
  constructor(message: string, method: string) {
    super(108, message, method, 'SG_SSO_CREDENTIALS_NOT_ALLOWED_FAULT');
  }
}

/** Fault 110: login/password refused on an Autodesk Identity site (shotgun.py ERR_OXYG). */
export class UserCredentialsNotAllowedForOxygenAuthenticationFault extends ShotgunFault {
  constructor(message: string, method: string) {
    super(110, message, method, 'SG_OXYGEN_CREDENTIALS_NOT_ALLOWED_FAULT');
  }
}

/** Builds the class shotgun.py _response_errors would raise for this code. */
export function faultFor(errorCode: number, message: string | undefined, method: string): ShotgunFault {
  switch (errorCode) {
    case 102:
      return new AuthenticationFault(message ?? 'Unknown Authentication Error', method);
    case 106:
      return new MissingTwoFactorAuthenticationFault(message ?? 'Unknown 2FA Authentication Error', method);
    case 108:
      return new UserCredentialsNotAllowedForSSOAuthenticationFault(
        message ?? 'Authentication using username/password is not allowed for an SSO-enabled site',
        method,
      );
    case 110:
      return new UserCredentialsNotAllowedForOxygenAuthenticationFault(
        message ?? 'Authentication using username/password is not allowed for an Autodesk Identity enabled site',
        method,
      );
    default:
      return new ShotgunFault(errorCode, message ?? 'Unknown Error', method);
  }
}

export type ShotgunTransportCode =
  /** HTTP status >= 300. */
  | 'SG_HTTP_STATUS'
  /** Connection refused, reset, closed early, DNS failure. */
  | 'SG_CONNECTION'
  /** No complete answer within `timeoutMs`. */
  | 'SG_TIMEOUT'
  /** A 2xx answer that is not the JSON the protocol promises. */
  | 'SG_BAD_RESPONSE';

/**
 * The request did not produce a protocol answer: HTTP errors, connection
 * problems, timeouts, unreadable bodies. Separate from `ShotgunFault` (the
 * site answered and said no). `attempts` counts the HTTP tries made.
 */
export class ShotgunTransportError extends SgeventdError {
  declare readonly code: ShotgunTransportCode;
  readonly method: string;
  readonly status: number | undefined;
  readonly attempts: number;

  constructor(
    code: ShotgunTransportCode,
    message: string,
    fields: { method: string; status?: number; attempts: number; cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(code, message, {
      cause: fields.cause,
      details: { method: fields.method, status: fields.status, attempts: fields.attempts, ...fields.details },
    });
    this.method = fields.method;
    this.status = fields.status;
    this.attempts = fields.attempts;
  }
}

export type ShotgunClientErrorCode =
  /** An argument the Python client would also refuse (bad filter, missing batch key...). */
  | 'SG_INVALID_ARGUMENT'
  /** The server's version is too old for the requested feature. */
  | 'SG_UNSUPPORTED_BY_SERVER'
  /** A feature of shotgun_api3 this client does not implement (thumbnail upload). */
  | 'SG_NOT_IMPLEMENTED'
  /** The client was closed. */
  | 'SG_CLIENT_CLOSED';

/** Raised by the client itself before anything is sent (shotgun.py ShotgunError/ValueError). */
export class ShotgunClientError extends SgeventdError {
  declare readonly code: ShotgunClientErrorCode;

  constructor(code: ShotgunClientErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(code, message, { details });
  }
}
