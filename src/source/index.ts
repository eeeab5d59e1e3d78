export type { EventSource, EventQueryClient, SourceLogger } from './types.ts';
export { Api3EventSource, toEventLogEntry, InvalidEventError } from './api3-source.ts';
export { ResilientEventSource, type SiteRetryOptions } from './resilient-source.ts';
export { EventLog, type EventLogOptions } from './event-log.ts';
export type { EventSlice } from './range-cache.ts';
export { WebhookWatch, webhookOperationOf, type WebhookWatchOptions, type WebhookSilence, type WebhookOperation, type WebhookExpectationLike } from './webhook-watch.ts';
export { EventLogCulledError, CulledLogCheck } from './culled-log.ts';
export { LogAgeWatch, type LogAgeWarning, type LogPosition, type LogAgeWatchOptions } from './log-age.ts';
