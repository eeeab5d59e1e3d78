// The daemon's metrics as the rest of the daemon sees them. prom-client (and
// the series built on it, prom-metrics.ts) is loaded only when `/metrics` is
// first asked or something rare is recorded (a runtime start, a webhook), not
// while the daemon starts (about 0.1 s of CPU off the way to the first event)
// nor at the first callback (about 30 ms in a catch-up's first second).
// Callbacks and lane waits recorded before are held as counts and buckets
// (held-counts.ts), other recordings in order; all are applied once it is
// there, so no count is lost.
import { HeldCounts } from './held-counts.ts';
import type { CallbackObservation, DaemonMetricsOptions, PromMetrics } from './prom-metrics.ts';

/** The content type of `metrics()`: prom-client's default registry type (Prometheus text 0.0.4). */
const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * The daemon's Prometheus metrics (see `PromMetrics` for the series).
 * Recording never waits: before prom-client is loaded, a recording is queued
 * and starts the load; `metrics()` waits for it.
 *
 * @example
 * const metrics = new DaemonMetrics({ status: () => daemon.status() });
 * onTiming: (r) => metrics.observeCallback(r);
 * res.end(await metrics.metrics());
 */
export class DaemonMetrics {
  readonly #opts: DaemonMetricsOptions;
  #loading: Promise<PromMetrics> | null = null;
  #live: PromMetrics | null = null;
  /** Recordings made before prom-client is loaded, applied in order once it is loaded. */
  #queued: Array<(m: PromMetrics) => void> = [];
  /** Callbacks and lane waits recorded before prom-client is loaded (the hot ones: they do not load it). */
  #held: HeldCounts | null = new HeldCounts();
  #loadFailed = false;

  constructor(opts: DaemonMetricsOptions = {}) {
    this.#opts = opts;
  }

  /** Content type of `metrics()` (Prometheus text 0.0.4). */
  get contentType(): string {
    return CONTENT_TYPE;
  }

  /** Whether prom-client has been loaded (tests of the start-up check it). */
  get loaded(): boolean {
    return this.#live !== null;
  }

  /** Counts one finished callback and records its duration. */
  observeCallback(record: CallbackObservation): void {
    if (this.#live !== null) this.#live.observeCallback(record);
    else this.#held?.observeCallback(record.plugin, record.callback, record.durationMs, record.error !== null);
  }

  /** An event of a concurrent plugin waited `ms` in its key lane before it started. */
  observeLaneWait(plugin: string, ms: number): void {
    if (this.#live !== null) this.#live.observeLaneWait(plugin, ms);
    else this.#held?.observeLaneWait(plugin, ms);
  }

  /** A Toolkit runtime started; `project` is the project label (`122` or `122,123`), never anything per event. */
  runtimeStarted(project: string): void {
    this.#record((m) => m.runtimeStarted(project));
  }

  /** A Toolkit runtime died without being asked to stop. */
  runtimeCrashed(project: string): void {
    this.#record((m) => m.runtimeCrashed(project));
  }

  /** The webhook receiver is on: its series exist from the start (`rate()` is 0, not absent). */
  webhooksOn(results: readonly string[]): void {
    // Series at 0, not a count: kept for the load, which it does not start (a daemon with webhooks starts as quickly).
    this.#record((m) => m.webhooksOn(results), false);
  }

  /** One request to the webhook receiver; `result` is one of a fixed few values. */
  webhookDelivery(result: string): void {
    this.#record((m) => m.webhookDelivery(result));
  }

  /** The webhook went silent (once per silence). */
  webhookSilent(): void {
    this.#record((m) => m.webhookSilent());
  }

  /** The exposition text; takes one status snapshot for all gauges. */
  async metrics(): Promise<string> {
    return (await this.#load()).metrics();
  }

  #record(apply: (m: PromMetrics) => void, load = true): void {
    if (this.#live !== null) {
      apply(this.#live);
      return;
    }
    if (this.#loadFailed) return;
    this.#queued.push(apply);
    // A failed load is reported by the next `metrics()`, which rejects with it (a 500 on /metrics, logged).
    if (load) this.#load().catch(() => undefined);
  }

  #load(): Promise<PromMetrics> {
    this.#loading ??= import('./prom-metrics.ts').then(({ PromMetrics }) => {
      const live = new PromMetrics(this.#opts);
      if (this.#held !== null) live.absorb(this.#held);
      this.#held = null;
      for (const apply of this.#queued) apply(live);
      this.#queued = [];
      this.#live = live;
      return live;
    }, (err: unknown) => {
      // Nothing will apply them: keep no memory for them, nor for later ones.
      this.#loadFailed = true;
      this.#queued = [];
      this.#held = null;
      throw err;
    });
    return this.#loading;
  }
}
