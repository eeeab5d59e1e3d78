import type { Writable } from 'node:stream';
import { describeError } from '../shared/errors.ts';
import { PyrpcError } from './errors.ts';

/**
 * The one writer of a child's request pipe: JSON lines, written in order,
 * one at a time; a write waits for `drain` when the pipe is full rather than
 * buffering without bound. Failures are TK_WRITE_FAILED; after the pipe
 * broke every later write fails the same way.
 */
export class LineWriter {
  readonly #stream: Writable;
  readonly #details: Record<string, unknown>;
  #tail: Promise<void> = Promise.resolve();
  #broken: PyrpcError | undefined;
  #ended = false;

  constructor(stream: Writable, details: Record<string, unknown>) {
    this.#stream = stream;
    this.#details = details;
    // An EPIPE after the child died: remembered, and reported by the next write.
    stream.on('error', (e) => {
      this.#broken ??= this.#fault(`the request pipe failed: ${describeError(e)}`, e);
    });
  }

  /** Serialises `msg` now (a value JSON cannot carry fails this write only) and writes it after the writes before it. */
  write(msg: unknown): Promise<void> {
    if (this.#ended) return Promise.reject(this.#fault('the request pipe is closed'));
    let line: string;
    try {
      line = `${JSON.stringify(msg)}\n`;
    } catch (e) {
      return Promise.reject(this.#fault(`a request cannot be written as JSON: ${describeError(e)}`, e));
    }
    const next = this.#tail.then(() => this.#writeLine(line));
    this.#tail = next.catch(() => undefined);
    return next;
  }

  /** Closes the pipe after what was written (the child sees EOF). */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    const ending = this.#tail.then(() => {
      if (!this.#stream.destroyed) this.#stream.end();
    });
    this.#tail = ending;
  }

  #writeLine(line: string): Promise<void> {
    if (this.#broken) return Promise.reject(this.#broken);
    if (this.#stream.destroyed || this.#stream.writableEnded) {
      return Promise.reject(this.#fault('the request pipe is closed'));
    }
    return new Promise((resolve, reject) => {
      const done = (): void => {
        this.#stream.off('close', closed);
        this.#stream.off('drain', done);
        if (this.#broken) reject(this.#broken);
        else resolve();
      };
      const closed = (): void => {
        this.#broken ??= this.#fault('the request pipe closed while writing');
        done();
      };
      this.#stream.once('close', closed);
      const flushed = this.#stream.write(line, (e) => {
        if (e) this.#broken ??= this.#fault(`the request pipe failed: ${describeError(e)}`, e);
        if (flushed || e) done();
      });
      if (!flushed) this.#stream.once('drain', done);
    });
  }

  #fault(message: string, cause?: unknown): PyrpcError {
    return new PyrpcError('TK_WRITE_FAILED', message, { cause, details: { ...this.#details } });
  }
}
