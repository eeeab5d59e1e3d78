/**
 * A webhook's waiting deliveries, earliest due first. New deliveries all wait the
 * same delay, so they arrive in due order: a FIFO with a moving head (a 50,000-row
 * catch-up must not shift an array per send). Retries are few and due later: a
 * small sorted list beside it.
 */
export interface Due {
  dueAt: number;
}

export class DueQueue<T extends Due> {
  #fresh: T[] = [];
  #head = 0;
  readonly #retries: T[] = [];

  get length(): number {
    return this.#fresh.length - this.#head + this.#retries.length;
  }

  /** A new delivery (due no earlier than the ones before it). */
  push(item: T): void {
    this.#fresh.push(item);
  }

  /** A delivery to try again at `item.dueAt`. */
  retry(item: T): void {
    let i = this.#retries.length;
    while (i > 0 && this.#retries[i - 1]!.dueAt > item.dueAt) i--;
    this.#retries.splice(i, 0, item);
  }

  peek(): T | undefined {
    const f = this.#fresh[this.#head];
    const r = this.#retries[0];
    if (f === undefined) return r;
    if (r === undefined) return f;
    return r.dueAt < f.dueAt ? r : f;
  }

  shift(): T | undefined {
    const next = this.peek();
    if (next === undefined) return undefined;
    if (next === this.#retries[0]) this.#retries.shift();
    else {
      this.#head++;
      // Drop the consumed prefix now and then, not on every shift.
      if (this.#head > 1024 && this.#head * 2 > this.#fresh.length) {
        this.#fresh = this.#fresh.slice(this.#head);
        this.#head = 0;
      }
    }
    return next;
  }

  /** How many are due at `now`, counting at most `max`. */
  dueCount(now: number, max: number): number {
    let n = 0;
    for (let i = this.#head; i < this.#fresh.length && n < max && this.#fresh[i]!.dueAt <= now; i++) n++;
    for (let i = 0; i < this.#retries.length && n < max && this.#retries[i]!.dueAt <= now; i++) n++;
    return n;
  }

  clear(): void {
    this.#fresh = [];
    this.#head = 0;
    this.#retries.length = 0;
  }
}
