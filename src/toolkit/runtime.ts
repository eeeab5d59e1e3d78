import path from 'node:path';
import { ChildExited, PyrpcError, PythonChild, type ChildState } from '../pyrpc/index.ts';
import type { ToolkitLogger } from './log.ts';
import { InitResultSchema, revealInit } from './protocol.ts';
import type { InitParams, InitResult } from './protocol.ts';

export const RUNTIME_SCRIPT = path.join(import.meta.dirname, 'python', 'runtime.py');
export { PLUGIN_RUNNER_SCRIPT } from './scripts.ts';

/** The child's life, with `busy` while a call is in flight. */
export type RuntimeState = ChildState | 'busy';

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

interface Queued {
  method: string;
  params: unknown;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  onProgress?: ((step: unknown) => void) | undefined;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  /** Stops listening for an abort while queued (once written, the connection listens). */
  unlisten?: (() => void) | undefined;
}

/** Order of use across all runtimes, for the pool's LRU. */
let uses = 0;

/**
 * A Toolkit runtime: a Python child (pyrpc) started on one core, with what
 * the pool needs on top: one call at a time behind a bounded queue, the
 * project in every error, the init result, calls answered and the RSS the
 * runtime reports. A call's timeout runs from when it is written, not while
 * it waits in the queue.
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
  readonly initResult: InitResult;

  readonly #child: PythonChild;
  readonly #queue: Queued[] = [];
  #inFlight: Queued | undefined;
  readonly #idleWaiters: (() => void)[] = [];

  private constructor(launch: RuntimeLaunch, child: PythonChild, initResult: InitResult) {
    this.launch = launch;
    this.#child = child;
    this.initResult = initResult;
    child.onExit((reason) => this.#onExit(reason));
  }

  /** Spawns the runtime and completes `init`; on any failure the child is killed and the error thrown. */
  static async start(launch: RuntimeLaunch): Promise<ProjectRuntime> {
    const child = await PythonChild.start({
      label: `toolkit runtime for ${launch.label}`,
      details: { project: launch.label },
      python: launch.python,
      script: launch.script ?? RUNTIME_SCRIPT,
      cwd: launch.cwd,
      env: launch.env,
      init: revealInit(launch.init),
      initTimeoutMs: launch.initTimeoutMs,
      maxMessageBytes: launch.maxMessageBytes,
      maxLogLineBytes: launch.maxLogLineBytes,
      stopTimeoutMs: launch.stopTimeoutMs,
      logger: launch.logger,
    });
    const parsed = InitResultSchema.safeParse(child.initResult);
    if (!parsed.success) {
      const err = new PyrpcError('TK_PROTOCOL', `toolkit runtime for ${launch.label} answered init with an unexpected shape`, {
        details: { project: launch.label, issues: parsed.error.issues.map((i) => i.path.join('.')) },
      });
      await child.kill(err);
      throw err;
    }
    return new ProjectRuntime(launch, child, parsed.data);
  }

  get state(): RuntimeState {
    const s = this.#child.state;
    return s === 'ready' && this.#inFlight ? 'busy' : s;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get exitCode(): number | null {
    return this.#child.exitCode;
  }

  get exitSignal(): string | null {
    return this.#child.exitSignal;
  }

  /** Queued plus in flight. */
  get pending(): number {
    return this.#queue.length + (this.#inFlight ? 1 : 0);
  }

  get stderrTail(): string {
    return this.#child.stderrTail;
  }

  /** Called once when the process is gone, with the error that ended it (none for a requested stop). */
  onExit(listener: (err: PyrpcError | undefined) => void): void {
    this.#child.onExit(listener);
  }

  /**
   * Sends one request, queued behind the call in flight. `timeoutMs` bounds
   * it from when it is written (each progress step re-arms it); `signal`
   * drops it while queued, or kills the runtime once written.
   */
  request(method: string, params: unknown, timeoutMs = this.launch.callTimeoutMs, signal?: AbortSignal, onProgress?: (step: unknown) => void): Promise<unknown> {
    if (signal?.aborted) return Promise.reject(this.#aborted(method));
    const s = this.#child.state;
    // Stopping or dead: the child refuses with the reason (crash, timeout, stop).
    if (s === 'stopping' || s === 'dead') return this.#child.request(method, params);
    if (this.#queue.length >= this.launch.queueLimit) {
      return Promise.reject(new PyrpcError('TK_QUEUE_FULL', `toolkit runtime for ${this.launch.label} has ${this.#queue.length} calls waiting`, {
        details: { project: this.launch.label, queueLimit: this.launch.queueLimit },
      }));
    }
    return new Promise((resolve, reject) => {
      const q: Queued = { method, params, timeoutMs, signal, onProgress, resolve, reject };
      if (signal) {
        const drop = (): void => {
          const i = this.#queue.indexOf(q);
          if (i < 0) return; // written already: the connection handles it
          this.#queue.splice(i, 1);
          reject(this.#aborted(method));
          this.#pump();
        };
        signal.addEventListener('abort', drop, { once: true });
        q.unlisten = () => signal.removeEventListener('abort', drop);
      }
      this.#queue.push(q);
      this.#pump();
    });
  }

  /** Resolves when nothing is queued or in flight (or the process is gone). */
  idle(): Promise<void> {
    if (this.pending === 0 || this.#child.state === 'dead') return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Stops in two phases: a `shutdown` request raced against a timer, then
   * SIGTERM, then SIGKILL. Idempotent; pending calls fail with TK_RUNTIME_CLOSED.
   */
  close(): Promise<void> {
    if (this.#child.state !== 'dead') {
      const closed = new PyrpcError('TK_RUNTIME_CLOSED', `toolkit runtime for ${this.launch.label} is stopping`, {
        details: { project: this.launch.label, sent: false },
      });
      for (const q of this.#queue.splice(0)) {
        q.unlisten?.();
        q.reject(closed);
      }
    }
    return this.#child.close();
  }

  /** Kills at once (a hung or misbehaving runtime). */
  kill(): Promise<void> {
    return this.#child.kill();
  }

  #pump(): void {
    if (this.#inFlight) return;
    const next = this.#queue.shift();
    if (!next) {
      for (const w of this.#idleWaiters.splice(0)) w();
      return;
    }
    next.unlisten?.();
    this.#inFlight = next;
    const done = (): void => {
      this.#inFlight = undefined;
      this.lastUsedAt = Date.now();
      this.lastUse = ++uses;
      this.#pump();
    };
    this.#child.request(next.method, next.params, { timeoutMs: next.timeoutMs, signal: next.signal, onProgress: next.onProgress }).then(
      (result) => {
        this.calls += 1;
        this.rssKb = this.#child.reportedRssKb ?? this.rssKb;
        done();
        next.resolve(result);
      },
      (err: unknown) => {
        done();
        next.reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  }

  #onExit(reason: PyrpcError | undefined): void {
    const notSent = reason
      ? new ChildExited(`toolkit runtime for ${this.launch.label}`, {
        project: this.launch.label, exitCode: this.exitCode, signal: this.exitSignal, pid: this.pid, sent: false, cause: reason.code,
      })
      : new PyrpcError('TK_RUNTIME_CLOSED', `toolkit runtime for ${this.launch.label} stopped`, { details: { project: this.launch.label, sent: false } });
    for (const q of this.#queue.splice(0)) {
      q.unlisten?.();
      q.reject(notSent);
    }
    for (const w of this.#idleWaiters.splice(0)) w();
  }

  #aborted(method: string): PyrpcError {
    return new PyrpcError('TK_CALL_ABORTED', `toolkit runtime for ${this.launch.label}: ${method} abandoned by its caller`, {
      details: { project: this.launch.label, method, sent: false },
    });
  }
}
