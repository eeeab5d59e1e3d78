/**
 * The daemon's own recent past, for the status page's charts: a sample every
 * `sampleMs` (newest event id, events handled, each plugin's lag), kept in a
 * ring buffer for `windowMs`. No external service: the page draws these.
 */

/** What one sample reads (the daemon's status fits). */
export interface HistoryStatus {
  newestEventId: number;
  plugins: ReadonlyArray<{ name: string; lag: number | null; processed: number; failed: number }>;
}

interface Sample {
  at: number;
  newestEventId: number;
  handled: number;
  lags: ReadonlyMap<string, number | null>;
}

/** One point of a series: epoch ms and a value (null: unknown then). */
export interface HistoryPoint {
  at: number;
  value: number | null;
}

/** The body of `/api/history`. */
export interface HistoryDocument {
  sampleMs: number;
  windowMs: number;
  /** Events that reached the site's log per second, between consecutive samples. */
  eventsPerSecond: HistoryPoint[];
  /** Events handled by plugins per second (callbacks run, all plugins together). */
  handledPerSecond: HistoryPoint[];
  /** Each plugin's lag (events behind the newest one), by plugin name. */
  lag: Record<string, HistoryPoint[]>;
}

export interface StatusHistoryOptions {
  sampleMs: number;
  windowMs: number;
  read: () => HistoryStatus;
}

/** A fixed-size ring of samples: the oldest is overwritten, memory never grows. */
export class StatusHistory {
  readonly #opts: StatusHistoryOptions;
  readonly #ring: Array<Sample | undefined>;
  #next = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(opts: StatusHistoryOptions) {
    this.#opts = opts;
    this.#ring = new Array<Sample | undefined>(Math.max(2, Math.ceil(opts.windowMs / opts.sampleMs) + 1));
  }

  /** Samples now and every `sampleMs` until `stop()`. */
  start(): void {
    if (this.#timer !== null) return;
    this.sample();
    this.#timer = setInterval(() => this.sample(), this.#opts.sampleMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  sample(at = Date.now()): void {
    const s = this.#opts.read();
    let handled = 0;
    const lags = new Map<string, number | null>();
    for (const p of s.plugins) {
      handled += p.processed + p.failed;
      lags.set(p.name, p.lag);
    }
    this.#ring[this.#next] = { at, newestEventId: s.newestEventId, handled, lags };
    this.#next = (this.#next + 1) % this.#ring.length;
  }

  /** The samples inside the window, oldest first, as series. */
  document(now = Date.now()): HistoryDocument {
    const samples: Sample[] = [];
    for (let i = 0; i < this.#ring.length; i++) {
      const s = this.#ring[(this.#next + i) % this.#ring.length];
      if (s !== undefined && now - s.at <= this.#opts.windowMs) samples.push(s);
    }
    const rate = (pick: (s: Sample) => number): HistoryPoint[] => samples.slice(1).map((s, i) => {
      const prev = samples[i]!;
      const seconds = (s.at - prev.at) / 1000;
      return { at: s.at, value: seconds > 0 ? Math.max(0, pick(s) - pick(prev)) / seconds : null };
    });
    const names = new Set<string>();
    for (const s of samples) for (const name of s.lags.keys()) names.add(name);
    const lag: Record<string, HistoryPoint[]> = {};
    for (const name of [...names].sort()) lag[name] = samples.map((s) => ({ at: s.at, value: s.lags.get(name) ?? null }));
    return {
      sampleMs: this.#opts.sampleMs,
      windowMs: this.#opts.windowMs,
      eventsPerSecond: rate((s) => s.newestEventId),
      handledPerSecond: rate((s) => s.handled),
      lag,
    };
  }
}
