import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { describeError } from '../shared/errors.ts';
import { Connection, type CallOptions } from './connection.ts';
import { ChildExited, initFailure, PyrpcError } from './errors.ts';
import { parseRecordLine } from './log-record.ts';
import { forwardLines, readMessages } from './reader.ts';
import { LineWriter } from './writer.ts';

/** The subset of a pino logger a child logs to; a pino logger fits as is. */
export interface ChildLogger {
  debug(obj: Record<string, unknown>, msg: string): void;
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
  /** Python's CRITICAL; `error` when absent. */
  fatal?(obj: Record<string, unknown>, msg: string): void;
}

const noop = (): void => undefined;
export const silentLogger: ChildLogger = { debug: noop, info: noop, warn: noop, error: noop };

export type ChildState = 'starting' | 'ready' | 'stopping' | 'dead';

const TRANSITIONS: Record<ChildState, readonly ChildState[]> = {
  starting: ['ready', 'stopping', 'dead'],
  ready: ['stopping', 'dead'],
  stopping: ['dead'],
  dead: [],
};

/** How often resident memory is sampled when `maxRssMb` is set. */
export const RSS_SAMPLE_MS = 2000;

export interface ChildOptions {
  /** Names the child in messages and logs ("project 12", "plugin shots"). */
  label: string;
  /** Merged into the details of every error and log record (e.g. `{ project }`). */
  details?: Record<string, unknown> | undefined;
  python: string;
  script: string;
  cwd: string;
  env: Readonly<Record<string, string>>;
  /** The `init` request's params, as written to the pipe. */
  init: unknown;
  initTimeoutMs: number;
  /** Largest message accepted on the protocol pipe. */
  maxMessageBytes: number;
  /** Longest stdout/stderr line forwarded to the log; the rest is cut. */
  maxLogLineBytes: number;
  /** Each phase of close(): polite shutdown, then SIGTERM, then SIGKILL. */
  stopTimeoutMs: number;
  /** Kills the child with TK_MEMORY_LIMIT when its resident memory passes this (sampled; Linux only). */
  maxRssMb?: number | undefined;
  rssSampleMs?: number | undefined;
  logger?: ChildLogger | undefined;
}

/**
 * One Python child speaking the JSON-lines protocol (sgeventd_protocol.py):
 * requests on fd 3, answers on fd 4, stdout and stderr forwarded to the log.
 * On POSIX it leads its own process group, so a kill reaches what a call
 * started (a hook's children) and a Ctrl-C in the daemon's terminal reaches
 * only the daemon, which stops children in order. It counts as ready only
 * after it answered `init`; one that fails init is killed and never handed
 * out. Stops in two phases (a `shutdown` request raced against a timer, then
 * SIGTERM, then SIGKILL to the group).
 */
export class PythonChild {
  readonly options: ChildOptions;
  /** What the child answered to `init`. */
  initResult: unknown;
  /** Peak RSS in kB as last reported by the child with an answer. */
  reportedRssKb: number | null = null;
  exitCode: number | null = null;
  exitSignal: string | null = null;

  #state: ChildState = 'starting';
  readonly #child: ChildProcess;
  readonly #writer: LineWriter;
  readonly #connection: Connection;
  readonly #logger: ChildLogger;
  readonly #details: Record<string, unknown>;
  #fatal: PyrpcError | undefined;
  #deathError: PyrpcError | undefined;
  #stderrTail = '';
  #closing: Promise<void> | undefined;
  #sampler: NodeJS.Timeout | undefined;
  readonly #exited: Promise<void>;
  readonly #exitListeners: ((err: PyrpcError | undefined) => void)[] = [];

  private constructor(o: ChildOptions) {
    this.options = o;
    this.#logger = o.logger ?? silentLogger;
    this.#details = o.details ?? {};
    this.#child = spawn(o.python, [o.script], {
      cwd: o.cwd,
      env: o.env,
      stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
      shell: false,
      windowsHide: true,
      detached: process.platform !== 'win32',
    });
    const [, stdout, stderr, toPy, fromPy] = this.#child.stdio as [unknown, Readable, Readable, Writable, Readable];
    this.#writer = new LineWriter(toPy, this.#details);
    this.#connection = new Connection(this.#writer, {
      label: o.label,
      details: this.#details,
      onFatal: (err) => this.#die(err),
      onAnswer: (rss) => { if (rss !== null) this.reportedRssKb = rss; },
    });
    this.#forwardLog(stdout, 'stdout');
    this.#forwardLog(stderr, 'stderr');
    readMessages(fromPy, {
      maxBytes: o.maxMessageBytes,
      details: this.#details,
      onMessage: (msg) => { if (this.#state !== 'dead') this.#connection.handle(msg); },
      onFault: (err) => this.#die(err),
    });
    this.#exited = new Promise((resolve) => {
      this.#child.once('error', (e) => {
        this.#fatal ??= new PyrpcError('TK_SPAWN_FAILED', `cannot start ${o.python} for ${o.label}: ${describeError(e)}`, {
          cause: e, details: { ...this.#details, python: o.python },
        });
        this.#onExit(null, null);
        resolve();
      });
      this.#child.once('exit', (code, signal) => {
        this.#onExit(code, signal);
        resolve();
      });
    });
    if (o.maxRssMb !== undefined && process.platform === 'linux') {
      this.#sampler = setInterval(() => this.#sampleRss(o.maxRssMb ?? Infinity), o.rssSampleMs ?? RSS_SAMPLE_MS);
      this.#sampler.unref();
    }
  }

  /** Spawns the child and completes `init`; on any failure the child is killed and the coded error thrown. */
  static start(o: ChildOptions): Promise<PythonChild> {
    return PythonChild.launch(o).ready;
  }

  /**
   * As `start`, with the child at hand at once: `ready` settles as `start`
   * would, and `close()` or `kill()` may end the child during its `init`
   * (then `ready` rejects with TK_RUNTIME_CLOSED or the kill's reason).
   */
  static launch(o: ChildOptions): { child: PythonChild; ready: Promise<PythonChild> } {
    const child = new PythonChild(o);
    return { child, ready: child.#init() };
  }

  async #init(): Promise<PythonChild> {
    const o = this.options;
    try {
      this.initResult = await this.#connection.request('init', o.init, { timeoutMs: o.initTimeoutMs, timeoutCode: 'TK_INIT_TIMEOUT' });
      if (this.#state !== 'starting') throw this.#fatal ?? new PyrpcError('TK_RUNTIME_CLOSED', `${o.label} stopped during init`, { details: this.#details });
      this.#transition('ready');
      return this;
    } catch (e) {
      await this.kill();
      throw initFailure(e, { label: o.label, exitCode: this.exitCode, signal: this.exitSignal, stderrTail: this.#stderrTail, details: this.#details });
    }
  }

  get state(): ChildState {
    return this.#state;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Calls written and not answered yet. */
  get pending(): number {
    return this.#connection.pending;
  }

  get stderrTail(): string {
    return this.#stderrTail;
  }

  /** Called once when the process is gone, with the error that ended it (none for a requested stop). */
  onExit(listener: (err: PyrpcError | undefined) => void): void {
    if (this.#state === 'dead') listener(this.#deathError);
    else this.#exitListeners.push(listener);
  }

  /** Writes one request now (the caller orders calls); see CallOptions for timeout, signal and progress. */
  request(method: string, params: unknown, opts: CallOptions = {}): Promise<unknown> {
    return this.#connection.request(method, params, opts);
  }

  /** Two-phase stop; idempotent. A call in flight is rejected with TK_RUNTIME_CLOSED when the child exits. */
  close(): Promise<void> {
    this.#closing ??= this.#stop();
    return this.#closing;
  }

  /** Kills the group at once (a hung or misbehaving child); `reason` becomes the error of pending calls. */
  async kill(reason?: PyrpcError): Promise<void> {
    if (reason) this.#die(reason);
    else if (this.#state !== 'dead') {
      if (this.#state !== 'stopping') this.#transition('stopping');
      this.#signal('SIGKILL');
    }
    await this.#exited;
  }

  async #stop(): Promise<void> {
    if (this.#state === 'dead') return;
    if (this.#state !== 'stopping') this.#transition('stopping');
    // The shutdown's own answer (or failure) does not matter: the exit does.
    this.#connection.request('shutdown', {}).catch((e: unknown) => {
      this.#logger.debug({ ...this.#details, err: describeError(e) }, 'python child: shutdown not answered');
    });
    this.#connection.refuse(new PyrpcError('TK_RUNTIME_CLOSED', `${this.options.label} is stopping`, { details: { ...this.#details, sent: false } }));
    this.#writer.end();
    for (const signal of [null, 'SIGTERM', 'SIGKILL'] as const) {
      if (signal) this.#signal(signal);
      if (await this.#waitExit(this.options.stopTimeoutMs)) return;
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

  /** A fatal condition: what is pending fails with it now (nothing the child writes after counts), and the group is killed. */
  #die(err: PyrpcError): void {
    if (this.#state === 'dead' || this.#fatal) return;
    this.#fatal = err;
    this.#connection.close(err);
    if (this.#state !== 'stopping') this.#transition('stopping');
    this.#signal('SIGKILL');
  }

  /** Signals the child's whole process group (POSIX), or the child alone. */
  #signal(signal: NodeJS.Signals): void {
    const pid = this.#child.pid;
    if (pid !== undefined && process.platform !== 'win32') {
      try {
        process.kill(-pid, signal);
        return;
      } catch {
        // The group is gone already, or was never made: signal the child itself.
      }
    }
    this.#child.kill(signal);
  }

  #sampleRss(maxRssMb: number): void {
    const pid = this.#child.pid;
    if (pid === undefined || this.#state === 'dead' || this.#state === 'stopping') return;
    const rssMb = residentMb(pid);
    if (rssMb === null || rssMb <= maxRssMb) return;
    const mb = Math.round(rssMb * 10) / 10;
    this.#die(new PyrpcError('TK_MEMORY_LIMIT', `${this.options.label} used ${mb} MB of memory, over maxRssMb (${maxRssMb})`, {
      details: { ...this.#details, pid, rssMb: mb, maxRssMb },
    }));
  }

  #onExit(code: number | null, signal: string | null): void {
    if (this.#state === 'dead') return;
    clearInterval(this.#sampler);
    this.exitCode = code;
    this.exitSignal = signal;
    const requested = this.#closing !== undefined && this.#fatal === undefined;
    const pid = this.#child.pid;
    const crashed = new ChildExited(this.options.label, { ...this.#details, exitCode: code, signal, pid, stderrTail: this.#stderrTail.slice(-2000), sent: true });
    const reason = requested ? undefined : (this.#fatal ?? crashed);
    const inFlight = reason ?? new PyrpcError('TK_RUNTIME_CLOSED', `${this.options.label} stopped`, { details: { ...this.#details, sent: true } });
    const refusal = reason
      ? (reason === crashed ? new ChildExited(this.options.label, { ...this.#details, exitCode: code, signal, pid, sent: false }) : reason)
      : new PyrpcError('TK_RUNTIME_CLOSED', `${this.options.label} stopped`, { details: { ...this.#details, sent: false } });
    this.#connection.close(inFlight, refusal);
    this.#transition('dead');
    this.#deathError = reason;
    if (reason) this.#logger.warn({ ...this.#details, code: reason.code, exitCode: code, signal }, 'python child ended');
    for (const l of this.#exitListeners.splice(0)) l(reason);
  }

  #transition(to: ChildState): void {
    if (!TRANSITIONS[this.#state].includes(to)) {
      throw new PyrpcError('TK_BAD_TRANSITION', `${this.options.label}: ${this.#state} -> ${to}`, { details: { from: this.#state, to } });
    }
    this.#state = to;
  }

  #forwardLog(stream: Readable, name: 'stdout' | 'stderr'): void {
    const level = name === 'stderr' ? 'warn' : 'info';
    forwardLines(stream, this.options.maxLogLineBytes, (line, truncated) => {
      // A record of the child's logging handler keeps its level (ERROR is an error, not a warning).
      const record = name === 'stderr' ? parseRecordLine(line) : null;
      const text = record?.text ?? line;
      if (name === 'stderr') this.#stderrTail = (this.#stderrTail + text + '\n').slice(-8000);
      const obj = { ...this.#details, stream: name, pid: this.#child.pid, ...(truncated ? { truncated: true } : {}) };
      const at = record?.level ?? level;
      if (at === 'fatal') (this.#logger.fatal ?? this.#logger.error).call(this.#logger, obj, text);
      else this.#logger[at](obj, text);
    });
  }
}

let pageBytes: number | undefined;

/** Resident memory of a process in MB from /proc/PID/statm (Linux), or null when it cannot be read. */
export function residentMb(pid: number): number | null {
  try {
    const pages = Number(readFileSync(`/proc/${String(pid)}/statm`, 'utf8').split(' ')[1]);
    if (!Number.isFinite(pages)) return null;
    pageBytes ??= pageSize();
    return (pages * pageBytes) / (1024 * 1024);
  } catch {
    return null; // gone between two samples
  }
}

/** The page size statm counts in: our own RSS over our own resident pages, to the nearest power of two. */
function pageSize(): number {
  const pages = Number(readFileSync('/proc/self/statm', 'utf8').split(' ')[1]);
  const ratio = process.memoryUsage.rss() / pages;
  return Number.isFinite(ratio) && ratio > 0 ? 2 ** Math.round(Math.log2(ratio)) : 4096;
}
