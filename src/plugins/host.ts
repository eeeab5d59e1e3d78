// PluginHost: one JS/TS plugin in its own worker thread, seen from the main
// thread. The dispatcher loads it, asks `matches(event)` on the main thread,
// and sends matching events through `process()`, one at a time.
import { Worker } from 'node:worker_threads';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { PluginError, serializeError, type SerializedError } from './errors.ts';
import { canProcess, type MatchableEvent } from './match.ts';
import { fromWorkerSchema, toWorkerSchema, type FromWorker, type ToWorker, type WorkerConfig } from './protocol.ts';
import type { EventLogEntry } from './types.ts';
import { TRANSITIONS, type CallbackFailure, type CallbackInfo, type CallbackResult, type LoadResult, type PluginHostOptions, type PluginHostState, type ProcessResult } from './host-types.ts';

/** What the current operation wants to hear from the worker. */
interface Operation {
  onMessage(msg: Exclude<FromWorker, { type: 'log' | 'request' }>): void;
  onExit(error: SerializedError): void;
}

type RunOutcome =
  | { kind: 'done'; results: CallbackResult[] }
  | { kind: 'interrupted'; results: CallbackResult[]; index: number | null; callback: string | null; error: SerializedError };

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

  constructor(options: PluginHostOptions) {
    if (!Number.isFinite(options.callbackTimeoutMs) || options.callbackTimeoutMs <= 0) {
      throw new PluginError('PLUGIN_HOST_STATE', `callbackTimeoutMs must be a positive number, got ${String(options.callbackTimeoutMs)}`);
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
  async process(event: EventLogEntry, options: { attempt?: number; replay?: boolean } = {}): Promise<ProcessResult> {
    if (this.#state !== 'ready') {
      throw new PluginError('PLUGIN_HOST_STATE', `plugin ${this.name} cannot process while ${this.#state}`, { details: { plugin: this.name, state: this.#state } });
    }
    const shape = toWorkerSchema.safeParse({ type: 'process', seq: 0, event, attempt: options.attempt ?? 1, replay: options.replay ?? false, fromIndex: 0 });
    if (!shape.success) {
      throw new PluginError('PLUGIN_PROTOCOL', `not an event or bad options for plugin ${this.name}`, { details: { issues: shape.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`) } });
    }
    const results: CallbackResult[] = [];
    const failures: CallbackFailure[] = [];
    if (!this.matches(event)) return { outcome: 'ok', results, failures };
    this.#transition('busy');
    let nextState: PluginHostState = 'ready';
    try {
      let fromIndex = 0;
      for (;;) {
        if (this.#worker === null) {
          // The thread died or was terminated: a new one before the event runs.
          const spent = this.#budgetSpent();
          if (spent !== null) {
            nextState = 'failed';
            this.#log.warn({ err: spent }, 'plugin thread lost too often; not restarting it until the plugin is reloaded');
            return { outcome: 'deactivate', callback: null, error: spent, results, failures };
          }
          const loaded = await this.#restart();
          if (this.#isClosed()) return { outcome: 'aborted', error: fault('PLUGIN_HOST_STATE', 'host closed'), results, failures };
          if (!loaded.ok) {
            nextState = 'failed';
            return { outcome: 'deactivate', callback: null, error: loaded.error, results, failures };
          }
        }
        const run = await this.#run(event, options.attempt ?? 1, options.replay ?? false, fromIndex);
        results.push(...run.results);
        if (this.#isClosed()) return { outcome: 'aborted', error: fault('PLUGIN_HOST_STATE', 'host closed while the event ran'), results, failures };

        // Errors reported by callbacks that ran to their end.
        for (const r of run.results) {
          if (r.error === undefined) continue;
          if (this.#callbacks[r.index]?.stopOnError ?? true) {
            return { outcome: 'deactivate', callback: r.callback, error: r.error, results, failures };
          }
          failures.push({ callback: r.callback, error: r.error });
        }
        if (run.kind === 'done') return { outcome: 'ok', results, failures };

        // Timed out or thread died inside a callback: that callback failed.
        const info = run.index === null ? undefined : this.#callbacks[run.index];
        if (info === undefined || info.stopOnError) {
          return { outcome: 'deactivate', callback: run.callback, error: run.error, results, failures };
        }
        failures.push({ callback: info.name, error: run.error });
        fromIndex = info.index + 1;
        if (!this.#callbacks.slice(fromIndex).some((cb) => canProcess(cb.matchEvents, event))) {
          return { outcome: 'ok', results, failures };
        }
      }
    } finally {
      if (!this.#isClosed()) this.#transition(nextState);
    }
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
      ...(this.#options.resourceLimits === undefined ? {} : { resourceLimits: this.#options.resourceLimits }),
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

  #run(event: EventLogEntry, attempt: number, replay: boolean, fromIndex: number): Promise<RunOutcome> {
    const worker = this.#worker;
    if (worker === null) throw new PluginError('PLUGIN_HOST_STATE', 'no worker');
    const seq = ++this.#seq;
    const results: CallbackResult[] = [];
    let current: { index: number; callback: string } | null = null;
    let timer: NodeJS.Timeout | undefined;

    return new Promise<RunOutcome>((resolve) => {
      const settle = (outcome: RunOutcome): void => {
        clearTimeout(timer);
        if (this.#op === op) this.#op = null;
        resolve(outcome);
      };
      const op: Operation = {
        onMessage: (msg) => {
          if (!('seq' in msg) || msg.seq !== seq) return;
          if (msg.type === 'callback-start') {
            current = { index: msg.index, callback: msg.callback };
            const timeoutMs = this.#options.callbackTimeoutMs;
            timer = setTimeout(() => {
              this.#crashes.push(Date.now());
              const at = current;
              settle({
                kind: 'interrupted', results, index: at?.index ?? null, callback: at?.callback ?? null,
                error: fault('PLUGIN_CALLBACK_TIMEOUT', `callback ${at?.callback ?? '?'} of plugin ${this.name} ran over ${timeoutMs} ms`, { plugin: this.name, callback: at?.callback, eventId: event.id, timeoutMs }),
              });
              this.#log.warn({ callback: at?.callback, eventId: event.id, timeoutMs }, 'callback timed out; terminating the plugin thread');
              void this.#stopWorker();
            }, timeoutMs);
          } else if (msg.type === 'callback-end') {
            clearTimeout(timer);
            current = null;
            const r: CallbackResult = { callback: msg.callback, index: msg.index, startedAt: msg.startedAt, durationMs: msg.durationMs };
            if (msg.error !== undefined) {
              r.error = msg.error;
              // The dispatcher logs (and mails) failures with what it decided; this is the trace.
              this.#log.debug({ callback: msg.callback, eventId: event.id, err: msg.error }, 'callback failed');
            }
            results.push(r);
          } else if (msg.type === 'processed') {
            settle({ kind: 'done', results });
          }
        },
        onExit: (error) => {
          const at = current;
          if (!this.#isClosed()) this.#log.warn({ callback: at?.callback, eventId: event.id, err: error }, 'plugin thread died while processing');
          settle({ kind: 'interrupted', results, index: at?.index ?? null, callback: at?.callback ?? null, error: { ...error, details: { ...error.details, eventId: event.id, callback: at?.callback } } });
        },
      };
      this.#op = op;
      this.#send(worker, { type: 'process', seq, event, attempt, replay, fromIndex });
    });
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
