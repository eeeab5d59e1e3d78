/**
 * The site's throttle on webhook consumers (protocol.md 4): across all of a
 * site's webhooks, one minute of consumer response time per minute. A bucket
 * of `budgetMs` of answer time, refilled evenly over `windowMs`: each answer
 * spends its duration; while the bucket is empty every sender waits. Bursts
 * pass at once, a receiver that answers in 6 s gets 10 deliveries a minute,
 * and it recovers as time passes.
 */
export class ResponseBudget {
  readonly #capacity: number;
  /** Refill per millisecond. */
  readonly #rate: number;
  readonly #now: () => number;
  #balance: number;
  #at: number;

  constructor(budgetMs: number, windowMs: number, now: () => number = Date.now) {
    this.#capacity = budgetMs;
    this.#rate = budgetMs / windowMs;
    this.#now = now;
    this.#balance = budgetMs;
    this.#at = now();
  }

  #refill(): void {
    const now = this.#now();
    this.#balance = Math.min(this.#capacity, this.#balance + (now - this.#at) * this.#rate);
    this.#at = now;
  }

  /** One answer took `ms`. */
  spend(ms: number): void {
    this.#refill();
    this.#balance -= Math.max(0, ms);
  }

  /** How long a sender must wait before its next request (0: send now). */
  waitMs(): number {
    this.#refill();
    return this.#balance > 0 ? 0 : Math.ceil(-this.#balance / this.#rate) + 1;
  }
}
