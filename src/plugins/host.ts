// PluginHost: one JS/TS plugin in its own worker thread, seen from the main
// thread. The dispatcher loads it, asks `matches(event)` on the main thread,
// and sends matching events through `processBatch()`: many events per
// message, with what ran shared in memory (progress.ts) rather than a
// message per callback.
import { Worker } from 'node:worker_threads';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { PluginError, serializeError, type SerializedError } from './errors.ts';
import { canProcess, type MatchableEvent } from './match.ts';
import { fromWorkerSchema, isEventShape, type FromWorker, type ToWorker, type WorkerConfig } from './protocol.ts';
import { BatchProgress } from './progress.ts';
import type { EventLogEntry } from './types.ts';
import { TRANSITIONS, type CallbackFailure, type CallbackInfo, type CallbackResult, type LoadResult, type PluginHostOptions, type PluginHostState, type ProcessResult, type BatchOptions } from './host-types.ts';

/** What the current operation wants to hear from the worker. */
interface Operation {
  onMessage(msg: Exclude<FromWorker, { type: 'log' | 'request' }>): void;
  onExit(error: SerializedError): void;
}

/** How a batch went in the worker: `results` holds the callbacks of the first `completed` events. */
type BatchRun =
  | { kind: 'done'; completed: number; results: CallbackResult[][]; partial: CallbackResult[] }
  | { kind: 'interrupted'; completed: number; results: CallbackResult[][]; partial: CallbackResult[]; index: number | null; callback: string | null; error: SerializedError };

type ToWorkerEvents = Extract<ToWorker, { type: 'batch' }>['events'];

// Sources run as .ts under type stripping and as .js from dist/.
const WORKER_URL = new URL(`./worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

function fault(code: ConstructorParameters<typeof PluginError>[0], message: string, details: Record<string, unknown> = {}): SerializedError {
  return serializeError(new PluginError(code, message, { details }), code);
}

export class PluginHost {
  readonly name: string;
  readonly file: string;
  readonly #options: PluginHostOptions;
  readonly #log: Logger;
  readonly #site: string;
  #state: PluginHostState = 'loading';
  #worker: Worker | null = null;
  #workerAbort = new AbortController();
  #op: Operation | null = null;
  #crash: SerializedError | null = null;
  #callbacks: CallbackInfo[] = [];
  #lastLoad: LoadResult | null = null;
  #loading: Promise<LoadResult> | null = null;
  #crashes: number[] = [];
  #seq = 0;
  #progress: { worker: Worker; buffer: BatchProgress } | null = null;

  constructor(options: PluginHostOptions) {
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
    this.#site = options.site ?? new URL(options.siteUrl).host;
  }

  get state(): PluginHostState {
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
    if (this.#state !== 'ready') {
      throw new PluginError('PLUGIN_HOST_STATE', `plugin ${this.name} cannot process while ${this.#state}`, { details: { plugin: this.name, state: this.#state } });
    }
    const attempt = options.attempt ?? 1;
    const replay = options.replay ?? false;
    if (!Number.isInteger(attempt) || attempt < 1) {
      throw new PluginError('PLUGIN_PROTOCOL', `attempt must be a whole number from 1 for plugin ${this.name}, got ${String(attempt)}`);
    }
    for (const e of events) {
      if (!isEventShape(e)) {
        throw new PluginError('PLUGIN_PROTOCOL', `not an event for plugin ${this.name}: expected an object with a numeric id and an event_type`, { details: { id: (e as { id?: unknown } | null)?.id } });
      }
    }
    const out: ProcessResult[] = [];
    if (events.length === 0) return out;
    this.#transition('busy');
    let nextState: PluginHostState = 'ready';
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
          const loaded = await this.#restart();
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
        if (this.#isClosed()) {
          // What finished stays finished; the event that was running is aborted.
          for (let k = 0; k < run.completed; k++) {
            out.push(this.#decide([...carry.results, ...(run.results[k] ?? [])], run.results[k] ?? [], [...carry.failures]));
            carry = { results: [], failures: [] };
          }
          if (run.completed < batch.length) {
            out.push({ outcome: 'aborted', error: fault('PLUGIN_HOST_STATE', 'host closed while the event ran'), results: [...carry.results, ...run.partial], failures: carry.failures });
          }
          return out;
        }
        for (let k = 0; k < run.completed; k++) {
          const ran = run.results[k] ?? [];
          const results = carry.results.length === 0 ? ran : [...carry.results, ...ran];
          const decided = this.#decide(results, ran, carry.failures.length === 0 ? [] : [...carry.failures]);
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
        const partial = this.#decide([], run.partial, []);
        carry = { results: [...carry.results, ...run.partial], failures: [...carry.failures, ...partial.failures] };
        if (partial.outcome === 'deactivate') return [...out, { ...partial, results: carry.results, failures: carry.failures }];
        const info = run.index === null ? undefined : this.#callbacks[run.index];
        if (info === undefined || info.stopOnError) {
          out.push({ outcome: 'deactivate', callback: run.callback, error: run.error, ...carry });
          return out;
        }
        carry.failures.push({ callback: info.name, error: run.error });
        fromIndex = info.index + 1;
        if (!this.#callbacks.slice(fromIndex).some((cb) => canProcess(cb.matchEvents, current))) {
          out.push({ outcome: 'ok', ...carry });
          return out;
        }
      }
      return out;
    } finally {
      if (!this.#isClosed()) this.#transition(nextState);
    }
  }

  /** What the callbacks that ran to their end decided for their event (shotgunEvents' stopOnError rule). */
  #decide(results: CallbackResult[], ran: readonly CallbackResult[], failures: CallbackFailure[]): ProcessResult {
    for (const r of ran) {
      if (r.error === undefined) continue;
      if (this.#callbacks[r.index]?.stopOnError ?? true) {
        return { outcome: 'deactivate', callback: r.callback, error: r.error, results, failures };
      }
      failures.push({ callback: r.callback, error: r.error });
    }
    return { outcome: 'ok', results, failures };
  }

  /** Stops the thread; idempotent. An event still running resolves as `aborted`. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    await this.#stopWorker();
  }

  #budgetSpent(): SerializedError | null {
    const { count, windowMs } = this.#options.restartBudget ?? { count: 5, windowMs: 60_000 };
    const now = Date.now();
    this.#crashes = this.#crashes.filter((t) => now - t < windowMs);
    if (this.#crashes.length <= count) return null;
    return fault('PLUGIN_RESTART_BUDGET', `plugin ${this.name} lost its thread ${this.#crashes.length} times within ${windowMs} ms`, { plugin: this.name, crashes: this.#crashes.length, windowMs });
  }

  #isClosed(): boolean {
    return this.#state === 'closed';
  }

  #transition(to: PluginHostState): void {
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
      siteUrl: this.#options.siteUrl,
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
      resourceLimits: { maxYoungGenerationSizeMb: 16, ...this.#options.resourceLimits },
    });
    this.#worker = worker;
    this.#workerAbort.abort();
    this.#workerAbort = new AbortController();
    this.#crash = null;
    // A stray console.log in a plugin becomes a log record, not daemon stdout.
    this.#forwardLines(worker.stdout, 'stdout', 'info');
    this.#forwardLines(worker.stderr, 'stderr', 'warn');
    worker.on('message', (raw: unknown) => this.#onMessage(worker, raw));
    worker.on('error', (err: unknown) => {
      this.#crash = serializeError(err, 'PLUGIN_WORKER_DIED');
    });
    worker.on('exit', (exitCode: number) => this.#onExit(worker, exitCode));

    return new Promise<LoadResult>((resolve) => {
      const timeoutMs = this.#options.loadTimeoutMs ?? this.#options.callbackTimeoutMs;
      const timer = setTimeout(() => {
        settle({ ok: false, error: fault('PLUGIN_LOAD_TIMEOUT', `plugin ${this.name} did not finish loading in ${timeoutMs} ms`, { plugin: this.name, timeoutMs }) });
        void this.#stopWorker();
      }, timeoutMs);
      const settle = (result: LoadResult): void => {
        clearTimeout(timer);
        if (this.#op === op) this.#op = null;
        resolve(result);
      };
      const op: Operation = {
        onMessage: (msg) => {
          if (msg.type === 'loaded') settle({ ok: true, callbacks: msg.callbacks.map(toCallbackInfo), emails: msg.emails });
          else if (msg.type === 'load-failed') settle({ ok: false, error: msg.error });
        },
        onExit: (error) => settle({ ok: false, error }),
      };
      this.#op = op;
      this.#send(worker, { type: 'load' });
    });
  }

  #runBatch(events: readonly EventLogEntry[], attempt: number, replay: boolean, fromIndex: number): Promise<BatchRun> {
    const worker = this.#worker;
    if (worker === null) throw new PluginError('PLUGIN_HOST_STATE', 'no worker');
    const seq = ++this.#seq;
    const progress = this.#progressFor(worker, events.length * Math.max(1, this.#callbacks.length));
    progress.reset();
    const errors = new Map<string, SerializedError>();
    const timeoutMs = this.#options.callbackTimeoutMs;
    let timer: NodeJS.Timeout | undefined;

    // The callbacks that ended, by event: the first `completed` events, then the one cut short.
    const collect = (completed: number, limit = Infinity): { results: CallbackResult[][]; partial: CallbackResult[] } => {
      const results: CallbackResult[][] = [];
      for (let e = 0; e < completed; e++) results.push([]);
      const partial: CallbackResult[] = [];
      progress.each(limit, (event, index, startedAt, durationMs, failed) => {
        const name = this.#callbacks[index]?.name ?? `callback${index}`;
        const r: CallbackResult = { callback: name, index, startedAt: new Date(startedAt), durationMs };
        if (failed) {
          r.error = errors.get(`${event}:${index}`)
            ?? fault('PLUGIN_CALLBACK_ERROR', `callback ${name} of plugin ${this.name} failed; its error was lost with the plugin thread`, { plugin: this.name, callback: name });
        }
        (event < completed ? results[event] ?? partial : partial).push(r);
      });
      return { results, partial };
    };
    const cutShort = (): { completed: number; limit: number; index: number | null; eventId: number | undefined } => {
      const running = progress.running();
      if (running !== null) return { completed: running.event, limit: running.run - 1, index: running.callback, eventId: events[running.event]?.id };
      // Lost between callbacks: the event of the last callback that ended is not known to be complete.
      const last = progress.entries().at(-1)?.event ?? 0;
      return { completed: last, limit: Infinity, index: null, eventId: events[last]?.id };
    };

    return new Promise<BatchRun>((resolve) => {
      const settle = (outcome: BatchRun): void => {
        clearTimeout(timer);
        if (this.#op === op) this.#op = null;
        resolve(outcome);
      };
      // The watchdog: one timer, re-armed for the callback running when it fires.
      const watch = (): void => {
        const running = progress.running();
        const elapsed = running === null ? 0 : Date.now() - running.startedAt;
        if (running === null || elapsed < timeoutMs) {
          timer = setTimeout(watch, timeoutMs - elapsed);
          return;
        }
        this.#crashes.push(Date.now());
        const callback = this.#callbacks[running.callback]?.name ?? null;
        const eventId = events[running.event]?.id;
        const { results, partial } = collect(running.event, running.run - 1);
        settle({
          kind: 'interrupted', completed: running.event, results, partial, index: running.callback, callback,
          error: fault('PLUGIN_CALLBACK_TIMEOUT', `callback ${callback ?? '?'} of plugin ${this.name} ran over ${timeoutMs} ms`, { plugin: this.name, callback, eventId, timeoutMs }),
        });
        this.#log.warn({ callback, eventId, timeoutMs }, 'callback timed out; terminating the plugin thread');
        void this.#stopWorker();
      };
      const op: Operation = {
        onMessage: (msg) => {
          if (!('seq' in msg) || msg.seq !== seq) return;
          if (msg.type === 'batch-error') {
            errors.set(`${msg.event}:${msg.index}`, msg.error);
            // The dispatcher logs (and mails) failures with what it decided; this is the trace.
            this.#log.debug({ callback: this.#callbacks[msg.index]?.name, eventId: events[msg.event]?.id, err: msg.error }, 'callback failed');
          } else if (msg.type === 'batch-done') {
            const { results } = collect(msg.events);
            settle({ kind: 'done', completed: msg.events, results, partial: [] });
          }
        },
        onExit: (error) => {
          const at = cutShort();
          const callback = at.index === null ? null : (this.#callbacks[at.index]?.name ?? null);
          if (!this.#isClosed()) this.#log.warn({ callback, eventId: at.eventId, err: error }, 'plugin thread died while processing');
          const { results, partial } = collect(at.completed, at.limit);
          settle({
            kind: 'interrupted', completed: at.completed, results, partial, index: at.index, callback,
            error: { ...error, details: { ...error.details, eventId: at.eventId, callback } },
          });
        },
      };
      this.#op = op;
      timer = setTimeout(watch, timeoutMs);
      this.#send(worker, { type: 'batch', seq, events: events as unknown as ToWorkerEvents, attempt, replay, fromIndex, budgetMs: this.#options.batchBudgetMs ?? 50, progress: progress.buffer });
    });
  }

  /** A progress buffer for this thread, big enough for `entries` callback runs (a lost thread's buffer is never reused). */
  #progressFor(worker: Worker, entries: number): BatchProgress {
    if (this.#progress === null || this.#progress.worker !== worker || this.#progress.buffer.capacity < entries) {
      this.#progress = { worker, buffer: new BatchProgress(Math.max(entries, 64)) };
    }
    return this.#progress.buffer;
  }

  #send(worker: Worker, msg: ToWorker): void {
    try {
      worker.postMessage(msg);
    } catch (err) {
      // An event that cannot be cloned (a function inside, say) is a caller fault.
      this.#op?.onExit(serializeError(err, 'PLUGIN_PROTOCOL'));
    }
  }

  #onMessage(worker: Worker, raw: unknown): void {
    if (worker !== this.#worker) return;
    const parsed = fromWorkerSchema.safeParse(raw);
    if (!parsed.success) {
      this.#log.error({ issues: parsed.error.issues.slice(0, 5) }, 'malformed message from plugin thread');
      return;
    }
    const msg = parsed.data;
    if (msg.type === 'log') this.#writeLog(msg);
    else if (msg.type === 'request') void this.#answer(worker, msg);
    else this.#op?.onMessage(msg);
  }

  #forwardLines(stream: Readable, name: 'stdout' | 'stderr', level: 'info' | 'warn'): void {
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    lines.on('line', (line) => this.#log[level]({ stream: name }, line));
  }

  #writeLog(msg: Extract<FromWorker, { type: 'log' }>): void {
    const obj = msg.obj === undefined ? {} : typeof msg.obj === 'object' && msg.obj !== null && !Array.isArray(msg.obj) ? msg.obj : { value: msg.obj };
    this.#log[msg.level]({ ...msg.bindings, ...obj }, msg.msg);
  }

  async #answer(worker: Worker, msg: Extract<FromWorker, { type: 'request' }>): Promise<void> {
    let reply: ToWorker;
    try {
      const handler = this.#options.handleRequest;
      if (handler === undefined) throw new PluginError('PLUGIN_REQUEST_FAILED', `no handler for request ${msg.method}`, { details: { method: msg.method } });
      reply = { type: 'response', id: msg.id, ok: true, result: await handler(msg.method, msg.params, { signal: this.#workerAbort.signal }) };
    } catch (err) {
      reply = { type: 'response', id: msg.id, ok: false, error: serializeError(err, 'PLUGIN_REQUEST_FAILED') };
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
    const error = fault('PLUGIN_WORKER_DIED', `plugin ${this.name} thread exited with code ${exitCode}${cause === null ? '' : `: ${cause.message}`}`, {
      plugin: this.name, exitCode, ...(cause === null ? {} : { causeCode: cause.code, causeName: cause.name }),
    });
    const op = this.#op;
    this.#op = null;
    if (op !== null) op.onExit(error);
    else if (this.#state !== 'closed') this.#log.warn({ err: error }, 'plugin thread exited while idle; it restarts on the next event');
  }

  async #stopWorker(): Promise<void> {
    const worker = this.#worker;
    if (worker === null) return;
    this.#worker = null;
    this.#workerAbort.abort();
    const op = this.#op;
    this.#op = null;
    op?.onExit(fault('PLUGIN_HOST_STATE', `plugin ${this.name} thread stopped`));
    await worker.terminate();
  }
}

function toCallbackInfo(msg: { index: number; name: string; scriptName: string; matchEvents: Record<string, string[] | string | null> | null; stopOnError: boolean; args?: unknown }): CallbackInfo {
  const info: CallbackInfo = { index: msg.index, name: msg.name, scriptName: msg.scriptName, matchEvents: msg.matchEvents, stopOnError: msg.stopOnError };
  if ('args' in msg) info.args = msg.args;
  return info;
}
