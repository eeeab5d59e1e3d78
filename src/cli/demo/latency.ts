/**
 * The demo's change → callback latency: from the moment the site commits an
 * EventLogEntry row to the moment the first plugin callback for it starts. Both
 * run in the demo's process, so one clock measures both ends.
 */
const MAX_TRACKED = 5000;

export class ChangeLatency {
  /** Event id → commit time (ms since the epoch), until its first callback. */
  readonly #committed = new Map<number, number>();
  #window: number[] = [];
  readonly #all: number[] = [];

  /** The site made these ids visible now. */
  committed(ids: readonly number[]): void {
    const now = Date.now();
    for (const id of ids) this.#committed.set(id, now);
    // Rows no plugin matches never see a callback: forget the oldest.
    for (const id of this.#committed.keys()) {
      if (this.#committed.size <= MAX_TRACKED) break;
      this.#committed.delete(id);
    }
  }

  /** A callback for `eventId` started at `startedAt`. */
  callback(eventId: number, startedAt: Date): void {
    const at = this.#committed.get(eventId);
    if (at === undefined) return;
    this.#committed.delete(eventId);
    const ms = Math.max(0, startedAt.getTime() - at);
    this.#window.push(ms);
    if (this.#all.length < 100_000) this.#all.push(ms);
  }

  /** A line for the changes seen since the last call, or null when there were none. */
  takeWindow(label: string): string | null {
    const w = this.#window;
    this.#window = [];
    return w.length === 0 ? null : describe(label, w);
  }

  summary(label: string): string | null {
    return this.#all.length === 0 ? null : describe(label, this.#all);
  }
}

function describe(label: string, values: readonly number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return `${label}: ${sorted.length} change${sorted.length === 1 ? '' : 's'}, p50 ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${sorted[sorted.length - 1]!} ms`;
}
