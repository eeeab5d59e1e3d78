// A plugin's restart budget, the same for a thread and a process: more than
// `count` losses (crash, timeout, memory) within `windowMs`, and the host
// stops starting it again until the plugin is reloaded.

export interface RestartLimit {
  count: number;
  windowMs: number;
}

export class RestartBudget {
  readonly #limit: RestartLimit;
  #losses: number[] = [];

  constructor(limit: RestartLimit) {
    this.#limit = limit;
  }

  /** The thread or process was lost now. */
  lost(): void {
    this.#losses.push(Date.now());
  }

  /** A load starts the budget afresh. */
  reset(): void {
    this.#losses = [];
  }

  /** The losses within the window when there are more than `count`; null while within the budget. */
  spent(): { losses: number; windowMs: number } | null {
    const { count, windowMs } = this.#limit;
    const now = Date.now();
    this.#losses = this.#losses.filter((t) => now - t < windowMs);
    if (this.#losses.length <= count) return null;
    return { losses: this.#losses.length, windowMs };
  }
}
