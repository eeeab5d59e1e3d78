// A Python child's log records on stderr: one line each, so a level and a
// multi-line traceback arrive together (plugin_runner.py writes them).

/** Starts a line written by the child's logging handler (ASCII record separator). */
export const RECORD_MARK = '\x1e';

export type RecordLevel = 'debug' | 'info' | 'warn' | 'error' | 'fatal';

const LEVELS: Record<string, RecordLevel> = { DEBUG: 'debug', INFO: 'info', WARNING: 'warn', ERROR: 'error', CRITICAL: 'fatal' };

/**
 * A stderr line as a log record: `RECORD_MARK` then JSON `{ level, text }`
 * (Python's level name; the formatted record, traceback included). Anything
 * else (a print to stderr, an interpreter traceback) is null: a warning.
 */
export function parseRecordLine(line: string): { level: RecordLevel; text: string } | null {
  if (!line.startsWith(RECORD_MARK)) return null;
  try {
    const v: unknown = JSON.parse(line.slice(RECORD_MARK.length));
    if (typeof v !== 'object' || v === null) return null;
    const { level, text } = v as { level?: unknown; text?: unknown };
    if (typeof level !== 'string' || typeof text !== 'string') return null;
    return { level: LEVELS[level] ?? 'warn', text };
  } catch {
    return null; // cut by maxLogLineBytes, or not ours: logged as the raw line
  }
}
