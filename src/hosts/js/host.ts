// PluginHost: one JS/TS plugin in its own worker thread, seen from the main
// thread. The dispatcher loads it, asks `matches(event)` on the main thread,
// and sends matching events through `processBatch()`: many events per
// message, with what ran shared in memory (progress.ts) rather than a
// message per callback.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { setLongTimeout } from '../../shared/index.ts';
import { PluginError, serializeError, type SerializedError } from '../../plugins/errors.ts';
import { canProcess, type MatchableEvent } from '../../plugins/match.ts';
import { fromWorkerSchema, type FromWorker, type ToWorker, type WorkerConfig } from './protocol.ts';
import { BatchProgress } from './progress.ts';
import { checkBatch, fault, startBatch, type BatchRun, type Operation } from './batch-run.ts';
import { decide, hostFailure } from '../outcome.ts';
import { answerRequest, forwardLines, toCallbackInfo, writeWorkerLog } from './host-io.ts';
import type { EventLogEntry } from '../../plugins/types.ts';
import type { CallbackFailure, CallbackInfo, CallbackResult, LoadResult, PluginHost, ProcessResult, BatchOptions } from '../contract.ts';
import { TRANSITIONS, type WorkerHostOptions, type WorkerHostState } from './options.ts';
import { QueueWait } from './queue-wait.ts';
import { resolveConcurrency } from '../../config/index.ts';
import { apiUrl } from '../../shotgrid/index.ts';
import { SgRelay } from './sg-relay.ts';
import { SG_REQUEST } from './sg-call.ts';
import { HEAP_HEADROOM, MemoryWatch } from './memory-watch.ts';
import { encodeBatch } from './batch-wire.ts';

type ToWorkerEvents = Extract<ToWorker, { type: 'batch' }>['events'];

// Sources run as .ts under type stripping and as .js from dist/.
const WORKER_URL = new URL(`./worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);


/**
 * With `concurrency` (by project or entity), up to `max` batches run in the
 * thread at once, each with its own progress buffer and watchdog: async
 * callbacks overlap in the thread's event loop. A timed-out callback still
 * ends the thread; the other batches in it come back `aborted`
 * (PLUGIN_CALLBACK_CANCELLED, `details.collateral`) for the caller to send again.
 */
export class WorkerPluginHost implements PluginHost {
  readonly kind = 'js';
  readonly name: string;
  readonly file: string;
  readonly #options: WorkerHostOptions;
  readonly #log: Logger;
  readonly #site: string;
  #state: WorkerHostState = 'loading';
  #worker: Worker | null = null;
  #workerAbort = new AbortController();
  #loadOp: Operation | null = null;
  /** The batches in the thread now, by seq. */
  readonly #ops = new Map<number, Operation>();
  #crash: SerializedError | null = null;
  #callbacks: CallbackInfo[] = [];
  #lastLoad: LoadResult | null = null;
  #loading: Promise<LoadResult> | null = null;
  #crashes: number[] = [];
  #seq = 0;
  /** Progress buffers of this thread not in use (a lost thread's buffers are never reused). */
  #progress: { worker: Worker; free: BatchProgress[] } | null = null;
  /** Ids of the batches in the thread now, by seq, for cancel(). */
  readonly #running = new Map<number, ReadonlySet<number>>();
  /** What the batches in the thread waited for Toolkit runtimes, by seq. */
  readonly #queueWaits = new Map<number, QueueWait>();
  readonly #cancelled = new Set<number>();
  #capacity = 1;
  #inflight = 0;
  #failing = false;
  #restarting: Promise<LoadResult> | null = null;
  /** The current thread's memory limit, when it has one. */
  #memory: MemoryWatch | null = null;
  /** Runs the thread's `sg` calls; made on the first one. */
  #sgRelay: SgRelay | null = null;

  /** Hosts made and not closed, in this process. */
  static #open = 0;

  constructor(options: WorkerHostOptions) {
    if (!Number.isFinite(options.callbackTimeoutMs) || options.callbackTimeoutMs <= 0) {
      throw new PluginError('PLUGIN_HOST_STATE', `callbackTimeoutMs must be a positive number, got ${String(options.callbackTimeoutMs)}`);
    }
    if (options.batchBudgetMs !== undefined && (!Number.isFinite(options.batchBudgetMs) || options.batchBudgetMs <= 0)) {
      throw new PluginError('PLUGIN_HOST_STATE', `batchBudgetMs must be a positive number, got ${String(options.batchBudgetMs)}`);
    }
    this.#options = options;
    this.name = options.name;
    this.file = options.file;
    this.#log = options.logger.child({ plugin: options.name });
    if (options.maxMemoryMb !== undefined && /--max-old-space-size/.test(process.env['NODE_OPTIONS'] ?? '')) {
      this.#log.warn({ nodeOptions: process.env['NODE_OPTIONS'], maxMemoryMb: options.maxMemoryMb }, 'NODE_OPTIONS sets --max-old-space-size, which overrides the plugin thread heap limit (maxMemoryMb)');
    }
    this.#site = options.site ?? new URL(options.siteUrl).host;
    WorkerPluginHost.#open++;
  }

  /** Batches that may run at once: the effective concurrency's `max`, 1 for `by: none`. */
  get capacity(): number {
    return this.#capacity;
  }

  get state(): WorkerHostState {
    return this.#state;
  }

  /** The callbacks of the last successful load, in registration order. */
  get callbacks(): readonly CallbackInfo[] {
    return this.#callbacks;
  }

  /** The last load's result (null before the first load). */
  get lastLoad(): LoadResult | null {
    return this.#lastLoad;
  }

  /**
   * (Re)starts the worker thread: a fresh thread imports the file and runs
   * registerCallbacks. Used for the first load and for hot reload.
   */
  async load(): Promise<LoadResult> {
    // Two reloads at once (a file saved twice quickly) share one new thread.
    if (this.#loading !== null) return this.#loading;
    if (this.#state === 'closed' || this.#state === 'busy') {
      throw new PluginError('PLUGIN_HOST_STATE', `cannot load plugin ${this.name} while ${this.#state}`, { details: { plugin: this.name, state: this.#state } });
    }
    if (this.#state !== 'loading') this.#transition('loading');
    this.#crashes = [];
    this.#loading = this.#restart();
    try {
      const result = await this.#loading;
      if (!this.#isClosed()) this.#transition(result.ok ? 'ready' : 'failed');
      return result;
    } finally {
      this.#loading = null;
    }
  }

  /** Main-thread matching: true when at least one callback's matchEvents takes the event. */
  matches(event: MatchableEvent): boolean {
    return this.#callbacks.some((cb) => canProcess(cb.matchEvents, event));
  }

  /**
   * Runs the matching callbacks for one event, in registration order, in the
   * worker. Never throws for plugin faults; throws PLUGIN_HOST_STATE when the
   * host is not ready (not loaded, failed, busy with another event, closed)
   * and PLUGIN_PROTOCOL for an event without a numeric id and event_type.
   */
  async process(event: EventLogEntry, options: BatchOptions = {}): Promise<ProcessResult> {
    const [result] = await this.processBatch([event], options);
    if (result === undefined) throw new PluginError('PLUGIN_PROTOCOL', `plugin ${this.name} returned no result for event ${event.id}`);
    return result;
  }

  /**
   * Runs several events in the worker with one message, each as `process()`
   * would. Returns one result per event handled, in order: it stops after the
   * first event that is not a clean `ok` (a failed callback, a deactivation,
   * an abort) and after `batchBudgetMs` of work, so it may return fewer
   * results than events; the caller sends the rest again.
   */
  async processBatch(events: readonly EventLogEntry[], options: BatchOptions = {}): Promise<ProcessResult[]> {
    if (this.#state !== 'ready' && !(this.#state === 'busy' && this.#inflight < this.#capacity)) {
      throw new PluginError('PLUGIN_HOST_STATE', `plugin ${this.name} cannot process while ${this.#state}`, { details: { plugin: this.name, state: this.#state } });
    }
    const attempt = options.attempt ?? 1;
    const replay = options.replay ?? false;
    checkBatch(this.name, events, attempt);
    const out: ProcessResult[] = [];
    if (events.length === 0) return out;
    if (this.#inflight++ === 0) this.#transition('busy');
    let nextState: WorkerHostState = 'ready';
    try {
      let i = 0;
      let fromIndex = 0;
      // Callbacks of events[i] that ran before its thread was lost.
      let carry: { results: CallbackResult[]; failures: CallbackFailure[] } = { results: [], failures: [] };
      while (i < events.length) {
        const event = events[i] as EventLogEntry;
        // Events no callback takes need no trip to the thread.
        if (fromIndex === 0 && !this.matches(event)) {
          out.push({ outcome: 'ok', results: [], failures: [] });
          i++;
          continue;
        }
        if (this.#worker === null) {
          // The thread died or was terminated: a new one before the event runs.
          const spent = this.#budgetSpent();
          if (spent !== null) {
            nextState = 'failed';
            this.#log.warn({ err: spent }, 'plugin thread lost too often; not restarting it until the plugin is reloaded');
            out.push({ outcome: 'deactivate', callback: null, error: spent, ...carry });
            return out;
          }
          // Several batches may find the thread gone: they share one restart.
          const loaded = await (this.#restarting ??= this.#restart().finally(() => {
            this.#restarting = null;
          }));
          if (this.#isClosed()) return [...out, { outcome: 'aborted', error: fault('PLUGIN_HOST_STATE', 'host closed'), ...carry }];
          if (!loaded.ok) {
            nextState = 'failed';
            out.push({ outcome: 'deactivate', callback: null, error: loaded.error, ...carry });
            return out;
          }
        }
        // An event resumed after a lost thread goes alone: the batch ends with it.
        const batch = fromIndex > 0 ? [event] : i === 0 ? events : events.slice(i);
        const run = await this.#runBatch(batch, attempt, replay, fromIndex);
        const cancelled = this.#takeCancelled(batch);
        // Another batch's timeout or cancel ended the thread under this one.
        const collateral = run.kind === 'interrupted' && run.error.details?.['stopped'] === true;
        if (this.#isClosed() || cancelled !== null || collateral) {
          // What finished stays finished; the event that was running is aborted.
          for (let k = 0; k < run.completed; k++) {
            out.push(decide(this.#callbacks, [...carry.results, ...(run.results[k] ?? [])], run.results[k] ?? [], [...carry.failures]));
            carry = { results: [], failures: [] };
          }
          if (run.completed < batch.length) {
            const error = cancelled !== null
              ? fault('PLUGIN_CALLBACK_CANCELLED', `event ${cancelled} was cancelled while it ran in plugin ${this.name}`, { plugin: this.name, eventId: cancelled })
              : this.#isClosed()
                ? fault('PLUGIN_HOST_STATE', 'host closed while the event ran')
                : fault('PLUGIN_CALLBACK_CANCELLED', `plugin ${this.name} thread was ended by another event while this one ran; it is sent again`, {
                  plugin: this.name, eventId: batch[run.completed]?.id, collateral: true,
                });
            out.push({ outcome: 'aborted', error, results: [...carry.results, ...run.partial], failures: carry.failures });
          }
          return out;
        }
        for (let k = 0; k < run.completed; k++) {
          const ran = run.results[k] ?? [];
          const results = carry.results.length === 0 ? ran : [...carry.results, ...ran];
          const decided = decide(this.#callbacks, results, ran, carry.failures.length === 0 ? [] : [...carry.failures]);
          carry = { results: [], failures: [] };
          fromIndex = 0;
          out.push(decided);
          if (decided.outcome !== 'ok' || decided.failures.length > 0) return out;
        }
        i += run.completed;
        if (run.kind === 'done') {
          // The worker stops early only on its time budget: the caller sends the rest.
          if (run.completed < batch.length) return out;
          continue;
        }

        // Timed out, or the thread died, inside events[i]: that callback failed.
        const current = events[i] as EventLogEntry;
        const partial = decide(this.#callbacks, [], run.partial, []);
        carry = { results: [...carry.results, ...run.partial], failures: [...carry.failures, ...partial.failures] };
        if (partial.outcome === 'deactivate') return [...out, { ...partial, results: carry.results, failures: carry.failures }];
        const info = run.index === null ? undefined : this.#callbacks[run.index];
        // Lost between two callbacks (which one is unknown): nothing says the rest may run.
        const lost: ProcessResult = info === undefined
          ? { outcome: 'deactivate', callback: run.callback, error: run.error, ...carry }
          : hostFailure(this.#callbacks, current, run.error, info, carry);
        if (lost.outcome !== 'ok' || info === undefined) {
          out.push(lost);
          return out;
        }
        carry = { results: lost.results, failures: lost.failures };
        fromIndex = info.index + 1;
        if (!this.#callbacks.slice(fromIndex).some((cb) => canProcess(cb.matchEvents, current))) {
          out.push({ outcome: 'ok', ...carry });
          return out;
        }
      }
      return out;
    } finally {
      if (nextState === 'failed') this.#failing = true;
      if (--this.#inflight === 0 && !this.#isClosed()) {
        this.#transition(this.#failing ? 'failed' : 'ready');
        this.#failing = false;
      }
    }
  }

  /**
   * Cuts off `eventId` if it is in the running batch: the thread is
   * terminated (not counted against the restart budget), events of the batch
   * that finished keep their results, the running one comes back `aborted`,
   * and the next event starts a fresh thread.
   */
  cancel(eventId: number): void {
    if (![...this.#running.values()].some((ids) => ids.has(eventId))) return;
    this.#cancelled.add(eventId);
    void this.#stopWorker();
  }

  /** The id of `batch` that cancel() cut off, if any. */
  #takeCancelled(batch: readonly EventLogEntry[]): number | null {
    if (this.#cancelled.size === 0) return null;
    for (const e of batch) {
      if (this.#cancelled.delete(e.id)) return e.id;
    }
    return null;
  }

  /** Stops the thread; idempotent. An event still running resolves as `aborted`. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    WorkerPluginHost.#open--;
    try {
      await this.#stopWorker();
    } finally {
      await this.#sgRelay?.close();
    }
  }

  #budgetSpent(): SerializedError | null {
    const { count, windowMs } = this.#options.restartBudget;
    const now = Date.now();
    this.#crashes = this.#crashes.filter((t) => now - t < windowMs);
    if (this.#crashes.length <= count) return null;
    return fault('PLUGIN_RESTART_BUDGET', `plugin ${this.name} lost its thread ${this.#crashes.length} times within ${windowMs} ms`, { plugin: this.name, crashes: this.#crashes.length, windowMs });
  }

  #isClosed(): boolean {
    return this.#state === 'closed';
  }

  #transition(to: WorkerHostState): void {
    if (!TRANSITIONS[this.#state].includes(to)) {
      throw new PluginError('PLUGIN_HOST_STATE', `plugin ${this.name}: invalid transition ${this.#state} -> ${to}`, { details: { from: this.#state, to } });
    }
    this.#state = to;
  }

  async #restart(): Promise<LoadResult> {
    await this.#stopWorker();
    const result = await this.#startWorker();
    this.#lastLoad = result;
    this.#callbacks = result.ok ? result.callbacks : [];
    if (result.ok && result.concurrency !== undefined) this.#capacity = result.concurrency.by === 'none' ? 1 : result.concurrency.max;
    if (!result.ok) {
      // The caller logs load failures with what it does about them; this is the trace.
      this.#log.debug({ err: result.error, file: this.file }, 'plugin failed to load');
      await this.#stopWorker();
    }
    return result;
  }

  #startWorker(): Promise<LoadResult> {
    const config: WorkerConfig = {
      file: this.file,
      plugin: this.name,
      sgEndpoint: apiUrl(this.#options.siteUrl).href,
      site: this.#site,
      useSessionUuid: this.#options.useSessionUuid,
      logLevel: this.#log.level,
    };
    const worker = new Worker(WORKER_URL, {
      workerData: config,
      name: `plugin:${this.name}`,
      stdout: true,
      stderr: true,
      ...(this.#options.env === undefined ? {} : { env: this.#options.env }),
      // A young generation of its own size: measured to halve a no-op plugin
      // thread's time per event (fewer scavenges of each batch's events).
      resourceLimits: {
        maxYoungGenerationSizeMb: 16,
        ...(this.#options.maxMemoryMb === undefined ? {} : { maxOldGenerationSizeMb: this.#options.maxMemoryMb * HEAP_HEADROOM }),
        ...this.#options.resourceLimits,
      },
    });
    this.#worker = worker;
    this.#memory = this.#watchMemory(worker);
    this.#workerAbort.abort();
    this.#workerAbort = new AbortController();
    this.#crash = null;
    // A stray console.log in a plugin becomes a log record, not daemon stdout.
    forwardLines(worker.stdout, 'stdout', 'info', this.#log);
    forwardLines(worker.stderr, 'stderr', 'warn', this.#log);
    worker.on('message', (raw: unknown) => this.#onMessage(worker, raw));
    worker.on('error', (err: unknown) => {
      this.#crash = serializeError(err, 'PLUGIN_WORKER_DIED');
    });
    worker.on('exit', (exitCode: number) => this.#onExit(worker, exitCode));

    return new Promise<LoadResult>((resolve) => {
      const timeoutMs = this.#options.loadTimeoutMs ?? this.#options.callbackTimeoutMs;
      const timer = setLongTimeout(() => {
        settle({ ok: false, error: fault('PLUGIN_LOAD_TIMEOUT', `plugin ${this.name} did not finish loading in ${timeoutMs} ms`, { plugin: this.name, timeoutMs }) });
        void this.#stopWorker();
      }, timeoutMs);
      const settle = (result: LoadResult): void => {
        timer.clear();
        if (this.#loadOp === op) this.#loadOp = null;
        resolve(result);
      };
      const op: Operation = {
        onMessage: (msg) => {
          if (msg.type === 'loaded') {
            // The config wins over what the file declares.
            const concurrency = resolveConcurrency(this.#options.concurrency, msg.concurrency);
            settle({ ok: true, callbacks: msg.callbacks.map(toCallbackInfo), emails: msg.emails, concurrency });
          }
          else if (msg.type === 'load-failed') settle({ ok: false, error: msg.error });
        },
        onExit: (error) => settle({ ok: false, error }),
      };
      this.#loadOp = op;
      this.#send(worker, { type: 'load' }, op);
    });
  }

  /** Ends `worker` over its memory limit (memory-watch.ts); its 'exit' then reports PLUGIN_MEMORY_LIMIT. */
  #watchMemory(worker: Worker): MemoryWatch | null {
    const limitMb = this.#options.maxMemoryMb;
    if (limitMb === undefined) return null;
    return new MemoryWatch(worker, {
      limitMb,
      sampleMs: this.#options.memorySampleMs,
      askCollect: () => {
        if (worker === this.#worker) worker.postMessage({ type: 'collect' } satisfies ToWorker);
      },
      onOver: ({ heapMb, externalMb, seen }) => {
        if (worker !== this.#worker || this.#crash !== null) return;
        const what = heapMb > limitMb ? `${Math.round(heapMb)} MB of heap` : `${Math.round(externalMb)} MB of external memory (Buffers)`;
        this.#crash = fault('PLUGIN_MEMORY_LIMIT', `plugin ${this.name} held ${what}, over its limit of ${limitMb} MB`, {
          plugin: this.name, heapMb: Math.round(heapMb), externalMb: Math.round(externalMb), limitMb, seen,
        });
        void worker.terminate();
      },
    });
  }

  #runBatch(events: readonly EventLogEntry[], attempt: number, replay: boolean, fromIndex: number): Promise<BatchRun> {
    const worker = this.#worker;
    if (worker === null) throw new PluginError('PLUGIN_HOST_STATE', 'no worker');
    const seq = ++this.#seq;
    const progress = this.#takeProgress(worker, events.length * Math.max(1, this.#callbacks.length));
    const queueWait = new QueueWait();
    this.#queueWaits.set(seq, queueWait);
    const { op, done } = startBatch({
      queueWait,
      plugin: this.name,
      seq,
      events,
      callbacks: this.#callbacks,
      progress,
      timeoutMs: this.#options.callbackTimeoutMs,
      log: this.#log,
      isClosed: () => this.#isClosed(),
      onTimeout: () => {
        this.#crashes.push(Date.now());
        void this.#stopWorker();
      },
    });
    this.#ops.set(seq, op);
    this.#running.set(seq, new Set(events.map((e) => e.id)));
    // A batch serialised once for every plugin thread that gets it (batch-wire.ts);
    // with one plugin thread in the daemon there is nothing to share: a plain clone.
    const encoded = WorkerPluginHost.#open > 1 ? encodeBatch(events) : null;
    this.#send(worker, {
      type: 'batch', seq, attempt, replay, fromIndex,
      ...(encoded === null ? { events: events as unknown as ToWorkerEvents } : { events: [], eventsBytes: encoded.bytes, skip: encoded.skip }),
      budgetMs: this.#options.batchBudgetMs ?? 50, progress: progress.buffer,
    }, op);
    return done.finally(() => {
      this.#running.delete(seq);
      this.#queueWaits.delete(seq);
      this.#ops.delete(seq);
      if (this.#progress?.worker === worker) this.#progress.free.push(progress);
    });
  }

  /** A progress buffer of this thread, big enough for `entries` callback runs, not used by another batch. */
  #takeProgress(worker: Worker, entries: number): BatchProgress {
    if (this.#progress === null || this.#progress.worker !== worker) this.#progress = { worker, free: [] };
    const free = this.#progress.free;
    const at = free.findIndex((b) => b.capacity >= entries);
    if (at >= 0) return free.splice(at, 1)[0] as BatchProgress;
    return new BatchProgress(Math.max(entries, 64));
  }

  #send(worker: Worker, msg: ToWorker, op: Operation): void {
    try {
      worker.postMessage(msg);
    } catch (err) {
      // An event that cannot be cloned (a function inside, say) is a caller fault.
      op.onExit(serializeError(err, 'PLUGIN_PROTOCOL'));
    }
  }

  /** Every operation waiting on the thread: the load, then the batches. */
  #allOps(): Operation[] {
    return [...(this.#loadOp === null ? [] : [this.#loadOp]), ...this.#ops.values()];
  }

  #onMessage(worker: Worker, raw: unknown): void {
    if (worker !== this.#worker) return;
    const parsed = fromWorkerSchema.safeParse(raw);
    if (!parsed.success) {
      this.#log.error({ issues: parsed.error.issues.slice(0, 5) }, 'malformed message from plugin thread');
      return;
    }
    const msg = parsed.data;
    if (msg.type === 'log') writeWorkerLog(this.#log, msg);
    else if (msg.type === 'collected') this.#memory?.collected(msg.heapBytes, msg.externalBytes);
    else if (msg.type === 'request') void this.#answer(worker, msg);
    else if ('seq' in msg) this.#ops.get(msg.seq)?.onMessage(msg);
    else this.#loadOp?.onMessage(msg);
  }

  /** The thread's `sg` calls run here, on the main thread's pool. */
  #relaySg(params: unknown, signal: AbortSignal): Promise<unknown> {
    this.#sgRelay ??= new SgRelay({ siteUrl: this.#options.siteUrl, proxy: this.#options.proxy, timeoutMs: this.#options.siteTimeoutMs });
    return this.#sgRelay.call(params, signal);
  }

  async #answer(worker: Worker, msg: Extract<FromWorker, { type: 'request' }>): Promise<void> {
    const sg = msg.method === SG_REQUEST;
    // Until the work starts (a runtime takes the call), the asking callback's timeout is paused; an sg call counts from the start.
    const started = msg.seq === undefined || sg ? undefined : this.#queueWaits.get(msg.seq)?.begin();
    let reply: ToWorker;
    try {
      const handler = sg ? (_method: string, params: unknown, { signal }: { signal: AbortSignal }) => this.#relaySg(params, signal) : this.#options.handleRequest;
      reply = await answerRequest(handler, msg, this.#workerAbort.signal, started);
    } finally {
      started?.();
    }
    if (worker !== this.#worker) return;
    try {
      worker.postMessage(reply);
    } catch (err) {
      worker.postMessage({ type: 'response', id: msg.id, ok: false, error: serializeError(err, 'PLUGIN_REQUEST_FAILED') } satisfies ToWorker);
    }
  }

  #onExit(worker: Worker, exitCode: number): void {
    if (worker !== this.#worker) return;
    this.#worker = null;
    this.#workerAbort.abort();
    this.#crashes.push(Date.now());
    const cause = this.#crash;
    // Over the heap limit (resourceLimits) or the sampled external memory.
    const overMemory = cause !== null && (cause.code === 'ERR_WORKER_OUT_OF_MEMORY' || cause.code === 'PLUGIN_MEMORY_LIMIT');
    const error = overMemory
      ? fault('PLUGIN_MEMORY_LIMIT', cause.code === 'PLUGIN_MEMORY_LIMIT' ? cause.message : `plugin ${this.name} went over its heap limit of ${this.#options.maxMemoryMb ?? '?'} MB`, {
        ...cause.details, plugin: this.name, exitCode, limitMb: this.#options.maxMemoryMb, causeCode: cause.code,
      })
      : fault('PLUGIN_WORKER_DIED', `plugin ${this.name} thread exited with code ${exitCode}${cause === null ? '' : `: ${cause.message}`}`, {
        plugin: this.name, exitCode, ...(cause === null ? {} : { causeCode: cause.code, causeName: cause.name }),
      });
    const ops = this.#allOps();
    this.#loadOp = null;
    this.#ops.clear();
    for (const op of ops) op.onExit(error);
    if (ops.length === 0 && this.#state !== 'closed') this.#log.warn({ err: error }, 'plugin thread exited while idle; it restarts on the next event');
  }

  async #stopWorker(): Promise<void> {
    const worker = this.#worker;
    if (worker === null) return;
    this.#worker = null;
    this.#workerAbort.abort();
    const ops = this.#allOps();
    this.#loadOp = null;
    this.#ops.clear();
    for (const op of ops) op.onExit(fault('PLUGIN_HOST_STATE', `plugin ${this.name} thread stopped`, { stopped: true }));
    await worker.terminate();
  }
}
