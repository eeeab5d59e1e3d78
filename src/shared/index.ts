export { SgeventdError, ConfigError, describeError } from './errors.ts';
export { Secret, redact } from './secret.ts';
export type { EntityLink, EventLogEntry } from './events.ts';
export { EVENT_FIELDS } from './events.ts';
