/**
 * A one-line progress bar on a terminal: done/total, events behind, rate
 * and ETA, redrawn in place at most a few times a second. Quiet (draws
 * nothing) when stdout or stderr is not a terminal, or with `--no-progress`,
 * so logs and pipes never get carriage returns.
 */

/** Where a bar draws: the terminal's stderr in the CLI, anything with `write` in a test. */
export interface ProgressStream {
  write(text: string): unknown;
  /** Terminal width; 0 or absent when unknown. */
  columns?: number | undefined;
}

/** True when a bar may be drawn: `--no-progress` not given, and both stdout and stderr are terminals. */
export function progressWanted(flag: boolean | undefined, io: { stdout: { isTTY?: boolean }; stderr: { isTTY?: boolean } } = process): boolean {
  return flag !== false && io.stdout.isTTY === true && io.stderr.isTTY === true;
}

const REDRAW_MS = 150;
/** The rate is measured over about this much recent time. */
const RATE_WINDOW_MS = 5_000;
const BAR_WIDTH = 24;

export class ProgressBar {
  readonly #stream: ProgressStream | null;
  readonly #label: string;
  readonly #now: () => number;
  #lastDraw = -Infinity;
  #marks: Array<{ at: number; done: number }> = [];
  #drawn = false;

  /** `stream` null: a quiet bar (every call is a no-op but `finish`'s message). */
  constructor(stream: ProgressStream | null, label: string, now: () => number = Date.now) {
    this.#stream = stream;
    this.#label = label;
    this.#now = now;
  }

  /** `done` of `total` events; redrawn when the last draw is old enough (or `force`). */
  update(done: number, total: number, force = false): void {
    if (this.#stream === null) return;
    const now = this.#now();
    this.#marks.push({ at: now, done });
    while (this.#marks.length > 2 && now - this.#marks[0]!.at > RATE_WINDOW_MS) this.#marks.shift();
    if (!force && now - this.#lastDraw < REDRAW_MS) return;
    this.#lastDraw = now;
    this.#stream.write(`\r\x1b[K${this.line(done, total)}`);
    this.#drawn = true;
  }

  /** The bar's text: `label [####......] 42% 420/1000 · 580 behind · 310 ev/s · ETA 2 s`. */
  line(done: number, total: number): string {
    const span = Math.max(1, total);
    const frac = Math.min(1, Math.max(0, done / span));
    const filled = Math.round(frac * BAR_WIDTH);
    const behind = Math.max(0, total - done);
    const rate = this.rate();
    const eta = rate === null || rate <= 0 ? '–' : formatEta(behind / rate);
    const text = `${this.#label} [${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${Math.floor(frac * 100)}% ${done}/${total}`
      + ` · ${behind} behind · ${rate === null ? '–' : Math.round(rate)} ev/s · ETA ${eta}`;
    // Never wider than the terminal (a wrapped line cannot be redrawn in place); width unknown (0): as is.
    const width = this.#stream?.columns ?? 0;
    return width <= 0 || text.length < width ? text : text.slice(0, Math.max(10, width - 1));
  }

  /** Events per second over the recent marks; null before two marks. */
  rate(): number | null {
    const first = this.#marks[0];
    const last = this.#marks.at(-1);
    if (first === undefined || last === undefined || last.at <= first.at) return null;
    return ((last.done - first.done) * 1000) / (last.at - first.at);
  }

  /** Clears the bar (if drawn) and writes `message` on its own line. */
  finish(message: string | null, fallback: ProgressStream = process.stderr): void {
    const out = this.#stream ?? fallback;
    if (this.#drawn) out.write('\r\x1b[K');
    this.#drawn = false;
    if (message !== null) out.write(`${message}\n`);
  }
}

function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds)) return '–';
  const s = Math.ceil(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
