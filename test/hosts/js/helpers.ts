import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { daemonDefaults } from '../../../src/config/index.ts';
import { WorkerPluginHost, type ProcessResult, type WorkerHostOptions } from '../../../src/hosts/index.ts';
import type { EventLogEntry } from '../../../src/index.ts';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/plugins/', import.meta.url));

export interface LogRecord {
  level: number;
  msg?: string;
  plugin?: string;
  callback?: string;
  [key: string]: unknown;
}

/** A pino logger writing parsed records into an array (pino writes synchronously to a plain stream). */
export function captureLogger(level = 'debug'): { logger: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const logger = pino({ level }, { write: (line: string) => { records.push(JSON.parse(line) as LogRecord); } });
  return { logger, records };
}

export function makeEvent(id: number, eventType: string, attributeName: string | null = null, extra: Partial<EventLogEntry> = {}): EventLogEntry {
  return {
    type: 'EventLogEntry',
    id,
    event_type: eventType,
    attribute_name: attributeName,
    meta: null,
    entity: { type: 'Shot', id: 7 },
    user: { type: 'HumanUser', id: 1 },
    project: { type: 'Project', id: 70 },
    session_uuid: 'sess-1',
    created_at: new Date('2026-01-02T03:04:05Z'),
    ...extra,
  };
}

export function fixtureHost(fileName: string, options: Partial<WorkerHostOptions> & { logger: Logger }): WorkerPluginHost {
  const file = path.isAbsolute(fileName) ? fileName : path.join(FIXTURES, fileName);
  return new WorkerPluginHost({
    file,
    folder: path.dirname(file),
    name: path.basename(file).replace(/\.[^.]+$/, ''),
    siteUrl: 'http://127.0.0.1:1',
    useSessionUuid: false,
    callbackTimeoutMs: 10_000,
    loadTimeoutMs: 30_000,
    restartBudget: daemonDefaults().restartBudget,
    ...options,
  });
}

export { within } from '../../support/index.ts';

/**
 * Runs `events` through `host.processBatch` as the plugin cursor does: a batch
 * may end early on its time budget (more so on a busy machine), so the rest
 * is sent again until every event has a result or one is not a clean ok.
 */
export async function runAll(
  host: { processBatch(events: readonly EventLogEntry[], options?: { attempt?: number; replay?: boolean }): Promise<ProcessResult[]> },
  events: readonly EventLogEntry[],
  options?: { attempt?: number; replay?: boolean },
): Promise<ProcessResult[]> {
  const out: ProcessResult[] = [];
  while (out.length < events.length) {
    const rs = await host.processBatch(events.slice(out.length), options);
    out.push(...rs);
    const last = rs.at(-1);
    if (rs.length === 0 || last === undefined || last.outcome !== 'ok' || last.failures.length > 0) break;
  }
  return out;
}
