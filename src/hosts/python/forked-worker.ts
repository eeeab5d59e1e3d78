import type { Socket } from 'node:net';
import { ChildExited, Connection, initFailure, PyrpcError, readMessages, residentMb, LineWriter, RSS_SAMPLE_MS, type CallOptions, type ChildLogger } from '../../pyrpc/index.ts';

export type ForkedWorkerState = 'starting' | 'ready' | 'dead';

export interface ForkedWorkerOptions {
  /** Names the worker in messages ("Python plugin shots, worker 3"). */
  label: string;
  details: Record<string, unknown>;
  /** The worker's end of the Unix socket it connected to. */
  socket: Socket;
  /** Its pid, as the plugin process answered `plugin_fork`. */
  pid: number;
  initTimeoutMs: number;
  maxMessageBytes: number;
  /** Bound on a polite stop (the socket closed, the worker leaves its loop) before SIGKILL. */
  stopTimeoutMs: number;
  /** Kills the worker with TK_MEMORY_LIMIT when its resident memory passes this (sampled; Linux only). */
  maxRssMb?: number | undefined;
  logger: ChildLogger;
}

/**
 * One forked worker of a concurrent Python plugin: the same JSON-lines
 * protocol as a `PythonChild` (pyrpc's connection, reader and writer), on a
 * Unix socket instead of fds 3/4. The daemon is not its parent (the
 * plugin's process is), so its end is seen as the socket closing, and it is
 * killed by pid; it shares the plugin process's group, which `close()` of the
 * plugin kills as a whole. Ready only after it answered `init`.
 */
export class ForkedWorker {
  readonly pid: number;
  readonly #o: ForkedWorkerOptions;
  readonly #writer: LineWriter;
  readonly #connection: Connection;
  readonly #closed: Promise<void>;
  #state: ForkedWorkerState = 'starting';
  #fatal: PyrpcError | undefined;
  #stopping = false;
  #sampler: NodeJS.Timeout | undefined;
  readonly #exitListeners: ((err: PyrpcError | undefined) => void)[] = [];

  private constructor(o: ForkedWorkerOptions) {
    this.#o = o;
    this.pid = o.pid;
    this.#writer = new LineWriter(o.socket, o.details);
    this.#connection = new Connection(this.#writer, { label: o.label, details: o.details, onFatal: (err) => this.#die(err) });
    readMessages(o.socket, {
      maxBytes: o.maxMessageBytes,
      details: o.details,
      onMessage: (msg) => { if (this.#state !== 'dead') this.#connection.handle(msg); },
      onFault: (err) => this.#die(err),
    });
    o.socket.on('error', (e) => o.logger.debug({ ...o.details, err: e.message }, 'python worker socket error'));
    this.#closed = new Promise((resolve) => o.socket.once('close', () => { this.#onClose(); resolve(); }));
    if (o.maxRssMb !== undefined && process.platform === 'linux') {
      const max = o.maxRssMb;
      this.#sampler = setInterval(() => this.#sampleRss(max), RSS_SAMPLE_MS);
      this.#sampler.unref();
    }
  }

  /** Completes the `init` handshake on the connected socket; on failure the worker is killed and the coded error thrown. */
  static async start(o: ForkedWorkerOptions): Promise<ForkedWorker> {
    const w = new ForkedWorker(o);
    try {
      await w.#connection.request('init', { mode: 'worker' }, { timeoutMs: o.initTimeoutMs, timeoutCode: 'TK_INIT_TIMEOUT' });
      if (w.#state !== 'starting') throw w.#fatal ?? new PyrpcError('TK_RUNTIME_CLOSED', `${o.label} ended during init`, { details: o.details });
      w.#state = 'ready';
      return w;
    } catch (e) {
      await w.kill();
      throw initFailure(e, { label: o.label, exitCode: null, signal: null, stderrTail: '', details: o.details });
    }
  }

  get state(): ForkedWorkerState {
    return this.#state;
  }

  /** One request; see CallOptions (a timeout or an abort in flight kills the worker). */
  request(method: string, params: unknown, opts: CallOptions = {}): Promise<unknown> {
    return this.#connection.request(method, params, opts);
  }

  /** Called once when the worker is gone, with the error that ended it (none for a requested stop). */
  onExit(listener: (err: PyrpcError | undefined) => void): void {
    if (this.#state === 'dead') listener(this.#fatal);
    else this.#exitListeners.push(listener);
  }

  /** Polite stop: the socket is closed, the worker leaves its loop; SIGKILL after `stopTimeoutMs`. */
  async close(): Promise<void> {
    if (this.#state === 'dead') return;
    this.#stopping = true;
    this.#connection.refuse(new PyrpcError('TK_RUNTIME_CLOSED', `${this.#o.label} is stopping`, { details: { ...this.#o.details, sent: false } }));
    this.#writer.end();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), this.#o.stopTimeoutMs); });
    const done = await Promise.race([this.#closed.then(() => true as const), late]);
    clearTimeout(timer);
    if (!done) await this.kill();
  }

  /** Kills the worker at once; `reason` becomes the error of its pending call. */
  async kill(reason?: PyrpcError): Promise<void> {
    if (reason) this.#die(reason);
    else if (this.#state !== 'dead') {
      this.#stopping = true;
      this.#signalKill();
    }
    await this.#closed;
  }

  #die(err: PyrpcError): void {
    if (this.#state === 'dead' || this.#fatal) return;
    this.#fatal = err;
    this.#connection.close(err);
    this.#signalKill();
  }

  #signalKill(): void {
    try {
      // Only while its socket is open: the worker is alive, so the pid is still its own.
      if (!this.#o.socket.destroyed) process.kill(this.pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
    this.#o.socket.destroy();
  }

  #sampleRss(max: number): void {
    if (this.#state === 'dead') return;
    const rssMb = residentMb(this.pid);
    if (rssMb === null || rssMb <= max) return;
    const mb = Math.round(rssMb * 10) / 10;
    this.#die(new PyrpcError('TK_MEMORY_LIMIT', `${this.#o.label} used ${mb} MB of memory, over maxRssMb (${max})`, {
      details: { ...this.#o.details, pid: this.pid, rssMb: mb, maxRssMb: max },
    }));
  }

  #onClose(): void {
    if (this.#state === 'dead') return;
    clearInterval(this.#sampler);
    const requested = this.#stopping && this.#fatal === undefined;
    const reason = requested ? undefined : (this.#fatal ?? new ChildExited(this.#o.label, { ...this.#o.details, exitCode: null, signal: null, pid: this.pid, sent: true }));
    const closed = new PyrpcError('TK_RUNTIME_CLOSED', `${this.#o.label} stopped`, { details: { ...this.#o.details, sent: true } });
    this.#connection.close(reason ?? closed);
    this.#state = 'dead';
    this.#fatal = reason;
    if (reason) this.#o.logger.warn({ ...this.#o.details, code: reason.code, pid: this.pid }, 'python worker ended');
    for (const l of this.#exitListeners.splice(0)) l(reason);
  }
}
