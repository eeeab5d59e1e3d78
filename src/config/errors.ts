import { SgeventdError } from '../shared/index.ts';

/** One problem in a config: the key (dotted path, or `[section] key` for a shotgunEvents conf) and a full sentence. */
export interface ConfigIssue {
  key: string;
  message: string;
  /** The value received (omitted for secrets). */
  value?: unknown;
  /** What was expected, when known. */
  expected?: string;
  /** For a missing environment variable. */
  variable?: string;
  /** For an unknown key: the closest known one. */
  suggestion?: string;
}

/**
 * A config that cannot be used. Carries every issue found, not just the first;
 * `code` is 'CONFIG_INVALID' (as the shared ConfigError), details.issues lists them.
 */
export class ConfigValidationError extends SgeventdError {
  readonly issues: readonly ConfigIssue[];

  constructor(source: string, issues: ConfigIssue[], options: { cause?: unknown } = {}) {
    const lines = issues.map((i) => `  - ${i.message}`).join('\n');
    super('CONFIG_INVALID', `invalid config ${source}:\n${lines}`, { cause: options.cause, details: { source, issues } });
    this.issues = issues;
  }
}

/** The config file could not be read at all (missing, unreadable, not YAML/INI, python3 missing). */
export class ConfigReadError extends SgeventdError {
  constructor(code: 'CONFIG_NOT_FOUND' | 'CONFIG_UNREADABLE' | 'CONFIG_SYNTAX' | 'CONFIG_PYTHON_FAILED', source: string, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(code, message, { cause: options.cause, details: { source, ...options.details } });
  }
}
