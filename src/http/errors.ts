import { SgeventdError } from '../shared/index.ts';

/**
 * Status server errors. Codes: `HTTP_TOKEN_REQUIRED` (a non-loopback host
 * without a token), `HTTP_LISTEN_FAILED` (the address is taken or not ours).
 */
export class HttpServerError extends SgeventdError {}
