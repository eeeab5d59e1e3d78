import type { EventSource, SourceLogger } from './types.ts';

/** A plugin whose unread events are nearly as old as a hosted site keeps its log. */
export interface LogAgeWarning {
  plugin: string;
  /** The oldest event the plugin has not finished. */
  eventId: number;
  createdAt: string;
  ageDays: number;
}

/** Where a plugin stands: its cursor, and the lowest id it has not finished (null: none). */
export interface LogPosition {
  plugin: string;
  lastEventId: number | null;
  oldestUnfinished: number | null;
  /** Events behind the newest one; 0 or null: nothing unread, nothing to age. */
  lag: number | null;
}

export interface LogAgeWatchOptions {
  /** Warn when the oldest unread event of a plugin is at least this old. */
  warnAfterMs: number;
  logger: SourceLogger;
}

const DAY_MS = 86_400_000;

/**
 * The event log of a hosted site is readable for about six months; older
 * rows are culled. For each plugin that is behind, reads the first event
 * after its position (one row) and warns when it nears that age, so the
 * operator acts before the log is culled under it (culled-log.ts).
 */
export class LogAgeWatch {
  readonly #source: EventSource;
  readonly #opts: LogAgeWatchOptions;
  #warnings = new Map<string, LogAgeWarning>();

  constructor(source: EventSource, opts: LogAgeWatchOptions) {
    this.#source = source;
    this.#opts = opts;
  }

  /** The warnings of the last check, by plugin name. */
  get warnings(): ReadonlyMap<string, LogAgeWarning> {
    return this.#warnings;
  }

  /** Checks every plugin that is behind; returns the warnings that are new since the last check. */
  async check(positions: readonly LogPosition[], signal?: AbortSignal): Promise<LogAgeWarning[]> {
    const now = Date.now();
    const next = new Map<string, LogAgeWarning>();
    for (const p of positions) {
      if (p.lastEventId === null || !p.lag) continue;
      const pos = p.oldestUnfinished === null ? p.lastEventId : Math.min(p.lastEventId, p.oldestUnfinished - 1);
      const first = (await this.#source.readAfter(pos, 1, signal))[0];
      const created = first?.created_at?.getTime();
      if (first === undefined || created === undefined || now - created < this.#opts.warnAfterMs) continue;
      next.set(p.plugin, { plugin: p.plugin, eventId: first.id, createdAt: new Date(created).toISOString(), ageDays: Math.floor((now - created) / DAY_MS) });
    }
    const fresh = [...next.values()].filter((w) => !this.#warnings.has(w.plugin));
    this.#warnings = next;
    for (const w of next.values()) {
      this.#opts.logger.warn({ plugin: w.plugin, eventId: w.eventId, createdAt: w.createdAt, ageDays: w.ageDays },
        'a plugin\'s oldest unread event nears the age at which a hosted site culls its event log');
    }
    return fresh;
  }
}
