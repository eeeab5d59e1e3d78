import { z } from 'zod';
import { setLongTimeout, type LongTimer } from '../shared/index.ts';
import { PyrpcError, PythonError } from './errors.ts';
import type { LineWriter } from './writer.ts';

const ErrorBody = z.object({ code: z.string(), type: z.string(), message: z.string(), traceback: z.string() });

/** What a child writes on its protocol pipe, one JSON object per line. */
export const ChildMessageSchema = z.union([
  z.object({ id: z.number(), progress: z.unknown() }),
  z.object({ id: z.number().nullable(), error: ErrorBody }),
  z.object({ id: z.number(), result: z.unknown(), rss: z.number().nullable().optional() }),
]);
export type ChildMessage = z.infer<typeof ChildMessageSchema>;

export interface CallOptions {
  /** Bounds the call from when its request is written; each progress step re-arms it. None: unbounded. */
  timeoutMs?: number | undefined;
  /** The code of the timeout error (TK_CALL_TIMEOUT unless told). */
  timeoutCode?: string | undefined;
  /** Abandons the call; one already written kills the child (Python cannot be interrupted safely). */
  signal?: AbortSignal | undefined;
  /** Steps of the call before its answer (a batch of plugin events: one per event). */
  onProgress?: ((step: unknown) => void) | undefined;
}

interface Pending {
  id: number;
  method: string;
  opts: CallOptions;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer?: LongTimer | undefined;
  unlisten?: (() => void) | undefined;
}

export interface ConnectionOptions {
  /** Names the child in messages. */
  label: string;
  /** Merged into the details of every error (e.g. the project or plugin). */
  details: Record<string, unknown>;
  /** A condition that leaves the child unusable (timeout, abort in flight, protocol fault): the owner kills it. */
  onFatal: (err: PyrpcError) => void;
  /** After each answer, with the peak RSS (kB) the child reported. */
  onAnswer?: ((rssKb: number | null) => void) | undefined;
}

/**
 * Requests to one child and their answers: ids, the pending map, per-call
 * timeouts, AbortSignals and progress steps. When the child is gone the
 * owner calls `close`: every pending call is rejected with a coded error,
 * and every later request with the same error (vscode-jsonrpc's connection).
 */
export class Connection {
  readonly #writer: LineWriter;
  readonly #o: ConnectionOptions;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #refusal: PyrpcError | undefined;

  constructor(writer: LineWriter, o: ConnectionOptions) {
    this.#writer = writer;
    this.#o = o;
  }

  /** Calls in flight (written or being written). */
  get pending(): number {
    return this.#pending.size;
  }

  request(method: string, params: unknown, opts: CallOptions = {}): Promise<unknown> {
    if (opts.signal?.aborted) return Promise.reject(this.#aborted(method, false));
    if (this.#refusal) return Promise.reject(this.#refusal);
    return new Promise((resolve, reject) => {
      const call: Pending = { id: this.#nextId++, method, opts, resolve, reject };
      this.#pending.set(call.id, call);
      const signal = opts.signal;
      if (signal) {
        const onAbort = (): void => {
          if (!this.#pending.has(call.id)) return;
          const err = this.#aborted(method, true);
          this.#settle(call);
          reject(err);
          this.#o.onFatal(err);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        call.unlisten = () => signal.removeEventListener('abort', onAbort);
      }
      this.#arm(call);
      this.#writer.write({ id: call.id, method, params }).then(undefined, (e: unknown) => {
        if (!this.#pending.has(call.id)) return;
        this.#settle(call);
        reject(e instanceof Error ? e : new PyrpcError('TK_WRITE_FAILED', String(e)));
      });
    });
  }

  /** One message from the child's protocol pipe. */
  handle(raw: unknown): void {
    const parsed = ChildMessageSchema.safeParse(raw);
    const msg = parsed.success ? parsed.data : undefined;
    const call = msg?.id == null ? undefined : this.#pending.get(msg.id);
    if (msg === undefined || call === undefined || ('progress' in msg && !call.opts.onProgress)) {
      this.#o.onFatal(new PyrpcError('TK_PROTOCOL', `${this.#o.label} wrote an invalid message on its protocol pipe`, {
        details: { ...this.#o.details, sample: JSON.stringify(raw).slice(0, 200) },
      }));
      return;
    }
    if ('progress' in msg) {
      this.#arm(call);
      call.opts.onProgress?.(msg.progress);
      return;
    }
    this.#settle(call);
    if ('error' in msg) {
      const e = msg.error;
      call.reject(new PythonError(e.code, `${this.#o.label}: ${call.method}: ${e.type}: ${e.message}`, {
        ...this.#o.details, type: e.type, traceback: e.traceback, method: call.method, pythonMessage: e.message,
      }));
      return;
    }
    this.#o.onAnswer?.(typeof msg.rss === 'number' ? msg.rss : null);
    call.resolve(msg.result);
  }

  /** Refuses every later request with `err` (the child is stopping); pending calls carry on. */
  refuse(err: PyrpcError): void {
    this.#refusal ??= err;
  }

  /** The child is gone: rejects every pending call with `err`, and refuses later ones with `refusal`. */
  close(err: PyrpcError, refusal: PyrpcError = err): void {
    this.#refusal = refusal;
    for (const call of [...this.#pending.values()]) {
      this.#settle(call);
      call.reject(err);
    }
  }

  #arm(call: Pending): void {
    const ms = call.opts.timeoutMs;
    if (ms === undefined) return;
    call.timer?.clear();
    call.timer = setLongTimeout(() => {
      if (!this.#pending.has(call.id)) return;
      const err = new PyrpcError(call.opts.timeoutCode ?? 'TK_CALL_TIMEOUT', `${this.#o.label}: ${call.method} took longer than ${ms} ms`, {
        details: { ...this.#o.details, method: call.method, timeoutMs: ms },
      });
      this.#settle(call);
      call.reject(err);
      this.#o.onFatal(err);
    }, ms);
  }

  #settle(call: Pending): void {
    call.timer?.clear();
    call.unlisten?.();
    this.#pending.delete(call.id);
  }

  #aborted(method: string, sent: boolean): PyrpcError {
    return new PyrpcError('TK_CALL_ABORTED', `${this.#o.label}: ${method} abandoned by its caller`, {
      details: { ...this.#o.details, method, sent },
    });
  }
}
