// The callback counts and durations a daemon records thousands of times a
// second, kept in plain numbers and bucket arrays until prom-client is loaded
// (at the first `/metrics` request, or a rare recording such as a runtime
// start). A daemon nobody scrapes never loads prom-client: its load (about
// 30 ms of the main thread, in a catch-up's first second) and its process
// collectors are not paid for. No prom-client import here.
import { HistogramSeries } from './fast-histogram.ts';

export const CALLBACK_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
export const LANE_WAIT_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300];

/** Milliseconds as the seconds a histogram observes: a negative or non-finite duration counts as 0. */
export function secondsOf(ms: number): number {
  return Number.isFinite(ms) && ms > 0 ? ms / 1000 : 0;
}

/** One plugin's callbacks: counts, and durations per callback (not yet labelled or bounded). */
export interface HeldPlugin {
  processed: number;
  failed: number;
  durations: Map<string, HistogramSeries>;
}

/** What was recorded before prom-client was there, by plugin in the order first seen. */
export class HeldCounts {
  readonly callbacks = new Map<string, HeldPlugin>();
  readonly laneWaits = new Map<string, HistogramSeries>();

  observeCallback(plugin: string, callback: string, durationMs: number, failed: boolean): void {
    let held = this.callbacks.get(plugin);
    if (held === undefined) {
      held = { processed: 0, failed: 0, durations: new Map() };
      this.callbacks.set(plugin, held);
    }
    if (failed) held.failed++;
    else held.processed++;
    let series = held.durations.get(callback);
    if (series === undefined) {
      series = new HistogramSeries({}, CALLBACK_BUCKETS);
      held.durations.set(callback, series);
    }
    series.observe(secondsOf(durationMs));
  }

  observeLaneWait(plugin: string, ms: number): void {
    let series = this.laneWaits.get(plugin);
    if (series === undefined) {
      series = new HistogramSeries({}, LANE_WAIT_BUCKETS);
      this.laneWaits.set(plugin, series);
    }
    series.observe(secondsOf(ms));
  }
}
