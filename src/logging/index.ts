export { createLoggers, loggerSafety, REDACT_PATHS, type Loggers } from './loggers.ts';
export { AlertMailer, type Alert, type AlertGate } from './mailer.ts';
