import { SgeventdError } from '../shared/index.ts';

export type StateErrorCode =
  | 'STATE_MISSING' // mustExist was asked and there is no file
  | 'STATE_CORRUPT' // not a SQLite file, an empty file, or a failed integrity check
  | 'STATE_FOREIGN' // a SQLite file that is not an sgeventd state file
  | 'STATE_TOO_NEW' // written by a newer sgeventd (schema version above ours)
  | 'STATE_SITE_MISMATCH'
  | 'STATE_UNKNOWN_PLUGIN'
  | 'STATE_CLOSED'
  | 'STATE_LOCKED' // another daemon holds the state file's lock (details: pid, host)
  | 'STATE_IO';

/** A state store problem; `code` says which, `details` hold the path and the values involved. */
export class StateError extends SgeventdError {
  declare readonly code: StateErrorCode;

  constructor(code: StateErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(code, message, options);
  }
}
