/**
 * The one owner of SIGINT/SIGTERM. Subsystems register a stop step; the
 * first signal runs them in reverse order of registration, a second signal
 * exits at once. A signal that comes while the program is still starting
 * (before `arm()`) is held: starting finishes, then the steps run, so a stop
 * never races the start.
 */
export class Shutdown {
  readonly #steps: Array<() => Promise<void>> = [];
  #done: Promise<void> | null = null;
  #signals = 0;
  #armed = false;
  #held = false;
  #resolveFinished: () => void = () => undefined;
  /** Resolves once every step ran (after a signal or `run()`). */
  readonly finished: Promise<void>;
  readonly #onSignal = (sig: NodeJS.Signals): void => {
    if (++this.#signals > 1) {
      process.stderr.write(`sgeventd: ${sig} again, exiting now\n`);
      process.exit(130);
    }
    this.#armDeadline();
    if (this.#armed) void this.run();
    else this.#held = true;
  };

  #armDeadline(): void {
    const ms = this.deadlineMs;
    if (ms === null) return;
    const timer = setTimeout(() => {
      process.stderr.write(`sgeventd: the graceful stop did not finish within ${ms} ms; exiting now\n`);
      process.exit(1);
    }, ms);
    timer.unref();
    void this.finished.then(() => clearTimeout(timer));
  }

  constructor() {
    this.finished = new Promise((resolve) => {
      this.#resolveFinished = resolve;
    });
    process.on('SIGINT', this.#onSignal);
    process.on('SIGTERM', this.#onSignal);
  }

  /** Starting is over: a signal held meanwhile runs the steps now. */
  arm(): void {
    this.#armed = true;
    if (this.#held) void this.run();
  }

  /**
   * A stop that has not finished this long after a signal ends the process
   * (exit 1), as a crash would: a step that hangs must not keep a node's
   * process, and with it its place, forever. Null: no deadline.
   */
  deadlineMs: number | null = null;

  register(step: () => Promise<void>): void {
    this.#steps.push(step);
  }

  run(): Promise<void> {
    this.#done ??= (async () => {
      for (const step of [...this.#steps].reverse()) {
        try {
          await step();
        } catch (err) {
          process.stderr.write(`sgeventd: a shutdown step failed: ${String(err)}\n`);
        }
      }
      process.off('SIGINT', this.#onSignal);
      process.off('SIGTERM', this.#onSignal);
      this.#resolveFinished();
    })();
    return this.#done;
  }
}
