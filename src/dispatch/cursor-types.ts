// The types of a plugin cursor's API: what it needs of a plugin host and of
// the scope rules, its options, and what it reports.
import type { Logger } from 'pino';
import type { EventLogEntry } from '../shared/index.ts';
import type { EmailRecipients, SerializedError } from '../plugins/index.ts';
import type { ProcessResult } from '../hosts/index.ts';
import type { CoalesceOptions } from './coalesce.ts';

/** What a plugin cursor needs of its plugin's host: the running part of the host contract (`PluginHost`). */
export interface CursorHandler {
  matches(event: EventLogEntry): boolean;
  process(event: EventLogEntry, options: { attempt: number; replay: boolean; key?: string }): Promise<ProcessResult>;
  /** Several events at once; a prefix of results (see `PluginHost.processBatch`); without it, events go one by one. */
  processBatch?(events: readonly EventLogEntry[], options: { attempt: number; replay: boolean }): Promise<ProcessResult[]>;
}

/** Decides whether an event is in a plugin's scope (projects, own events). */
export type EventScope = (event: EventLogEntry) => boolean | Promise<boolean>;

export interface CursorOptions {
  id: string;
  folder: string;
  name: string;
  batchSize: number;
  fetchIntervalMs: number;
  backlogTimeoutMs: number;
  retries: number;
  retryBackoffMs: number;
  deadLetter: boolean;
  /** `coalesceCreation`: in_create rows folded into their `_New` (coalesce.ts). */
  coalesce?: CoalesceOptions;
  /** A side run: cursors never move and callbacks see `replay: true`. */
  replay?: boolean;
  logger: Logger;
  onTiming?: (line: TimingRecord) => void;
  onFailure?: (failure: PluginFailure) => void;
}

export interface TimingRecord {
  plugin: string;
  callback: string;
  eventId: number;
  startedAt: Date;
  durationMs: number;
  /** ms from the event's created_at to the callback's start. */
  delayMs: number | null;
  error: string | null;
}

export interface PluginFailure {
  plugin: string;
  callback: string | null;
  eventId: number;
  error: SerializedError;
  /** What happened to the plugin: deactivated, or the event skipped (and dead-lettered). */
  action: 'deactivated' | 'skipped';
  /** The plugin's `setEmails` (added by whoever loaded it; absent = the configured recipients). */
  emails?: EmailRecipients;
}

/** A load that hit a site error is tried again after this long (`attempts` made so far: 1 s, doubling, at most a minute). */
export function loadRetryDelayMs(attempts: number): number {
  return Math.min(1000 * 2 ** attempts, 60_000);
}

/** A plugin that failed to load (not for a site error: that load is tried again). */
export interface PluginLoadFailure {
  plugin: string;
  error: SerializedError;
  /** The recipients its last successful load set with `setEmails` (true when it never loaded). */
  emails: EmailRecipients;
}

export type CursorStatus = 'running' | 'stopping' | 'stopped' | 'deactivated';

/** A dead letter handed back for another try. */
export interface RetryItem {
  event: EventLogEntry;
  resolve(): Promise<void>;
  fail(error: string): Promise<void>;
  /** Not run to an end (the cursor stopped): the entry goes back to the store for the next cursor. */
  release(): void;
}
