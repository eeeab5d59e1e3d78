import type { ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { describeError } from '../shared/errors.ts';
import { signalRuntime, spawnRuntime } from './child.ts';
import { initFailure, PythonError, RuntimeCrashed, ToolkitError } from './errors.ts';
import { forwardLines, LineSplitter } from './lines.ts';
import { silentLogger } from './log.ts';
import type { ToolkitLogger } from './log.ts';
import { InitResultSchema, ProgressSchema, ResponseSchema, revealInit } from './protocol.ts';
import type { InitParams, InitResult } from './protocol.ts';

export type RuntimeState = 'starting' | 'ready' | 'busy' | 'stopping' | 'dead';

const TRANSITIONS: Record<RuntimeState, readonly RuntimeState[]> = {
  starting: ['ready', 'busy', 'stopping', 'dead'],
  ready: ['busy', 'stopping', 'dead'],
  busy: ['ready', 'stopping', 'dead'],
  stopping: ['dead'],
  dead: [],
};

export interface RuntimeLaunch {
  /** The project(s) served, for errors and logs. */
  label: string;
  python: string;
  /** Defaults to the bundled runtime.py; tests point it at misbehaving fixtures. */
  script?: string | undefined;
  cwd: string;
  env: Readonly<Record<string, string>>;
  init: InitParams;
  initTimeoutMs: number;
  callTimeoutMs: number;
  queueLimit: number;
  /** Largest message accepted on the protocol pipe. */
  maxMessageBytes: number;
  /** Longest stdout/stderr line forwarded to the log; the rest is cut. */
  maxLogLineBytes: number;
  /** Each phase of close(): polite shutdown, then SIGTERM, then SIGKILL. */
  stopTimeoutMs: number;
  logger?: ToolkitLogger | undefined;
}

interface Pending {
  id: number;
  method: string;
  params: unknown;
  timeoutMs: number;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer?: NodeJS.Timeout;
  /** Steps of the call; each one re-arms its timeout, which then bounds a step. */
  onProgress?: ((step: unknown) => void) | undefined;
}

/** Order of use across all runtimes, for the pool's LRU. */
let uses = 0;

/**
 * One Python process started on one core: JSON lines on fd 3 (to Python) and
 * fd 4 (from Python), one call at a time, a bounded queue, a timeout per
 * call (or per progress step). It counts as ready only after `init` succeeded.
 */

export class ProjectRuntime {
  readonly launch: RuntimeLaunch;
  readonly startedAt = Date.now();
  lastUsedAt = Date.now();
  /** Order of last use across runtimes (two uses can share a millisecond). */
  lastUse = ++uses;
  /** Calls answered so far (init excluded). */
  calls = 0;
  /** Peak RSS in kB as last reported by the runtime. */
  rssKb: number | null = null;
  initResult: InitResult | undefined;

  #state: RuntimeState = 'starting';
  readonly #child: ChildProcess;
  readonly #toPy: Writable;
  readonly #logger: ToolkitLogger;
  readonly #queue: Pending[] = [];
  #inFlight: Pending | undefined;
  #nextId = 1;
  #fatal: ToolkitError | undefined;
  #deathError: ToolkitError | undefined;
  #shutdownId = -1;
  #stderrTail = '';
  #closing: Promise<void> | undefined;
  readonly #exited: Promise<void>;
  readonly #exitListeners: ((err: ToolkitError | undefined) => void)[] = [];
  readonly #idleWaiters: (() => void)[] = [];
  exitCode: number | null = null;
  exitSignal: string | null = null;

  private constructor(launch: RuntimeLaunch) {
    this.launch = launch;
    this.#logger = launch.logger ?? silentLogger;
    const { child, stdout: out, stderr: err, toPy, fromPy } = spawnRuntime(launch);
    this.#child = child;
    this.#toPy = toPy;
    this.#toPy.on('error', (e) => this.#logger.debug({ err: describeError(e), project: launch.label }, 'toolkit runtime pipe closed'));
    this.#forwardLog(out, 'stdout');
    this.#forwardLog(err, 'stderr');
    const protocol = new LineSplitter(launch.maxMessageBytes, (line) => this.#onMessage(line), (n) => {
      this.#die(new ToolkitError('TK_PROTOCOL', `toolkit runtime for ${launch.label} sent a message over ${launch.maxMessageBytes} bytes`, {
        details: { project: launch.label, bytes: n, limit: launch.maxMessageBytes },
      }));
    });
    fromPy.on('data', (c: Buffer) => protocol.push(c));
    this.#exited = new Promise((resolve) => {
      this.#child.once('error', (e) => {
        this.#fatal ??= new ToolkitError('TK_SPAWN_FAILED', `cannot start ${launch.python} for ${launch.label}: ${describeError(e)}`, {
          cause: e, details: { project: launch.label, python: launch.python },
        });
        this.#onExit(null, null);
        resolve();
      });
      this.#child.once('exit', (code, signal) => {
        this.#onExit(code, signal);
        resolve();
      });
    });
  }

  /** Spawns the runtime and completes `init`; on any failure the child is killed and the error thrown. */
  static async start(launch: RuntimeLaunch): Promise<ProjectRuntime> {
    const rt = new ProjectRuntime(launch);
    try {
      const res = await rt.#enqueue('init', launch.init, launch.initTimeoutMs);
      const parsed = InitResultSchema.safeParse(res);
      if (!parsed.success) {
        throw new ToolkitError('TK_PROTOCOL', `toolkit runtime for ${launch.label} answered init with an unexpected shape`, {
          details: { project: launch.label, issues: parsed.error.issues.map((i) => i.path.join('.')) },
        });
      }
      rt.initResult = parsed.data;
      return rt;
    } catch (e) {
      await rt.kill();
      throw initFailure(e, { label: launch.label, exitCode: rt.exitCode, signal: rt.exitSignal, stderrTail: rt.#stderrTail });
    }
  }

  get state(): RuntimeState {
    return this.#state;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Queued plus in flight. */
  get pending(): number {
    return this.#queue.length + (this.#inFlight ? 1 : 0);
  }

  get stderrTail(): string {
    return this.#stderrTail;
  }

  /** Called once when the process is gone, with the error that ended it (none for a requested stop). */
  onExit(listener: (err: ToolkitError | undefined) => void): void {
    this.#exitListeners.push(listener);
  }

  /** Sends one request; queued behind the call in flight. */
  request(method: string, params: unknown, timeoutMs = this.launch.callTimeoutMs, signal?: AbortSignal, onProgress?: (step: unknown) => void): Promise<unknown> {
    if (!signal) return this.#enqueue(method, params, timeoutMs, (created) => { created.onProgress = onProgress; });
    if (signal.aborted) return Promise.reject(this.#aborted(method, false));
    let pending: Pending | undefined;
    const p = this.#enqueue(method, params, timeoutMs, (created) => {
      pending = created;
      created.onProgress = onProgress;
    });
    const onAbort = (): void => {
      if (!pending) return;
      const i = this.#queue.indexOf(pending);
      if (i >= 0) {
        // Not sent yet: drop it, the runtime carries on.
        this.#queue.splice(i, 1);
        pending.reject(this.#aborted(method, false));
      } else if (this.#inFlight === pending) {
        // In flight: Python cannot be interrupted safely, so the runtime goes.
        this.#die(this.#aborted(method, true));
      }
    };
    signal.addEventListener('abort', onAbort, { once: true });
    return p.finally(() => signal.removeEventListener('abort', onAbort));
  }

  #aborted(method: string, sent: boolean): ToolkitError {
    return new ToolkitError('TK_CALL_ABORTED', `toolkit runtime for ${this.launch.label}: ${method} abandoned by its caller`, {
      details: { project: this.launch.label, method, sent },
    });
  }

  /** Resolves when nothing is queued or in flight (or the process is gone). */
  idle(): Promise<void> {
    if (this.pending === 0 || this.#state === 'dead') return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Stops in two phases: a `shutdown` request raced against a timer, then
   * SIGTERM, then SIGKILL. Idempotent; pending calls fail with TK_RUNTIME_CLOSED.
   */
  close(): Promise<void> {
    this.#closing ??= this.#stop();
    return this.#closing;
  }

  /** Kills at once (a hung or misbehaving runtime). */
  async kill(): Promise<void> {
    if (this.#state !== 'dead') {
      if (this.#state !== 'stopping') this.#transition('stopping');
      signalRuntime(this.#child, 'SIGKILL');
    }
    await this.#exited;
  }

  async #stop(): Promise<void> {
    if (this.#state === 'dead') return;
    if (this.#state !== 'stopping') this.#transition('stopping');
    const closed = new ToolkitError('TK_RUNTIME_CLOSED', `toolkit runtime for ${this.launch.label} is stopping`, {
      details: { project: this.launch.label, sent: false },
    });
    for (const p of this.#queue.splice(0)) p.reject(closed);
    try {
      this.#shutdownId = this.#nextId++;
      this.#toPy.write(`${JSON.stringify({ id: this.#shutdownId, method: 'shutdown', params: {} })}\n`);
      this.#toPy.end();
    } catch (e) {
      this.#logger.debug({ err: describeError(e), project: this.launch.label }, 'toolkit runtime: shutdown not sent');
    }
    for (const signal of [null, 'SIGTERM', 'SIGKILL'] as const) {
      if (signal) signalRuntime(this.#child, signal);
      if (await this.#waitExit(this.launch.stopTimeoutMs)) return;
    }
    await this.#exited;
  }

  async #waitExit(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), ms); });
    const done = await Promise.race([this.#exited.then(() => true as const), t]);
    clearTimeout(timer);
    return done;
  }

  #enqueue(method: string, params: unknown, timeoutMs: number, created?: (p: Pending) => void): Promise<unknown> {
    if (this.#state === 'stopping' || this.#state === 'dead') {
      return Promise.reject(this.#deathError ?? this.#fatal ?? new ToolkitError('TK_RUNTIME_CLOSED', `toolkit runtime for ${this.launch.label} is ${this.#state}`, {
        details: { project: this.launch.label, sent: false },
      }));
    }
    if (this.#queue.length >= this.launch.queueLimit) {
      return Promise.reject(new ToolkitError('TK_QUEUE_FULL', `toolkit runtime for ${this.launch.label} has ${this.#queue.length} calls waiting`, {
        details: { project: this.launch.label, queueLimit: this.launch.queueLimit },
      }));
    }
    return new Promise((resolve, reject) => {
      const pending: Pending = { id: this.#nextId++, method, params, timeoutMs, resolve, reject };
      created?.(pending);
      this.#queue.push(pending);
      this.#pump();
    });
  }

  #pump(): void {
    if (this.#inFlight || this.#state === 'stopping' || this.#state === 'dead') return;
    const next = this.#queue.shift();
    if (!next) {
      for (const w of this.#idleWaiters.splice(0)) w();
      return;
    }
    this.#inFlight = next;
    if (this.#state === 'ready') this.#transition('busy');
    this.#arm(next);
    const params = next.method === 'init' ? revealInit(next.params as InitParams) : next.params;
    this.#toPy.write(`${JSON.stringify({ id: next.id, method: next.method, params })}\n`);
  }

  #arm(call: Pending): void {
    clearTimeout(call.timer);
    call.timer = setTimeout(() => {
      const code = call.method === 'init' ? 'TK_INIT_TIMEOUT' : 'TK_CALL_TIMEOUT';
      this.#die(new ToolkitError(code, `toolkit runtime for ${this.launch.label}: ${call.method} took longer than ${call.timeoutMs} ms`, {
        details: { project: this.launch.label, method: call.method, timeoutMs: call.timeoutMs },
      }));
    }, call.timeoutMs);
  }

  #onMessage(line: Buffer): void {
    if (this.#state === 'dead') return;
    let parsed;
    let raw: unknown;
    try {
      raw = JSON.parse(line.toString('utf8'));
      parsed = ResponseSchema.safeParse(raw);
    } catch {
      parsed = undefined;
    }
    const p = this.#inFlight;
    const step = typeof raw === 'object' && raw !== null && 'progress' in raw ? ProgressSchema.safeParse(raw) : null;
    if (step !== null) {
      if (step.success && p?.onProgress && step.data.id === p.id) {
        this.#arm(p);
        p.onProgress(step.data.progress);
        return;
      }
      parsed = undefined; // a step nobody asked for: a protocol fault below
    }
    if (parsed?.success && parsed.data.id === this.#shutdownId) return;
    if (!parsed?.success || !p || parsed.data.id !== p.id) {
      this.#die(new ToolkitError('TK_PROTOCOL', `toolkit runtime for ${this.launch.label} wrote an invalid message on its protocol pipe`, {
        details: { project: this.launch.label, sample: line.subarray(0, 200).toString('utf8') },
      }));
      return;
    }
    clearTimeout(p.timer);
    this.#inFlight = undefined;
    this.lastUsedAt = Date.now();
    this.lastUse = ++uses;
    const msg = parsed.data;
    if ('error' in msg) {
      const e = msg.error;
      p.reject(new PythonError(e.code, `${this.launch.label}: ${p.method}: ${e.type}: ${e.message}`, {
        type: e.type, traceback: e.traceback, method: p.method, project: this.launch.label, pythonMessage: e.message,
      }));
    } else {
      if (p.method !== 'init') this.calls += 1;
      if (typeof msg.rss === 'number') this.rssKb = msg.rss;
      p.resolve(msg.result);
    }
    if (this.#state === 'busy' || this.#state === 'starting') this.#transition('ready');
    this.#pump();
  }

  /** A fatal condition: remember why, kill the child; the exit handler rejects everything. */
  #die(err: ToolkitError): void {
    this.#fatal ??= err;
    const p = this.#inFlight;
    if (p) {
      clearTimeout(p.timer);
      this.#inFlight = undefined;
      p.reject(err);
    }
    if (this.#state !== 'dead' && this.#state !== 'stopping') this.#transition('stopping');
    signalRuntime(this.#child, 'SIGKILL');
  }

  #onExit(code: number | null, signal: string | null): void {
    if (this.#state === 'dead') return;
    this.exitCode = code;
    this.exitSignal = signal;
    const requested = this.#closing !== undefined && this.#fatal === undefined;
    const crashed = new RuntimeCrashed({ project: this.launch.label, exitCode: code, signal, pid: this.#child.pid, stderrTail: this.#stderrTail.slice(-2000) });
    const inFlightErr = requested
      ? new ToolkitError('TK_RUNTIME_CLOSED', `toolkit runtime for ${this.launch.label} stopped`, { details: { project: this.launch.label, sent: true } })
      : (this.#fatal ?? crashed);
    const p = this.#inFlight;
    this.#inFlight = undefined;
    if (p) {
      clearTimeout(p.timer);
      p.reject(inFlightErr);
    }
    const notSent = requested
      ? new ToolkitError('TK_RUNTIME_CLOSED', `toolkit runtime for ${this.launch.label} stopped`, { details: { project: this.launch.label, sent: false } })
      : new RuntimeCrashed({ project: this.launch.label, exitCode: code, signal, pid: this.#child.pid });
    if (!requested) Object.assign(notSent.details, { sent: false, cause: this.#fatal?.code ?? 'exit' });
    for (const q of this.#queue.splice(0)) q.reject(notSent);
    this.#transition('dead');
    const reason = requested ? undefined : (this.#fatal ?? crashed);
    this.#deathError = reason;
    if (reason) this.#logger.warn({ project: this.launch.label, code: reason.code, exitCode: code, signal }, 'toolkit runtime ended');
    for (const l of this.#exitListeners.splice(0)) l(reason);
    for (const w of this.#idleWaiters.splice(0)) w();
  }

  #transition(to: RuntimeState): void {
    if (!TRANSITIONS[this.#state].includes(to)) {
      throw new ToolkitError('TK_BAD_TRANSITION', `toolkit runtime for ${this.launch.label}: ${this.#state} -> ${to}`, {
        details: { from: this.#state, to },
      });
    }
    this.#state = to;
  }

  #forwardLog(stream: Readable, name: 'stdout' | 'stderr'): void {
    const level = name === 'stderr' ? 'warn' : 'info';
    forwardLines(stream, this.launch.maxLogLineBytes, (text, truncated) => {
      if (name === 'stderr') this.#stderrTail = (this.#stderrTail + text + '\n').slice(-8000);
      this.#logger[level]({ project: this.launch.label, stream: name, pid: this.#child.pid, ...(truncated ? { truncated: true } : {}) }, text);
    });
  }
}
