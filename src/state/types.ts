/**
 * The daemon's durable state, behind a small async interface so a PostgreSQL
 * backend can sit beside the SQLite one later. The dispatcher keeps its hot
 * state in memory and hands the store one `StateBatch` per flush; every batch
 * is one transaction.
 */

/** A plugin is known by its folder (absolute path) and its file name without extension. */
export interface PluginRef {
  folder: string;
  name: string;
}

export interface BacklogEntry {
  eventId: number;
  /** Epoch ms after which the missing event id is given up (a 'gap'; 0 for 'pending'). */
  expiresAt: number;
  /**
   * 'gap' (default): an id not read yet, waiting for a late commit until it
   * expires. 'pending': an event a concurrent plugin was handed and has not
   * finished; never expires, delivered again after a restart.
   */
  kind?: BacklogKind;
}

export type BacklogKind = 'gap' | 'pending';

/** A plugin's stored cursor row, as a batch upserts it. */
export interface PluginRow {
  id: string;
  folder: string;
  name: string;
  /** Last event id whose callbacks all finished; null before the first event. */
  lastEventId: number | null;
  active: boolean;
  lastError: string | null;
}

export interface PluginState extends PluginRow {
  /** Paused by `sgeventd plugin disable` until `enable`; kept across restarts, never written by a batch. */
  paused: boolean;
  /** Sorted by event id. */
  backlog: BacklogEntry[];
  /** Epoch ms of the last change. */
  updatedAt: number;
}

/** Per-callback counters; in a batch, processed/failed/totalMs are increments since the last flush. */
export interface CounterDelta {
  pluginId: string;
  callback: string;
  processed: number;
  failed: number;
  totalMs: number;
  lastEventId?: number;
  lastError?: string | null;
}

export interface NewDeadLetter {
  pluginId: string;
  callback: string;
  eventId: number;
  /** The event as received (stored as JSON). */
  event: unknown;
  error: string;
  attempts: number;
}

/** Everything the dispatcher changed since its last flush. Applied in this order: plugins, backlogRemove, backlogAdd, counters, deadLetters. */
export interface StateBatch {
  /** Upserts (the whole row). */
  plugins?: PluginRow[];
  backlogAdd?: Array<{ pluginId: string } & BacklogEntry>;
  backlogRemove?: Array<{ pluginId: string; eventId: number }>;
  counters?: CounterDelta[];
  deadLetters?: NewDeadLetter[];
}

export interface CallbackCounters {
  pluginId: string;
  callback: string;
  processed: number;
  failed: number;
  totalMs: number;
  lastEventId: number | null;
  lastError: string | null;
  updatedAt: number;
}

export type DeadLetterStatus = 'dead' | 'retry';

export interface DeadLetter extends NewDeadLetter {
  id: number;
  status: DeadLetterStatus;
  createdAt: number;
  updatedAt: number;
}

export interface DeadLetterStore {
  /** Ordered by id. */
  list(filter?: { pluginId?: string; status?: DeadLetterStatus }): Promise<DeadLetter[]>;
  /** Marks dead entries for retry (the daemon picks them up with takeRetries); returns how many changed. */
  requestRetry(ids: number[] | 'all', pluginId?: string): Promise<number>;
  /** Deletes entries; returns how many. */
  drop(ids: number[] | 'all', pluginId?: string): Promise<number>;
  /**
   * Entries of a plugin marked for retry, oldest first, that this store has not
   * handed out yet. They stay 'retry' on disk until resolve() or fail(), so a
   * crash in between hands them out again after a restart (at least once).
   */
  takeRetries(pluginId: string, limit: number): Promise<DeadLetter[]>;
  /** The retried event went through: the entry is deleted. */
  resolve(id: number): Promise<void>;
  /** The retried event failed again: back to 'dead', attempts + 1, error replaced. */
  fail(id: number, error: string): Promise<void>;
  /** Hands an entry back untouched (its retry was cut short by a stop): still 'retry', takeRetries gives it out again. */
  release(id: number): void;
}

export interface StateStore {
  /** The first call records the site; a later call with another site fails with STATE_SITE_MISMATCH. */
  bindSite(siteUrl: string): Promise<void>;
  /** The site recorded by bindSite, if any. */
  boundSite(): Promise<string | undefined>;
  /** Every plugin ever seen, with its backlog; ordered by id. */
  loadPlugins(): Promise<PluginState[]>;
  getPlugin(id: string): Promise<PluginState | undefined>;
  /** Applies a batch in one transaction: all of it or none of it. */
  commit(batch: StateBatch): Promise<void>;
  counters(pluginId?: string): Promise<CallbackCounters[]>;
  readonly deadLetters: DeadLetterStore;
  /** For `sgeventd plugin enable NAME` (back after an error); STATE_UNKNOWN_PLUGIN when there is no such plugin. */
  setPluginActive(id: string, active: boolean): Promise<void>;
  /** For `sgeventd plugin disable|enable NAME` (an operator's pause); STATE_UNKNOWN_PLUGIN when there is no such plugin. */
  setPluginPaused(id: string, paused: boolean): Promise<void>;
  /** Idempotent. */
  close(): Promise<void>;
}
