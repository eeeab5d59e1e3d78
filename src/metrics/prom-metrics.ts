import { createRequire } from 'node:module';
import type { Counter, Gauge, Registry } from 'prom-client';
import type * as PromClient from 'prom-client';
import { pollAgeMs } from './poll-age.ts';
import { FastHistogram, type HistogramSeries } from './fast-histogram.ts';
import { CALLBACK_BUCKETS, LANE_WAIT_BUCKETS, secondsOf, type HeldCounts } from './held-counts.ts';

/**
 * The four parts of prom-client the daemon uses, each loaded from its own
 * file. prom-client's index also loads its Histogram, Summary (tdigest),
 * Pushgateway (http, https) and cluster aggregator (node:cluster), none of
 * which the daemon uses: about 80 ms of CPU against 50 ms here, measured at
 * the first recording (which falls in a catch-up's first second). The types
 * are the package's own.
 */
const requirePart = createRequire(import.meta.url);
const prom = {
  Registry: requirePart('prom-client/lib/registry') as typeof PromClient.Registry,
  Counter: requirePart('prom-client/lib/counter') as typeof PromClient.Counter,
  Gauge: requirePart('prom-client/lib/gauge') as typeof PromClient.Gauge,
  collectDefaultMetrics: requirePart('prom-client/lib/defaultMetrics') as typeof PromClient.collectDefaultMetrics,
};

/** One finished callback, as the dispatcher reports it (a `TimingRecord` fits). */
export interface CallbackObservation {
  plugin: string;
  callback: string;
  durationMs: number;
  /** null when the callback succeeded. */
  error: string | null;
}

/**
 * What the gauges read at scrape time. The daemon's status satisfies it
 * structurally; metrics never imports the daemon (it sits below it).
 */
export interface MetricsStatus {
  newestEventId: number;
  /** ISO time of the daemon's start: the reference for the poll age before the first successful read. */
  startedAt: string;
  lastSuccessfulReadAt: string | null;
  /** Failed site requests since start (a running count; exported as a counter by delta). */
  siteErrors: number;
  plugins: ReadonlyArray<{ name: string; status: string; lag: number | null; backlog: number; inFlight?: number }>;
  /** `rssMb`: resident memory now; `peakRssMb`: the most the runtime has held. */
  runtimes: ReadonlyArray<{ key: string; rssMb: number | null; peakRssMb?: number | null }>;
}

export interface DaemonMetricsOptions {
  /** Read at every scrape to set the gauges. Without it, only counters and process metrics are exported. */
  status?: () => MetricsStatus;
  /** Prefix of prom-client's process metrics (default `sgeventd_`). */
  defaultMetricsPrefix?: string;
  /** Distinct values kept per label before new ones are folded into `other` (default 500). */
  maxLabelValues?: number;
}

/** A plugin's series, bound once: a catch-up observes thousands of callbacks a second. */
interface BoundPlugin {
  plugin: string;
  processed: { inc(n?: number): void };
  failed: { inc(n?: number): void };
  duration: Map<string, HistogramSeries>;
}

const MAX_LABEL_LENGTH = 120;
const OVERFLOW_LABEL = 'other';

/**
 * The daemon's Prometheus series on a registry of their own (never the
 * global one, so two daemons in one process, or tests, do not collide).
 * Counters are fed as things happen (`observeCallback`, `runtimeStarted`,
 * `runtimeCrashed`); gauges are set from a status snapshot at scrape time.
 * Labels are plugin names, callback names, project labels and runtime keys,
 * never event ids, and each label keeps at most `maxLabelValues` values.
 * Built by `DaemonMetrics` once prom-client is loaded (see daemon-metrics.ts).
 */
export class PromMetrics {
  readonly registry: Registry;
  readonly #status: (() => MetricsStatus) | undefined;
  readonly #maxLabelValues: number;
  readonly #seen = new Map<string, Set<string>>();
  /** Bound series per plugin and callback: a catch-up observes thousands of callbacks a second, and binding hashes the labels once. */
  readonly #bound = new Map<string, BoundPlugin>();
  readonly #processed: Counter<'plugin'>;
  readonly #failed: Counter<'plugin'>;
  readonly #duration: FastHistogram<'plugin' | 'callback'>;
  readonly #laneWait: FastHistogram<'plugin'>;
  readonly #laneWaitBound = new Map<string, HistogramSeries>();
  readonly #runtimeStarts: Counter<'project'>;
  readonly #runtimeCrashes: Counter<'project'>;
  readonly #webhookDeliveries: Counter<'result'>;
  readonly #webhookSilent: Counter;
  #siteErrorsSeen = 0;
  #snapshot: MetricsStatus | null = null;

  constructor(opts: DaemonMetricsOptions = {}) {
    this.registry = new prom.Registry();
    this.#status = opts.status;
    this.#maxLabelValues = opts.maxLabelValues ?? 500;
    const registers = [this.registry];
    this.#processed = new prom.Counter({
      name: 'sgeventd_events_processed_total', help: 'Callback runs that finished without error, per plugin.', labelNames: ['plugin'], registers,
    });
    this.#failed = new prom.Counter({
      name: 'sgeventd_events_failed_total', help: 'Callback runs that raised or timed out, per plugin.', labelNames: ['plugin'], registers,
    });
    this.#duration = new FastHistogram({
      name: 'sgeventd_callback_duration_seconds', help: 'Time spent in one plugin callback for one event.',
      labelNames: ['plugin', 'callback'], buckets: CALLBACK_BUCKETS, registers,
    });
    this.#laneWait = new FastHistogram({
      name: 'sgeventd_key_lane_wait_seconds', help: 'Time an event of a concurrent plugin waited in its key lane before its callbacks started.',
      labelNames: ['plugin'], buckets: LANE_WAIT_BUCKETS, registers,
    });
    this.#runtimeStarts = new prom.Counter({
      name: 'sgeventd_runtime_starts_total', help: 'Toolkit project runtimes started, per project label.', labelNames: ['project'], registers,
    });
    this.#runtimeCrashes = new prom.Counter({
      name: 'sgeventd_runtime_crashes_total', help: 'Toolkit project runtimes that died unexpectedly, per project label.', labelNames: ['project'], registers,
    });

    this.#webhookDeliveries = new prom.Counter({
      name: 'sgeventd_webhook_deliveries_total', help: 'Requests to the webhook receiver by result (accepted, malformed, unsigned, bad_signature, too_large).',
      labelNames: ['result'], registers,
    });
    this.#webhookSilent = new prom.Counter({
      name: 'sgeventd_webhook_silent_total', help: 'Times the webhook went silent: polling found an expected event no delivery covered.', registers,
    });

    this.#gauge({ name: 'sgeventd_lag_events', help: 'Events between the plugin cursor and the newest event seen on the site.', labelNames: ['plugin'] }, (g, s) => {
      g.reset();
      for (const p of s.plugins) if (p.lag !== null) g.set({ plugin: this.#label('plugin', p.name) }, p.lag);
    });
    this.#gauge({ name: 'sgeventd_backlog_size', help: 'Missing event ids a plugin still waits for.', labelNames: ['plugin'] }, (g, s) => {
      g.reset();
      for (const p of s.plugins) g.set({ plugin: this.#label('plugin', p.name) }, p.backlog);
    });
    this.#gauge({ name: 'sgeventd_inflight', help: 'Events whose callbacks are running now, per plugin.', labelNames: ['plugin'] }, (g, s) => {
      g.reset();
      for (const p of s.plugins) g.set({ plugin: this.#label('plugin', p.name) }, p.inFlight ?? 0);
    });
    this.#gauge({ name: 'sgeventd_plugin_active', help: '1 when the plugin is running, 0 otherwise (deactivated, failed to load, disabled...).', labelNames: ['plugin'] }, (g, s) => {
      g.reset();
      for (const p of s.plugins) g.set({ plugin: this.#label('plugin', p.name) }, p.status === 'running' ? 1 : 0);
    });
    this.#gauge({ name: 'sgeventd_newest_event_id', help: 'The newest EventLogEntry id the daemon has seen.' }, (g, s) => {
      g.set(s.newestEventId);
    });
    this.#gauge({ name: 'sgeventd_last_poll_age_seconds', help: 'Seconds since the last successful read of the event log (since start before the first one).' }, (g, s) => {
      g.set(pollAgeMs(s, Date.now()) / 1000);
    });
    this.#gauge({ name: 'sgeventd_runtime_rss_bytes', help: 'Resident memory of each Toolkit project runtime.', labelNames: ['key'] }, (g, s) => {
      g.reset();
      for (const r of s.runtimes) if (r.rssMb !== null) g.set({ key: this.#label('key', r.key) }, Math.round(r.rssMb * 1024 * 1024));
    });
    this.#gauge({ name: 'sgeventd_runtime_peak_rss_bytes', help: 'The most resident memory each Toolkit project runtime has held.', labelNames: ['key'] }, (g, s) => {
      g.reset();
      for (const r of s.runtimes) {
        if (r.peakRssMb !== undefined && r.peakRssMb !== null) g.set({ key: this.#label('key', r.key) }, Math.round(r.peakRssMb * 1024 * 1024));
      }
    });
    const current = (): MetricsStatus | null => this.#current();
    const siteErrorsDelta = (total: number): number => {
      // The status holds a running count; a smaller one means it was reset, so all of it is new.
      const delta = total >= this.#siteErrorsSeen ? total - this.#siteErrorsSeen : total;
      this.#siteErrorsSeen = total;
      return delta;
    };
    new prom.Counter({
      name: 'sgeventd_site_request_errors_total', help: 'Requests to the ShotGrid site that failed (each retry counts).', registers,
      collect() {
        const s = current();
        const delta = s ? siteErrorsDelta(s.siteErrors) : 0;
        if (delta > 0) this.inc(delta);
      },
    });
    prom.collectDefaultMetrics({ register: this.registry, prefix: opts.defaultMetricsPrefix ?? 'sgeventd_' });
  }

  /** Counts one finished callback and records its duration. */
  observeCallback(record: CallbackObservation): void {
    const bound = this.#plugin(record.plugin);
    if (record.error === null) bound.processed.inc();
    else bound.failed.inc();
    this.#durationOf(bound, record.callback).observe(secondsOf(record.durationMs));
  }

  /** An event of a concurrent plugin waited `ms` in its key lane before it started. */
  observeLaneWait(plugin: string, ms: number): void {
    this.#laneWaitOf(plugin).observe(secondsOf(ms));
  }

  /** Adds what was recorded before prom-client was loaded (held-counts.ts), plugins in the order first seen. */
  absorb(held: HeldCounts): void {
    for (const [plugin, h] of held.callbacks) {
      const bound = this.#plugin(plugin);
      if (h.processed > 0) bound.processed.inc(h.processed);
      if (h.failed > 0) bound.failed.inc(h.failed);
      for (const [callback, series] of h.durations) this.#durationOf(bound, callback).add(series);
    }
    for (const [plugin, series] of held.laneWaits) this.#laneWaitOf(plugin).add(series);
  }

  #plugin(name: string): BoundPlugin {
    const plugin = this.#label('plugin', name);
    let bound = this.#bound.get(plugin);
    if (bound === undefined) {
      // Both series exist from the first event on, so rate(failed) is 0, not absent.
      this.#processed.inc({ plugin }, 0);
      this.#failed.inc({ plugin }, 0);
      bound = { plugin, processed: this.#processed.labels({ plugin }), failed: this.#failed.labels({ plugin }), duration: new Map() };
      this.#bound.set(plugin, bound);
    }
    return bound;
  }

  #durationOf(bound: BoundPlugin, name: string): HistogramSeries {
    const callback = this.#label('callback', name);
    let duration = bound.duration.get(callback);
    if (duration === undefined) {
      duration = this.#duration.labels({ plugin: bound.plugin, callback });
      bound.duration.set(callback, duration);
    }
    return duration;
  }

  #laneWaitOf(plugin: string): HistogramSeries {
    const label = this.#label('plugin', plugin);
    let bound = this.#laneWaitBound.get(label);
    if (bound === undefined) {
      bound = this.#laneWait.labels({ plugin: label });
      this.#laneWaitBound.set(label, bound);
    }
    return bound;
  }

  /** A Toolkit runtime started; `project` is the project label (`122` or `122,123`), never anything per event. */
  runtimeStarted(project: string): void {
    this.#runtimeStarts.inc({ project: this.#label('project', project) });
  }

  /** A Toolkit runtime died without being asked to stop. */
  runtimeCrashed(project: string): void {
    this.#runtimeCrashes.inc({ project: this.#label('project', project) });
  }

  /** The webhook receiver is on: its series exist from the start (`rate()` is 0, not absent). */
  webhooksOn(results: readonly string[]): void {
    for (const result of results) this.#webhookDeliveries.inc({ result }, 0);
    this.#webhookSilent.inc(0);
  }

  /** One request to the webhook receiver; `result` is one of a fixed few values. */
  webhookDelivery(result: string): void {
    this.#webhookDeliveries.inc({ result });
  }

  /** The webhook went silent (once per silence). */
  webhookSilent(): void {
    this.#webhookSilent.inc();
  }

  /** The exposition text; takes one status snapshot for all gauges. */
  async metrics(): Promise<string> {
    this.#snapshot = this.#status ? this.#status() : null;
    try {
      return await this.registry.metrics();
    } finally {
      this.#snapshot = null;
    }
  }

  /** A gauge set from the status snapshot at each scrape. */
  #gauge<T extends string>(config: { name: string; help: string; labelNames?: T[] }, fill: (gauge: Gauge<T>, status: MetricsStatus) => void): void {
    const current = (): MetricsStatus | null => this.#current();
    new prom.Gauge<T>({
      ...config,
      registers: [this.registry],
      collect() {
        const s = current();
        if (s) fill(this, s);
      },
    });
  }

  #current(): MetricsStatus | null {
    return this.#snapshot ?? (this.#status ? this.#status() : null);
  }

  /** Bounded label values: long ones are cut, and past the limit new values share `other`. */
  #label(name: string, value: string): string {
    const v = value.length > MAX_LABEL_LENGTH ? value.slice(0, MAX_LABEL_LENGTH) : value;
    let seen = this.#seen.get(name);
    if (!seen) {
      seen = new Set();
      this.#seen.set(name, seen);
    }
    if (seen.has(v)) return v;
    if (seen.size >= this.#maxLabelValues) return OVERFLOW_LABEL;
    seen.add(v);
    return v;
  }
}
