// Creation folding (`coalesceCreation`, coalesce.ts) as a concurrent cursor
// applies it: each read's rows folded into their `_New` and indexed for the
// read loop, and once at start, the rows above the stored position whose
// `_New` at or below it finished, to be passed over.
import type { EventLogEntry } from '../shared/index.ts';
import type { EventLog } from '../source/index.ts';
import { foldCreations, foldHorizon, rowsFoldedBelow, type CoalesceOptions } from './coalesce.ts';
import type { UnfinishedIds } from './unfinished-ids.ts';

/** A read after folding: how many events it takes, the events to run by id, each folded row's `_New`, rows past the read folded into a `_New` it took. */
export interface ReadFold {
  taken: number;
  byId: Map<number, EventLogEntry>;
  rowOf: Map<number, number>;
  ahead: Map<number, number>;
}

export class ConcurrentFolding {
  readonly #coalesce: CoalesceOptions | undefined;
  /** The most one read can take (a read, or the window when smaller). */
  readonly #readSize: number;
  /** Whether the rows folded below the stored position were looked up. */
  #lookedBehind = false;

  constructor(coalesce: CoalesceOptions | undefined, readSize: number) {
    this.#coalesce = coalesce;
    this.#readSize = readSize;
  }

  get enabled(): boolean {
    return this.#coalesce !== undefined;
  }

  /** How far after its `_New` a row may fold: half the most one read can take. */
  get #horizon(): number {
    return foldHorizon(this.#readSize);
  }

  /** Folds creation rows when the plugin asks for it; otherwise takes every event as it is. */
  fold(events: readonly EventLogEntry[], more: boolean, now?: number, firstWaits = false): ReadFold {
    const byId = new Map<number, EventLogEntry>();
    const rowOf = new Map<number, number>();
    if (this.#coalesce === undefined) return { taken: events.length, byId, rowOf, ahead: new Map() };
    const folded = foldCreations(events, { ...this.#coalesce, horizon: this.#horizon }, more, now, firstWaits);
    for (const event of folded.events) byId.set(event.id, event);
    for (const [owner, rows] of folded.folded) for (const row of rows) rowOf.set(row, owner);
    return { taken: folded.taken, byId, rowOf, ahead: folded.ahead };
  }

  /**
   * Once at start: rows above the stored position whose `_New` at or below it
   * finished are passed over. Resolves once done (or with nothing to do); a
   * failed read throws, and the caller tries again.
   */
  async lookBehind(log: EventLog, ids: UnfinishedIds, signal: AbortSignal): Promise<void> {
    if (this.#coalesce === undefined || this.#lookedBehind) return;
    const below = await rowsFoldedBelow(log, ids.high, { ...this.#coalesce, horizon: this.#horizon }, signal);
    // A pending `_New`'s rows are pending too: read again with it.
    ids.passOverFolded(below);
    this.#lookedBehind = true;
  }
}
