// Framing of what a child writes: protocol lines on fd 4 (bounded, JSON) and
// log lines on stdout/stderr (bounded, cut).
import type { Readable } from 'node:stream';
import { PyrpcError } from './errors.ts';

/**
 * Splits a byte stream into lines without ever buffering more than `maxBytes`
 * of one line. `onLine` gets complete lines; `onOverflow` fires once per line
 * that grew past the bound (the caller decides: cut a log line, or treat a
 * protocol line as fatal).
 */
export class LineSplitter {
  readonly #maxBytes: number;
  readonly #onLine: (line: Buffer) => void;
  readonly #onOverflow: (bytesSoFar: number) => void;
  #chunks: Buffer[] = [];
  #size = 0;
  #overflowed = false;

  constructor(maxBytes: number, onLine: (line: Buffer) => void, onOverflow: (bytesSoFar: number) => void) {
    this.#maxBytes = maxBytes;
    this.#onLine = onLine;
    this.#onOverflow = onOverflow;
  }

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl === -1) {
        this.#append(chunk.subarray(start));
        return;
      }
      this.#append(chunk.subarray(start, nl));
      const line = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
      const overflowed = this.#overflowed;
      this.#chunks = [];
      this.#size = 0;
      this.#overflowed = false;
      if (!overflowed) this.#onLine(line);
      start = nl + 1;
    }
  }

  /** Hands over a last line without a newline (at end of stream). */
  flush(): void {
    if (this.#size > 0 && !this.#overflowed) this.#onLine(Buffer.concat(this.#chunks));
    this.#chunks = [];
    this.#size = 0;
    this.#overflowed = false;
  }

  #append(part: Buffer): void {
    if (part.length === 0 || this.#overflowed) {
      if (this.#overflowed) this.#size += part.length;
      return;
    }
    if (this.#size + part.length > this.#maxBytes) {
      const room = this.#maxBytes - this.#size;
      if (room > 0) this.#chunks.push(part.subarray(0, room));
      this.#size += part.length;
      this.#overflowed = true;
      this.#onOverflow(this.#size);
      return;
    }
    this.#chunks.push(part);
    this.#size += part.length;
  }

  /** What the overflowing line held up to the bound (for cut log lines). */
  takePartial(): Buffer {
    return Buffer.concat(this.#chunks);
  }
}

/**
 * Reads JSON messages, one per line, from a child's protocol pipe. A line
 * over `maxBytes` or one that is not JSON is a TK_PROTOCOL fault, handed to
 * `onFault` (the owner kills the child: the stream can no longer be trusted).
 */
export function readMessages(
  stream: Readable,
  o: { maxBytes: number; details: Record<string, unknown>; onMessage: (msg: unknown) => void; onFault: (err: PyrpcError) => void },
): void {
  const splitter = new LineSplitter(o.maxBytes, (line) => {
    let msg: unknown;
    try {
      msg = JSON.parse(line.toString('utf8'));
    } catch (e) {
      o.onFault(new PyrpcError('TK_PROTOCOL', 'a line on the protocol pipe is not JSON', {
        cause: e, details: { ...o.details, sample: line.subarray(0, 200).toString('utf8') },
      }));
      return;
    }
    o.onMessage(msg);
  }, (n) => {
    o.onFault(new PyrpcError('TK_PROTOCOL', `a message on the protocol pipe passed ${o.maxBytes} bytes`, {
      details: { ...o.details, bytes: n, limit: o.maxBytes },
    }));
  });
  stream.on('data', (c: Buffer) => splitter.push(c));
}

/**
 * Forwards a child's output stream line by line; a line longer than
 * `maxBytes` is cut there and reported with `truncated`.
 */
export function forwardLines(stream: NodeJS.ReadableStream, maxBytes: number, emit: (text: string, truncated: boolean) => void): void {
  const splitter: LineSplitter = new LineSplitter(maxBytes, (line) => emit(line.toString('utf8'), false), () => {
    emit(splitter.takePartial().toString('utf8'), true);
  });
  stream.on('data', (c: Buffer) => splitter.push(c));
  stream.on('end', () => splitter.flush());
}
