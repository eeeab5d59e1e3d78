// One term of a plugin's worker as the plugin's active node: reads the event
// stream from the stored cursor (event-stream.ts: an ordered consumer, made
// again after missed heartbeats or a reconnect), runs events through key
// lanes and the dispatch steps, and commits the cursor through the lease's fence.
import type { Logger } from 'pino';
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { pluginOptionsFor, type DaemonConfig, type PluginFolderConfig } from '../config/index.ts';
import { buildScope, effectiveConcurrency, inScope, KeyLanes, laneKey, reportDeactivation, runEvent, type EventScope, type PluginFailure, type ProjectDirectory, type StepContext, type StepRecorder, type TimingRecord } from '../dispatch/index.ts';
import type { LoadResult, PluginHost } from '../hosts/index.ts';
import type { SerializedError } from '../plugins/index.ts';
import { sleepLong, type EventLogEntry } from '../shared/index.ts';
import { toEventLogEntry } from '../source/index.ts';
import type { WorkerCursor, WorkerCursorState } from './cursor.ts';
import { checkFormat, FORMAT_HEADER } from './format.ts';
import type { ClusterDeadLetter, DeadLetterBook } from './dead-letters.ts';
import { partitionOf } from './names.ts';
import { readEventStream } from './event-stream.ts';
import type { HeldLease } from './lease-types.ts';
import { TermCommits } from './term-commits.ts';

/** What a term needs of its worker (counters, events in flight for the status) and of the node. */
export interface ActiveRunParts {
  readonly counters: { processed: number; skipped: number; failed: number; totalMs: number };
  track(q: { event: EventLogEntry; seq: number }): void;
  untrack(seq: number): void;
}

export interface ActiveRunOptions {
  id: string;
  entry: { name: string };
  folder: PluginFolderConfig;
  config: DaemonConfig;
  directory: ProjectDirectory;
  js: JetStreamClient;
  stream: string;
  filter: string;
  retryMs: number;
  onReconnect(listener: () => void): () => void;
  onTiming?: (record: TimingRecord) => void;
  onFailure?: (failure: PluginFailure) => void;
  /** Callback slots shared with the plugin's other terms on this node (its partitions, partition-worker.ts). */
  gate?: SlotGate;
  /** The cluster's dead letters: written before the commit that passes their event; retries taken every `retryMs`. */
  deadLetters?: DeadLetterBook;
}

/** Slots shared by several terms of one plugin on a node, so they run no more than `max` callbacks together. */
export interface SlotGate {
  /** Takes a slot when one is free. */
  take(): boolean;
  /** Gives a slot back; `notify: false` when it was taken for nothing (no other term needs waking). */
  give(notify?: boolean): void;
  /** Called when a slot comes free; returns the unsubscribe. */
  subscribe(listener: () => void): () => void;
}

/** One term as the plugin's active node. */
export class ActiveRun {
  readonly #worker: ActiveRunParts;
  readonly #opts: ActiveRunOptions;
  readonly #host: PluginHost;
  readonly #cursor: WorkerCursor;
  readonly #held: HeldLease<WorkerCursorState | null>;
  readonly #log: Logger;
  readonly #ctx: StepContext;
  readonly #lanes: KeyLanes;
  readonly #by: 'none' | 'project' | 'entity';
  readonly #max: number;
  readonly #scope: EventScope;
  /** Stops handing out: stop, lease lost, or a deactivation. */
  readonly #halt = new AbortController();
  #seqOf = new Map<EventLogEntry, number>();
  #inflight = 0;
  #changed: (() => void) | null = null;
  #halted: { event: EventLogEntry; callback: string | null; error: SerializedError } | null = null;
  #firstSeen = false;
  readonly #commits: TermCommits;
  /** Dead letters marked for retry that this term has handed to its lanes and not finished. */
  readonly #retries = new Map<EventLogEntry, ClusterDeadLetter>();

  constructor(worker: ActiveRunParts, opts: ActiveRunOptions, host: PluginHost, loaded: Extract<LoadResult, { ok: true }>, cursor: WorkerCursor, held: HeldLease<WorkerCursorState | null>, log: Logger) {
    this.#worker = worker;
    this.#opts = opts;
    this.#host = host;
    this.#cursor = cursor;
    this.#held = held;
    this.#log = log;
    this.#commits = new TermCommits(cursor, held, opts.deadLetters, log);
    const pluginOpts = pluginOptionsFor(opts.folder, opts.entry.name);
    const daemon = opts.config.daemon;
    const concurrency = effectiveConcurrency(loaded, pluginOpts.concurrency);
    this.#by = concurrency.by;
    this.#max = concurrency.by === 'none' ? 1 : Math.max(1, Math.min(concurrency.max, host.capacity));
    this.#lanes = new KeyLanes(daemon.concurrencyWindow);
    const scriptNames = [...new Set(loaded.callbacks.map((c) => c.scriptName))];
    this.#scope = buildScope({ projects: pluginOpts.projects, ignoreOwnEvents: pluginOpts.ignoreOwnEvents, scriptNames, directory: opts.directory });
    this.#ctx = {
      opts: {
        id: opts.id, folder: opts.folder.path, name: opts.entry.name,
        batchSize: daemon.maxEventBatchSize, fetchIntervalMs: daemon.fetchIntervalMs, backlogTimeoutMs: daemon.backlogTimeoutMs,
        retries: pluginOpts.retries, retryBackoffMs: pluginOpts.retryBackoffMs, deadLetter: pluginOpts.deadLetter,
        logger: log,
        ...(opts.onTiming ? { onTiming: opts.onTiming } : {}),
        // Mail goes to the plugin's setEmails recipients (daemon/alerts.ts).
        ...(opts.onFailure ? { onFailure: (f: PluginFailure) => opts.onFailure?.({ ...f, emails: loaded.emails }) } : {}),
      },
      handler: host,
      batcher: this.#recorder(),
      counters: worker.counters,
    };
  }

  async run(session: AbortSignal): Promise<void> {
    const onEnd = (): void => {
      this.#halt.abort();
      this.#wake();
    };
    session.addEventListener('abort', onEnd, { once: true });
    // Ended before it began (a stop during the term's set-up): a listener added now never fires.
    if (session.aborted) onEnd();
    const unsubscribe = this.#opts.gate?.subscribe(() => this.#pump());
    const flusher = this.#flushLoop();
    const retrier = this.#retryLoop();
    try {
      await this.#read();
    } finally {
      session.removeEventListener('abort', onEnd);
      unsubscribe?.();
      this.#halt.abort();
      // Step by step at debug level: where a handover's time goes (docs/ARCHITECTURE.md, "Graceful handover").
      this.#log.debug({ inFlight: this.#inflight }, 'term ending: stopped handing out events');
      if (this.#held.signal.aborted) this.#cutOff();
      await this.#drain();
      this.#log.debug('term ending: callbacks in flight finished');
      if (this.#halted !== null) this.#deactivate();
      await flusher;
      await retrier;
      if (!this.#held.signal.aborted) {
        await this.#commit();
        this.#log.debug({ highSeq: this.#cursor.highSeq }, 'term ending: cursor committed');
      }
    }
  }

  /** Reads the stream from the cursor (event-stream.ts), pausing while commits fail or the lanes are full. */
  async #read(): Promise<void> {
    const halt = this.#halt.signal;
    const flushEvents = this.#opts.config.daemon.stateFlushEvents;
    await readEventStream(this.#opts, { startSeq: this.#cursor.startSeq, window: this.#lanes.window, halt, log: this.#log }, {
      take: (m) => this.#take(m),
      pace: async () => {
        // Backpressure on the fence: while commits fail (a NATS election), hand out no more than one flush's worth,
        // so a takeover repeats at most that many events plus those in flight.
        while (this.#cursor.dirty >= flushEvents && !halt.aborted) {
          await this.#commit();
          if (this.#cursor.dirty >= flushEvents) await sleepLong(this.#opts.retryMs, { signal: halt }).catch(() => undefined);
        }
        while (this.#lanes.full() && !halt.aborted) await this.#waitForChange();
      },
    });
  }

  /** One message: skipped when finished, else handed out to its lane (out of scope: finished at once). */
  async #take(m: JsMsg): Promise<void> {
    const seq = m.seq;
    if (!this.#firstSeen) {
      this.#firstSeen = true;
      this.#log.debug({ seq }, 'first message of the term');
    }
    if (!this.#cursor.wants(seq)) return;
    const format = m.headers?.get(FORMAT_HEADER) ?? '';
    // A node of another version wrote it: refused clearly (CLUSTER_FORMAT_MISMATCH), never misread.
    checkFormat(Number(format), `event message ${seq} of ${this.#opts.stream}`);
    let event: EventLogEntry;
    try {
      event = toEventLogEntry(m.json<Record<string, unknown>>());
    } catch (err) {
      this.#log.error({ err, seq }, 'unreadable event message in the stream; skipped');
      this.#cursor.handOut(seq, this.#cursor.highId);
      this.#cursor.finish(seq);
      return;
    }
    if (this.#cursor.finishedBeforeMigration(event.id)) {
      this.#cursor.handOut(seq, event.id);
      this.#cursor.finish(seq);
      return;
    }
    this.#cursor.handOut(seq, event.id);
    const decided = inScope(this.#ctx, this.#scope, event);
    if (!(typeof decided === 'boolean' ? decided : await decided)) {
      this.#worker.counters.skipped++;
      this.#cursor.finish(seq);
      return;
    }
    this.#seqOf.set(event, seq);
    this.#lanes.add(this.#by === 'none' ? 'all' : laneKey(event, this.#by), event);
    this.#pump();
  }

  /**
   * Starts lane heads while there is room. A callback starts only while the
   * events finished since the last confirmed commit plus those in flight stay
   * under `stateFlushEvents`: while commits fail (a NATS election), the lanes'
   * read-ahead stops running too, so a successor repeats at most that many.
   */
  #pump(): void {
    const gate = this.#opts.gate;
    const bound = this.#opts.config.daemon.stateFlushEvents;
    while (this.#inflight < this.#max && this.#cursor.unconfirmed + this.#inflight < bound && !this.#halt.signal.aborted) {
      if (gate !== undefined && !gate.take()) return;
      const next = this.#lanes.take();
      if (next === null) {
        gate?.give(false);
        return;
      }
      this.#inflight++;
      void this.#runHead(next.key, next.event);
    }
  }

  async #runHead(key: string, event: EventLogEntry): Promise<void> {
    const retry = this.#retries.get(event);
    if (retry !== undefined) return this.#runRetry(key, event, retry);
    const seq = this.#seqOf.get(event) ?? 0;
    this.#worker.track({ event, seq });
    let finished = false;
    try {
      const outcome = await runEvent(this.#ctx, event, 'live', this.#halt.signal, null, this.#by === 'none' ? undefined : key);
      if (this.#held.signal.aborted) return; // a deposed owner decides nothing
      if (outcome.kind === 'aborted') {
        if (!this.#halt.signal.aborted) this.#log.info({ eventId: event.id, code: outcome.error.code }, 'event cut off by a thread restart; delivering it again');
      } else if (outcome.kind === 'deactivate') {
        this.#halted ??= { event, callback: outcome.callback, error: outcome.error };
        this.#halt.abort();
      } else {
        if (outcome.kind === 'skipped') {
          this.#worker.counters.failed++;
          this.#cursor.noteError(`${outcome.callback ?? 'plugin'}: ${outcome.error.message}`);
        } else this.#worker.counters.processed++;
        finished = true;
      }
    } catch (err) {
      this.#log.error({ err, eventId: event.id }, 'running an event failed unexpectedly; the plugin stops on this node');
      this.#halt.abort();
    } finally {
      this.#worker.untrack(seq);
      if (finished) {
        this.#lanes.finish(key);
        this.#seqOf.delete(event);
        this.#cursor.finish(seq);
        if (this.#cursor.dirty >= this.#opts.config.daemon.stateFlushEvents) void this.#commit();
      } else this.#lanes.release(key);
      this.#inflight--;
      this.#opts.gate?.give();
      this.#wake();
      this.#pump();
    }
  }

  /**
   * A dead letter marked for retry, run in its key's lane like any event: it
   * goes once it passes, is dead again (attempts + 1) when it fails, and
   * stays marked when the term ends first (the next owner takes it).
   */
  async #runRetry(key: string, event: EventLogEntry, entry: ClusterDeadLetter): Promise<void> {
    let done = false;
    try {
      const outcome = await runEvent(this.#ctx, event, 'retry', this.#halt.signal, null, this.#by === 'none' ? undefined : key);
      if (this.#held.signal.aborted || outcome.kind === 'aborted') return;
      const book = this.#opts.deadLetters;
      if (outcome.kind === 'ok') {
        await book?.resolve(entry);
        this.#log.info({ eventId: event.id, callback: entry.callback }, 'dead letter retried: the event went through');
      } else await book?.fail(entry, outcome.error.message);
      done = true;
    } catch (err) {
      this.#log.warn({ err, eventId: event.id }, 'retrying a dead letter failed; it stays marked for retry');
    } finally {
      // Out of the lane either way: one not done stays marked in the bucket and is taken again.
      this.#lanes.finish(key);
      if (!done) this.#log.debug({ eventId: event.id }, 'dead letter retry cut short; it stays marked for retry');
      this.#retries.delete(event);
      this.#inflight--;
      this.#opts.gate?.give();
      this.#wake();
      this.#pump();
    }
  }

  /**
   * Every `retryMs`, once the last ones ran, the dead letters marked for
   * retry (`sgeventd dlq retry`) whose events belong to this term's part of
   * the stream join their key's lane, so they run with the plugin's lane
   * rules and in event order within a key.
   */
  async #retryLoop(): Promise<void> {
    const book = this.#opts.deadLetters;
    if (book === undefined) return;
    const halt = this.#halt.signal;
    const partitions = this.#opts.config.cluster?.partitions ?? 1;
    const mine = /\.events\.(\d+)$/.exec(this.#opts.filter);
    while (!halt.aborted) {
      if (this.#retries.size === 0) {
        try {
          const marked = await book.list({ pluginId: this.#opts.id, status: 'retry' });
          for (const d of marked.sort((a, b) => a.eventId - b.eventId)) {
            if (halt.aborted) break;
            const event = toEventLogEntry(structuredClone(d.event) as Record<string, unknown>);
            if (mine !== null && partitionOf(event.project?.id, partitions) !== Number(mine[1])) continue;
            this.#retries.set(event, d);
            this.#lanes.add(this.#by === 'none' ? 'all' : laneKey(event, this.#by), event);
          }
          this.#pump();
        } catch (err) {
          this.#log.warn({ err }, 'reading the dead letters marked for retry failed; trying again');
        }
      }
      await sleepLong(this.#opts.retryMs, { signal: halt }).catch(() => undefined);
    }
  }

  /** What the dispatch steps record: counters into the cursor, dead letters for the next commit. */
  #recorder(): StepRecorder {
    return {
      backlogAdd: () => undefined,
      backlogRemove: () => undefined,
      counter: (d) => this.#cursor.count(d.callback, d),
      deadLetter: (entry) => this.#commits.record(entry),
    };
  }

  /** The lease is gone: the callbacks in flight are cut off (their results are not committed). */
  #cutOff(): void {
    for (const event of this.#seqOf.keys()) this.#host.cancel(event.id);
    for (const event of this.#retries.keys()) this.#host.cancel(event.id);
  }

  #deactivate(): void {
    const halt = this.#halted;
    if (halt === null) return;
    this.#worker.counters.failed++;
    this.#cursor.deactivate(`${halt.callback ?? 'plugin'}: ${halt.error.message}`);
    reportDeactivation(this.#ctx, halt.event, halt.callback, halt.error);
  }

  /** Commits the cursor through the fence every `cluster.commitMs` while the run lasts (sooner past `stateFlushEvents`). */
  async #flushLoop(): Promise<void> {
    const halt = this.#halt.signal;
    const { config } = this.#opts;
    const every = config.cluster?.commitMs ?? config.daemon.stateFlushMs;
    while (!halt.aborted) {
      await sleepLong(every, { signal: halt }).catch(() => undefined);
      if (!halt.aborted) await this.#commit();
    }
  }

  /** A fenced commit (term-commits.ts); a confirmed one may reopen the gate on starting callbacks. */
  async #commit(): Promise<void> {
    if (await this.#commits.commit()) this.#pump();
  }

  #wake(): void {
    const changed = this.#changed;
    this.#changed = null;
    changed?.();
  }

  async #waitForChange(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#changed = resolve;
    });
  }

  /** Resolves once no callback is in flight (each is bounded by the callback timeout). */
  async #drain(): Promise<void> {
    while (this.#inflight > 0) await this.#waitForChange();
  }
}
