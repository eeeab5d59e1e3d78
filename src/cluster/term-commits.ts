// A term's commits of its cursor through the lease's fence: one write at a
// time, the dead letters recorded since the last commit stored before the
// cursor that passes their events, and a failed commit's changes kept for the
// next one (docs/ARCHITECTURE.md, "A plugin per node at a time").
import type { Logger } from 'pino';
import type { NewDeadLetter } from '../state/index.ts';
import type { WorkerCursor, WorkerCursorState } from './cursor.ts';
import type { DeadLetterBook } from './dead-letters.ts';
import type { HeldLease } from './lease-types.ts';

/** The fenced commits of one term (active-run.ts). */
export class TermCommits {
  readonly #cursor: WorkerCursor;
  readonly #held: HeldLease<WorkerCursorState | null>;
  readonly #book: DeadLetterBook | undefined;
  readonly #log: Logger;
  #committing: Promise<void> | null = null;
  /** Dead letters recorded since the last commit took them (written before that commit's cursor). */
  #letters: NewDeadLetter[] = [];

  constructor(cursor: WorkerCursor, held: HeldLease<WorkerCursorState | null>, book: DeadLetterBook | undefined, log: Logger) {
    this.#cursor = cursor;
    this.#held = held;
    this.#book = book;
    this.#log = log;
  }

  /** A dead letter of a finished event, stored with the next commit (dropped when the cluster keeps none). */
  record(entry: NewDeadLetter): void {
    if (this.#book !== undefined) this.#letters.push(entry);
  }

  /**
   * Commits the cursor's changes, after any commit under way. Resolves true
   * when a write was tried (it may have failed: its changes stay for the
   * next), false when there was nothing to write or the lease is gone.
   */
  async commit(): Promise<boolean> {
    if (this.#committing !== null) {
      await this.#committing;
    }
    if (this.#cursor.dirty === 0 || this.#held.signal.aborted) return false;
    this.#committing = (async () => {
      // Taken together: every event the snapshot counts finished has its dead letters in `letters`.
      const ticket = this.#cursor.takeChanges();
      const snap = this.#cursor.snapshot();
      const letters = this.#letters;
      this.#letters = [];
      try {
        // Stored before the cursor passes their events: a death in between runs the event again, never loses its letter.
        for (const [i, entry] of letters.entries()) {
          try {
            await this.#book?.add(entry);
          } catch (err) {
            this.#letters.unshift(...letters.slice(i));
            throw err;
          }
        }
        await this.#held.write(snap);
        this.#cursor.confirmChanges(ticket);
      } catch (err) {
        this.#cursor.restoreChanges(ticket);
        if (!this.#held.signal.aborted) this.#log.warn({ err }, 'committing the plugin cursor failed; trying again');
      }
    })().finally(() => {
      this.#committing = null;
    });
    await this.#committing;
    return true;
  }
}
