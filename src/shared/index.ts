export { SgeventdError, ConfigError, describeError } from './errors.ts';
export { Secret, redact } from './secret.ts';
