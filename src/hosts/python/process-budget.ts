/**
 * The daemon-wide bound on forked Python workers (`python.maxProcesses`),
 * shared by every concurrent Python plugin's fork pool. A pool's first
 * worker is always granted (a plugin never starves, so the total can pass
 * the bound by at most one per concurrent plugin); more workers start only
 * while the total is below the bound. A pool that was refused is told when
 * a slot comes back.
 */
export class PythonProcessBudget {
  readonly max: number;
  #used = 0;
  readonly #waiting = new Set<() => void>();

  constructor(max: number) {
    this.max = max;
  }

  /** Workers alive (or starting) across the daemon. */
  get used(): number {
    return this.#used;
  }

  /** Takes a slot: always when `first`, else only below the bound. */
  take(first: boolean): boolean {
    if (!first && this.#used >= this.max) return false;
    this.#used += 1;
    return true;
  }

  /** Gives a slot back and tells the pools that wait for one. */
  give(): void {
    this.#used = Math.max(0, this.#used - 1);
    for (const wake of [...this.#waiting]) wake();
  }

  /** Calls `wake` whenever a slot comes back, until the returned function is called. */
  onFree(wake: () => void): () => void {
    this.#waiting.add(wake);
    return () => this.#waiting.delete(wake);
  }
}
