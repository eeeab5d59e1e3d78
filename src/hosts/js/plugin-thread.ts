// One JS/TS plugin's worker thread, seen from the main thread: started (the
// load handshake), ended over its memory limit, its messages routed to the
// load or the batch waiting for them, its requests answered, its exit turned
// into a coded error for every operation waiting on it. A host keeps one
// PluginThread and starts a new thread in it after a loss (host.ts).
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { setLongTimeout } from '../../shared/index.ts';
import { PluginError, serializeError, type SerializedError } from '../../plugins/errors.ts';
import { fromWorkerSchema, type FromWorker, type ToWorker, type WorkerConfig } from './protocol.ts';
import { BatchProgress } from './progress.ts';
import { fault, startBatch, type BatchRun, type Operation } from './batch-run.ts';
import { answerRequest, forwardLines, toCallbackInfo, writeWorkerLog } from './host-io.ts';
import type { EventLogEntry } from '../../plugins/types.ts';
import type { CallbackInfo, LoadResult } from '../contract.ts';
import type { WorkerHostOptions } from './options.ts';
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

/** Plugin threads made and not closed, in this process. */
let open = 0;

export interface PluginThreadOptions {
  options: WorkerHostOptions;
  log: Logger;
  /** The `site` part of callback keys. */
  site: string;
  isClosed(): boolean;
  /** The thread exited on its own (crash, memory limit): counted against the restart budget. */
  onLost(): void;
}

export interface BatchSend {
  events: readonly EventLogEntry[];
  callbacks: readonly CallbackInfo[];
  attempt: number;
  replay: boolean;
  fromIndex: number;
  /** A callback ran over its timeout: the caller ends the thread. */
  onTimeout(): void;
}

export class PluginThread {
  readonly #o: PluginThreadOptions;
  readonly #name: string;
  #worker: Worker | null = null;
  #workerAbort = new AbortController();
  #loadOp: Operation | null = null;
  /** The batches in the thread now, by seq. */
  readonly #ops = new Map<number, Operation>();
  #crash: SerializedError | null = null;
  #seq = 0;
  /** Progress buffers of this thread not in use (a lost thread's buffers are never reused). */
  #progress: { worker: Worker; free: BatchProgress[] } | null = null;
  /** What the batches in the thread waited for Toolkit runtimes, by seq. */
  readonly #queueWaits = new Map<number, QueueWait>();
  /** The current thread's memory limit, when it has one. */
  #memory: MemoryWatch | null = null;
  /** Runs the thread's `sg` calls; made on the first one. */
  #sgRelay: SgRelay | null = null;
  #closed = false;

  constructor(o: PluginThreadOptions) {
    this.#o = o;
    this.#name = o.options.name;
    open++;
  }

  /** True while a thread runs (false before the first start, after a loss or a stop). */
  get alive(): boolean {
    return this.#worker !== null;
  }

  /** Starts a thread that imports the file and runs registerCallbacks. */
  start(): Promise<LoadResult> {
    const options = this.#o.options;
    const log = this.#o.log;
    const config: WorkerConfig = {
      file: options.file,
      plugin: this.#name,
      sgEndpoint: apiUrl(options.siteUrl).href,
      site: this.#o.site,
      useSessionUuid: options.useSessionUuid,
      logLevel: log.level,
    };
    const worker = new Worker(WORKER_URL, {
      workerData: config,
      name: `plugin:${this.#name}`,
      stdout: true,
      stderr: true,
      ...(options.env === undefined ? {} : { env: options.env }),
      // A young generation of its own size: measured to halve a no-op plugin
      // thread's time per event (fewer scavenges of each batch's events).
      resourceLimits: {
        maxYoungGenerationSizeMb: 16,
        ...(options.maxMemoryMb === undefined ? {} : { maxOldGenerationSizeMb: options.maxMemoryMb * HEAP_HEADROOM }),
        ...options.resourceLimits,
      },
    });
    this.#worker = worker;
    this.#memory = this.#watchMemory(worker);
    this.#workerAbort.abort();
    this.#workerAbort = new AbortController();
    this.#crash = null;
    // A stray console.log in a plugin becomes a log record, not daemon stdout.
    forwardLines(worker.stdout, 'stdout', 'info', log);
    forwardLines(worker.stderr, 'stderr', 'warn', log);
    worker.on('message', (raw: unknown) => this.#onMessage(worker, raw));
    worker.on('error', (err: unknown) => {
      this.#crash = serializeError(err, 'PLUGIN_WORKER_DIED');
    });
    worker.on('exit', (exitCode: number) => this.#onExit(worker, exitCode));

    return new Promise<LoadResult>((resolve) => {
      const timeoutMs = options.loadTimeoutMs ?? options.callbackTimeoutMs;
      const timer = setLongTimeout(() => {
        settle({ ok: false, error: fault('PLUGIN_LOAD_TIMEOUT', `plugin ${this.#name} did not finish loading in ${timeoutMs} ms`, { plugin: this.#name, timeoutMs }) });
        void this.stop();
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
            const concurrency = resolveConcurrency(options.concurrency, msg.concurrency);
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

  /** Sends a batch to the running thread; settles when it ends, times out or loses its thread. */
  run(b: BatchSend): Promise<BatchRun> {
    const worker = this.#worker;
    if (worker === null) throw new PluginError('PLUGIN_HOST_STATE', 'no worker');
    const options = this.#o.options;
    const seq = ++this.#seq;
    const progress = this.#takeProgress(worker, b.events.length * Math.max(1, b.callbacks.length));
    const queueWait = new QueueWait();
    this.#queueWaits.set(seq, queueWait);
    const { op, done } = startBatch({
      queueWait,
      plugin: this.#name,
      seq,
      events: b.events,
      callbacks: b.callbacks,
      progress,
      timeoutMs: options.callbackTimeoutMs,
      log: this.#o.log,
      isClosed: () => this.#o.isClosed(),
      onTimeout: () => b.onTimeout(),
    });
    this.#ops.set(seq, op);
    // A batch serialised once for every plugin thread that gets it (batch-wire.ts);
    // with one plugin thread in the daemon there is nothing to share: a plain clone.
    const encoded = open > 1 ? encodeBatch(b.events) : null;
    this.#send(worker, {
      type: 'batch', seq, attempt: b.attempt, replay: b.replay, fromIndex: b.fromIndex,
      ...(encoded === null ? { events: b.events as unknown as ToWorkerEvents } : { events: [], eventsBytes: encoded.bytes, skip: encoded.skip }),
      budgetMs: options.batchBudgetMs ?? 50, progress: progress.buffer,
    }, op);
    return done.finally(() => {
      this.#queueWaits.delete(seq);
      this.#ops.delete(seq);
      if (this.#progress?.worker === worker) this.#progress.free.push(progress);
    });
  }

  /** Ends the thread; every operation waiting on it ends with PLUGIN_HOST_STATE (`details.stopped`). */
  async stop(): Promise<void> {
    const worker = this.#worker;
    if (worker === null) return;
    this.#worker = null;
    this.#workerAbort.abort();
    const ops = this.#allOps();
    this.#loadOp = null;
    this.#ops.clear();
    for (const op of ops) op.onExit(fault('PLUGIN_HOST_STATE', `plugin ${this.#name} thread stopped`, { stopped: true }));
    await worker.terminate();
  }

  /** Ends the thread and the `sg` relay; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    open--;
    try {
      await this.stop();
    } finally {
      await this.#sgRelay?.close();
    }
  }

  /** Ends `worker` over its memory limit (memory-watch.ts); its 'exit' then reports PLUGIN_MEMORY_LIMIT. */
  #watchMemory(worker: Worker): MemoryWatch | null {
    const limitMb = this.#o.options.maxMemoryMb;
    if (limitMb === undefined) return null;
    return new MemoryWatch(worker, {
      limitMb,
      sampleMs: this.#o.options.memorySampleMs,
      askCollect: () => {
        if (worker === this.#worker) worker.postMessage({ type: 'collect' } satisfies ToWorker);
      },
      onOver: ({ heapMb, externalMb, seen }) => {
        if (worker !== this.#worker || this.#crash !== null) return;
        const what = heapMb > limitMb ? `${Math.round(heapMb)} MB of heap` : `${Math.round(externalMb)} MB of external memory (Buffers)`;
        this.#crash = fault('PLUGIN_MEMORY_LIMIT', `plugin ${this.#name} held ${what}, over its limit of ${limitMb} MB`, {
          plugin: this.#name, heapMb: Math.round(heapMb), externalMb: Math.round(externalMb), limitMb, seen,
        });
        void worker.terminate();
      },
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
      this.#o.log.error({ issues: parsed.error.issues.slice(0, 5) }, 'malformed message from plugin thread');
      return;
    }
    const msg = parsed.data;
    if (msg.type === 'log') writeWorkerLog(this.#o.log, msg);
    else if (msg.type === 'collected') this.#memory?.collected(msg.heapBytes, msg.externalBytes);
    else if (msg.type === 'request') void this.#answer(worker, msg);
    else if ('seq' in msg) this.#ops.get(msg.seq)?.onMessage(msg);
    else this.#loadOp?.onMessage(msg);
  }

  /** The thread's `sg` calls run here, on the main thread's pool. */
  #relaySg(params: unknown, signal: AbortSignal): Promise<unknown> {
    const options = this.#o.options;
    this.#sgRelay ??= new SgRelay({ siteUrl: options.siteUrl, proxy: options.proxy, timeoutMs: options.siteTimeoutMs });
    return this.#sgRelay.call(params, signal);
  }

  async #answer(worker: Worker, msg: Extract<FromWorker, { type: 'request' }>): Promise<void> {
    const sg = msg.method === SG_REQUEST;
    // Until the work starts (a runtime takes the call), the asking callback's timeout is paused; an sg call counts from the start.
    const started = msg.seq === undefined || sg ? undefined : this.#queueWaits.get(msg.seq)?.begin();
    let reply: ToWorker;
    try {
      const handler = sg ? (_method: string, params: unknown, { signal }: { signal: AbortSignal }) => this.#relaySg(params, signal) : this.#o.options.handleRequest;
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
    this.#o.onLost();
    const maxMemoryMb = this.#o.options.maxMemoryMb;
    const cause = this.#crash;
    // Over the heap limit (resourceLimits) or the sampled external memory.
    const overMemory = cause !== null && (cause.code === 'ERR_WORKER_OUT_OF_MEMORY' || cause.code === 'PLUGIN_MEMORY_LIMIT');
    const error = overMemory
      ? fault('PLUGIN_MEMORY_LIMIT', cause.code === 'PLUGIN_MEMORY_LIMIT' ? cause.message : `plugin ${this.#name} went over its heap limit of ${maxMemoryMb ?? '?'} MB`, {
        ...cause.details, plugin: this.#name, exitCode, limitMb: maxMemoryMb, causeCode: cause.code,
      })
      : fault('PLUGIN_WORKER_DIED', `plugin ${this.#name} thread exited with code ${exitCode}${cause === null ? '' : `: ${cause.message}`}`, {
        plugin: this.#name, exitCode, ...(cause === null ? {} : { causeCode: cause.code, causeName: cause.name }),
      });
    const ops = this.#allOps();
    this.#loadOp = null;
    this.#ops.clear();
    for (const op of ops) op.onExit(error);
    if (ops.length === 0 && !this.#o.isClosed()) this.#o.log.warn({ err: error }, 'plugin thread exited while idle; it restarts on the next event');
  }
}
