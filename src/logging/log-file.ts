// A rotating log file (pino-roll) that can be written before it is open.
// Loading pino-roll is a synchronous block of the main thread (about 65 ms of
// CPU); a daemon opens its files with the start's side work
// (daemon/side-work.ts), once its plugins have had their first events, so
// that block does not hold up the first event. Lines written meanwhile are
// kept in order and written first.
import type { DestinationStream } from 'pino';

/** What pino-roll's `roll()` gives: a SonicBoom stream. */
export interface RollStream extends DestinationStream {
  end(): void;
  flushSync(): void;
  once?: (event: 'close', fn: () => void) => void;
  destroyed?: boolean;
}

/** A pino destination whose file opens on `open()`; what was written before waits in memory. */
export class LogFile implements DestinationStream {
  readonly #openStream: () => Promise<RollStream>;
  #stream: RollStream | null = null;
  #pending: string[] = [];
  #opening: Promise<void> | null = null;
  #failed = false;

  /** `openStream` opens the file (pino-roll); it runs once, at the first `open()`. */
  constructor(openStream: () => Promise<RollStream>) {
    this.#openStream = openStream;
  }

  /** The open file's stream, once `open()` has succeeded. */
  get stream(): RollStream | null {
    return this.#stream;
  }

  write(line: string): void {
    if (this.#stream !== null) this.#stream.write(line);
    // A file that could not be opened: its lines still reach someone (the daemon fails its start with the error).
    else if (this.#failed) process.stderr.write(line);
    else this.#pending.push(line);
  }

  /** Opens the file (once) and writes the lines kept meanwhile; rejects with the reason the file cannot be opened. */
  open(): Promise<void> {
    this.#opening ??= this.#openStream().then((stream) => {
      for (const line of this.#pending) stream.write(line);
      this.#pending = [];
      this.#stream = stream;
    }, (err: unknown) => {
      this.#failed = true;
      for (const line of this.#pending) process.stderr.write(line);
      this.#pending = [];
      throw err;
    });
    return this.#opening;
  }
}
