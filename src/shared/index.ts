export { SgeventdError, ConfigError, describeError } from './errors.ts';
export { Secret, SecretMask, redact } from './secret.ts';
export type { EntityLink, EventLogEntry } from './events.ts';
export { EVENT_FIELDS } from './events.ts';
export { MAX_TIMER_MS, setLongTimeout, sleepLong } from './long-timer.ts';
export type { LongTimer } from './long-timer.ts';
