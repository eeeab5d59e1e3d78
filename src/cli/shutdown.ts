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
    if (this.#armed) void this.run();
    else this.#held = true;
  };

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
