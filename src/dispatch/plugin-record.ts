// One plugin as the engine holds it (file, host, cursor, status, timers of
// its retries) and what `status` shows of it.
import type { ConcurrencyOption, PluginFolderConfig } from '../config/index.ts';
import type { EmailRecipients, PluginFileEntry } from '../plugins/index.ts';
import type { PluginHost } from '../hosts/index.ts';
import type { PluginState } from '../state/index.ts';
import type { PluginCursor } from './cursor.ts';
import type { ConcurrentCursor } from './concurrent-cursor.ts';

export type PluginStatus =
  | 'loading'
  /** Stopping for a reload or a pause: no new events, callbacks in flight finishing. */
  | 'draining'
  | 'running'
  | 'deactivated'
  | 'load-failed'
  | 'disabled'
  | 'paused'
  | 'refused'
  | 'removed';


/** What `status` shows for one plugin. */
export interface PluginSnapshot {
  id: string;
  name: string;
  folder: string;
  file: string | null;
  kind: 'js' | 'python' | 'refused' | 'unknown';
  status: PluginStatus;
  lastEventId: number | null;
  backlog: number;
  lag: number | null;
  lastError: string | null;
  /** Since the daemon started, across reloads of the plugin. */
  processed: number;
  failed: number;
  /** Since the plugin was last (re)loaded. */
  processedSinceReload: number;
  failedSinceReload: number;
  meanMs: number | null;
  /** Events whose callbacks are running now. */
  inFlight: number;
  /** Key lanes with an event running (a plugin without concurrency is one lane). */
  lanesBusy: number;
  /** The lowest id handed out and not finished; null when none. */
  oldestUnfinished: number | null;
  /** Events between it and the newest event seen on the site. */
  oldestUnfinishedLag: number | null;
}

export interface PluginRecord {
  id: string;
  name: string;
  folder: PluginFolderConfig;
  entry: PluginFileEntry | null;
  status: PluginStatus;
  host: PluginHost | null;
  cursor: PluginCursor | ConcurrentCursor | null;
  /** The cursor being stopped (its callbacks in flight finishing), shown in the status meanwhile. */
  draining: PluginCursor | ConcurrentCursor | null;
  /** The concurrency in force (config, else the file's declaration, else none). */
  concurrency: ConcurrencyOption | null;
  lastError: string | null;
  frozen: PluginState | null;
  /** Serialises load/reload/remove of one plugin. */
  busy: Promise<void>;
  sawInactive: boolean;
  /** A step asked for by the state file's flags is queued or running; later polls wait for it. */
  flagStep: boolean;
  /** Counters of the plugin's earlier cursors (before reloads), so totals survive a reload. */
  earlier: { processed: number; failed: number; totalMs: number };
  /** A load that hit a site error, tried again after a backoff: the timer and the attempts so far. */
  loadRetry: { timer: NodeJS.Timeout | null; attempts: number };
  /** `reactivateAfterMs`: the timer of the next try after a deactivation, and the tries since it last ran an event. */
  reactivate: { timer: NodeJS.Timeout | null; attempts: number };
  /** What its last successful load set with `setEmails` (true until then). */
  emails: EmailRecipients;
}

export function newPluginRecord(id: string, name: string, folder: PluginFolderConfig, frozen: PluginState | null): PluginRecord {
  return {
    id, name, folder, entry: null, status: 'loading', host: null, cursor: null, draining: null, concurrency: null,
    lastError: null, frozen, busy: Promise.resolve(), sawInactive: false, flagStep: false,
    earlier: { processed: 0, failed: 0, totalMs: 0 }, loadRetry: { timer: null, attempts: 0 },
    reactivate: { timer: null, attempts: 0 }, emails: true,
  };
}

/**
 * What a stopped cursor leaves on its record: its counters added to the
 * earlier ones (totals survive a reload), and its place as the state row the
 * record shows and the next load starts from.
 */
export function keepStopped(rec: PluginRecord, cursor: PluginCursor | ConcurrentCursor): void {
  rec.earlier = {
    processed: rec.earlier.processed + cursor.counters.processed,
    failed: rec.earlier.failed + cursor.counters.failed,
    totalMs: rec.earlier.totalMs + cursor.counters.totalMs,
  };
  rec.frozen = {
    id: rec.id, folder: rec.folder.path, name: rec.name, lastEventId: cursor.lastEventId,
    active: cursor.status !== 'deactivated', paused: rec.frozen?.paused ?? false, lastError: cursor.lastError,
    backlog: cursor.backlogIds.map((eventId) => ({ eventId, expiresAt: 0 })), updatedAt: Date.now(),
  };
}

/** What `status` shows of `p`; `frontier`: the newest event seen on the site. */
export function snapshotOf(p: PluginRecord, frontier: number): PluginSnapshot {
  const last = p.cursor?.lastEventId ?? p.frozen?.lastEventId ?? null;
  const now = (p.cursor ?? p.draining)?.counters ?? { processed: 0, failed: 0, totalMs: 0 };
  const c = { processed: p.earlier.processed + now.processed, failed: p.earlier.failed + now.failed, totalMs: p.earlier.totalMs + now.totalMs };
  const load = (p.cursor ?? p.draining)?.load() ?? { inFlight: 0, lanesBusy: 0, oldestUnfinished: null };
  return {
    id: p.id,
    name: p.name,
    folder: p.folder.path,
    file: p.entry?.file ?? null,
    kind: p.entry?.kind ?? 'unknown',
    status: p.cursor?.status === 'deactivated' ? 'deactivated' : p.status,
    lastEventId: last,
    backlog: p.cursor?.backlogSize ?? p.frozen?.backlog.length ?? 0,
    lag: last === null ? null : Math.max(0, frontier - last),
    lastError: p.cursor?.lastError ?? p.lastError,
    processed: c.processed,
    failed: c.failed,
    processedSinceReload: now.processed,
    failedSinceReload: now.failed,
    meanMs: c.processed + c.failed > 0 ? c.totalMs / (c.processed + c.failed) : null,
    ...load,
    oldestUnfinishedLag: load.oldestUnfinished === null ? null : Math.max(0, frontier - load.oldestUnfinished),
  };
}
