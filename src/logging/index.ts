export { createLoggers, loggerSafety, REDACT_PATHS, type Loggers } from './loggers.ts';
export { AlertMailer, type Alert, type AlertGate, type AlertLevel } from './mailer.ts';
export { mailingLogger, type MailedRecord } from './mail-records.ts';
