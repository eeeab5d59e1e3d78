import { SgeventdError } from '../shared/index.ts';

/**
 * Status server errors. Codes: `HTTP_TOKEN_REQUIRED` (a non-loopback host
 * without a token), `HTTP_LISTEN_FAILED` (the address is taken or not ours).
 */
export class HttpServerError extends SgeventdError {}

/**
 * Receiver errors. Codes: `WEBHOOK_SECRET_REQUIRED` (a non-loopback listener
 * without a secret), `WEBHOOK_LISTEN_FAILED` (the address is taken or not
 * ours), `WEBHOOK_LISTENER_FAILED` (the listener thread ended before it listened).
 */
export class WebhookReceiverError extends SgeventdError {}
