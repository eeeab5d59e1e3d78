// At start-up the daemon's main thread has work that delivers no event:
// loading the log files' rotation code (pino-roll, about 100 ms on a small
// machine) and the status server's and webhook receiver's modules. Done as
// soon as the first plugin starts, it ran just when the first reads of the
// log were due and held up the first event by about that much; begun at the
// first callback's end, it held up the plugins still starting (a JS plugin's
// thread takes longer than a Python plugin's process, started early). It
// begins once every plugin started has ended a callback instead, or `afterMs`
// after the first plugin began starting (a daemon with nothing to do, or a
// site that does not answer, still opens its files and serves its status),
// whichever comes first. Log lines written meanwhile wait in memory
// (logging/log-file.ts).

/** How long after the first plugin began starting the side work begins at the latest. */
export const SIDE_WORK_AFTER_MS = 1000;

export class StartSideWork {
  readonly #run: () => void;
  readonly #afterMs: number;
  readonly #begun = Promise.withResolvers<void>();
  #timer: NodeJS.Timeout | null = null;
  #began = false;
  /** Plugins started that have not ended a callback yet. */
  readonly #waiting = new Set<string>();

  constructor(run: () => void, afterMs = SIDE_WORK_AFTER_MS) {
    this.#run = run;
    this.#afterMs = afterMs;
  }

  /** True once a plugin began starting (the side work is then due within `afterMs`). */
  get armed(): boolean {
    return this.#timer !== null || this.#began;
  }

  /** Resolves once the side work has run. */
  get begun(): Promise<void> {
    return this.#begun.promise;
  }

  /** `plugin` is starting: the side work waits for its first callback, for `afterMs` at most from the first plugin's start. */
  arm(plugin: string): void {
    if (this.#began) return;
    this.#waiting.add(plugin);
    this.#timer ??= setTimeout(() => this.begin(), this.#afterMs);
  }

  /** `plugin` ended a callback: once every plugin started has, the side work begins. */
  served(plugin: string): void {
    if (this.#began || !this.#waiting.delete(plugin)) return;
    if (this.#waiting.size === 0) this.begin();
  }

  /** Begins the side work in the next turn (the caller's own work first); once. */
  begin(): void {
    if (this.#began) return;
    this.#began = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    setImmediate(() => {
      try {
        this.#run();
      } finally {
        this.#begun.resolve();
      }
    });
  }
}
