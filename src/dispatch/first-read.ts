// The engine's first read of the log (its newest id) at start-up. It runs
// beside the plugins' loads, and starts only once every plugin found has its
// thread or process starting (or needs none), in the turn after: Node
// compiles its fetch at the first request, a block of the main thread that,
// run first, held up the plugin threads' own start by that much; run after,
// it overlaps their boot on the other core. A plugin's cursor is placed once
// both its load and this read are done (`newest`).

export class FirstRead {
  readonly #newest = Promise.withResolvers<number>();
  readonly #starting: Promise<void>[] = [];

  constructor() {
    this.#newest.promise.catch(() => undefined); // handled by whoever awaits `newest`
  }

  /** The log's newest id at start; rejects with the read's error. */
  get newest(): Promise<number> {
    return this.#newest.promise;
  }

  /**
   * `load(started)` for one more plugin to wait for: it calls `started` once
   * the plugin's thread or process is starting; its end counts too.
   */
  track(load: (started: () => void) => Promise<void>): Promise<void> {
    const started = Promise.withResolvers<void>();
    this.#starting.push(started.promise);
    const resolve = (): void => started.resolve();
    return load(resolve).finally(resolve);
  }

  /** Runs `read` once every plugin waited for is starting, in the next turn; its result or error is `newest`'s. */
  start(read: () => Promise<number>): void {
    void Promise.all(this.#starting)
      .then(() => new Promise<void>((resolve) => setImmediate(resolve)))
      .then(read)
      .then((n) => this.#newest.resolve(n), (err: unknown) => this.#newest.reject(err));
  }
}
