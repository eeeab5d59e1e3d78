// The time a batch's callback spends waiting for a Toolkit runtime (its
// `ctx.toolkit` call queued behind another, or a runtime starting): it does
// not count against `callbackTimeoutMs`, which starts when the runtime
// starts the call.

/** Spans during which at least one request of a batch waited to start. */
export class QueueWait {
  #open = 0;
  #openedAt = 0;
  #spans: Array<{ from: number; to: number }> = [];

  /** Whether a request is waiting now. */
  get waiting(): boolean {
    return this.#open > 0;
  }

  /** A request starts waiting; returns its end, to call once when it starts (or fails first). */
  begin(): () => void {
    if (this.#open++ === 0) this.#openedAt = Date.now();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      if (--this.#open === 0) this.#spans.push({ from: this.#openedAt, to: Date.now() });
    };
  }

  /** How long requests waited since `from` (the start of the callback running), up to now. */
  since(from: number): number {
    this.#spans = this.#spans.filter((s) => s.to > from);
    let ms = 0;
    for (const s of this.#spans) ms += s.to - Math.max(s.from, from);
    if (this.#open > 0) ms += Date.now() - Math.max(this.#openedAt, from);
    return ms;
  }
}
