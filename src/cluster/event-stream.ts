// A term's read of its part of the event stream: an ordered consumer from a
// stream sequence, made again from the message after the last one handled
// when heartbeats are missed, the consumer is lost, the connection comes
// back, or a read fails. Kept apart from the term (active-run.ts), which
// decides what a message means; this part knows only how to keep reading.
import type { Logger } from 'pino';
import { DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import { sleepLong } from '../shared/index.ts';
import { ClusterFormatError } from './errors.ts';

/** Where a term reads from, and how it hears of a reconnect. */
export interface EventStreamSource {
  readonly js: JetStreamClient;
  readonly stream: string;
  readonly filter: string;
  /** Wait before opening or reading again after a failure. */
  readonly retryMs: number;
  onReconnect(listener: () => void): () => void;
}

/** What the reader hands each message to, in stream order. */
export interface EventStreamHandler {
  /** Takes one message; a `ClusterFormatError` ends the read (refused, never misread), any other error reads again. */
  take(m: JsMsg): Promise<void>;
  /** Called after each message is taken (its sequence passed): waits here while the term cannot take more. */
  pace(): Promise<void>;
}

/**
 * Reads `source` from `startSeq` until `halt` is aborted, handing each
 * message to `handler`; the consumer pulls at most `window` messages ahead
 * (and never more than 512).
 *
 * @example
 * await readEventStream(source, { startSeq: cursor.startSeq, window: lanes.window, halt, log }, { take, pace });
 */
export async function readEventStream(
  source: EventStreamSource,
  opts: { startSeq: number; window: number; halt: AbortSignal; log: Logger },
  handler: EventStreamHandler,
): Promise<void> {
  const { halt, log } = opts;
  let next = opts.startSeq;
  while (!halt.aborted) {
    let messages: ConsumerMessages;
    try {
      const opening = (async () => {
        const consumer = await source.js.consumers.get(source.stream, {
          filter_subjects: source.filter, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: next,
        });
        return consumer.consume({ max_messages: Math.min(512, opts.window), expires: 5000 });
      })();
      // Cut off from NATS, the client may wait for the consumer without end: a lost lease must still end the run.
      const opened = await Promise.race([opening, untilAborted(halt).then(() => null)]);
      if (opened === null) {
        void opening.then((m) => m.stop(), () => undefined);
        return;
      }
      messages = opened;
      log.debug({ startSeq: next }, 'event stream consumer created');
    } catch (err) {
      if (halt.aborted) return;
      log.warn({ err, stream: source.stream, startSeq: next }, 'opening the event stream failed; trying again');
      await sleepLong(source.retryMs, { signal: halt }).catch(() => undefined);
      continue;
    }
    const recreate = new AbortController();
    const watch = watchConsumer(source, messages, recreate, log).catch((err: unknown) => log.warn({ err }, 'watching the event stream consumer failed'));
    const stopIt = (): void => {
      messages.stop();
    };
    halt.addEventListener('abort', stopIt, { once: true });
    recreate.signal.addEventListener('abort', stopIt, { once: true });
    // Stopped while the consumer was being made: a listener added now would never fire, and an idle stream never ends the loop.
    if (halt.aborted) stopIt();
    try {
      for await (const m of messages) {
        if (halt.aborted) break;
        await handler.take(m);
        next = m.seq + 1;
        await handler.pace();
      }
    } catch (err) {
      // A message of another format version: refused, never misread (the node's log names both versions).
      if (err instanceof ClusterFormatError) throw err;
      if (!halt.aborted) {
        log.warn({ err }, 'reading the event stream failed; reading again from the last message seen');
        await sleepLong(source.retryMs, { signal: halt }).catch(() => undefined);
      }
    } finally {
      halt.removeEventListener('abort', stopIt);
      recreate.abort();
      messages.stop();
      await watch;
    }
    if (!halt.aborted) log.info({ startSeq: next }, 'event stream consumer made again');
  }
}

/** Watches the consumer and the connection; aborts `recreate` on missed heartbeats or a reconnect. */
async function watchConsumer(source: EventStreamSource, messages: ConsumerMessages, recreate: AbortController, log: Logger): Promise<void> {
  const unsubscribe = source.onReconnect(() => {
    log.info('reconnected to NATS: making the event stream consumer again');
    recreate.abort();
  });
  try {
    // Ends when the messages are stopped (the iterator closes with them).
    for await (const s of messages.status()) {
      if (s.type === 'heartbeats_missed' || s.type === 'consumer_not_found' || s.type === 'consumer_deleted') {
        log.warn({ status: s.type }, 'event stream consumer lost');
        recreate.abort();
        return;
      }
      if (recreate.signal.aborted) return;
    }
  } finally {
    unsubscribe();
  }
}

function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
