import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Secret } from '../shared/index.ts';
import { checkWebhookExposure } from './auth.ts';
import { WebhookReceiverError } from './errors.ts';
import { fromListenerSchema, type FromListener, type ListenerConfig, type ToListener, type WebhookResult } from './webhooks-protocol.ts';

// Its errors' class lives in errors.ts (the exposure check in auth.ts throws it too).
export { WebhookReceiverError };

/** What the main thread hears of one correctly signed delivery (it was answered 200 already). */
export interface WebhookAnnounce {
  /** Events the delivery held (1 unless batched). */
  events: number;
  deliveryId: string | null;
  batched: boolean;
}

export interface WebhookReceiverOptions {
  config: { host: string; port: number; path: string; secrets: readonly Secret[] };
  logger: Logger;
  /**
   * A correctly signed delivery says the log has reached at least `id`. Runs
   * on the main thread after the site got its answer; it must only nudge.
   */
  onAtLeast(id: number, delivery: WebhookAnnounce): void;
  /** Every request that reached the path with a POST, by result. */
  onResult?(result: WebhookResult): void;
}

export interface WebhookReceiverHandle {
  /** `http://host:port/path` as bound (the real port when 0 was asked). */
  readonly url: string;
  /** Stops listening, ends open connections and the thread; idempotent. */
  close(): Promise<void>;
}

const THREAD_URL = new URL(`./webhooks-thread${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/** How long a polite close may take before the thread is terminated. */
const CLOSE_TIMEOUT_MS = 5_000;

/**
 * The webhook receiver: its own listener on its own thread, POST on one path,
 * the signature as the only authentication. The thread answers every
 * correctly signed delivery 200 itself, so a main thread busy with a
 * catch-up never delays an answer (the site disables a webhook after 100
 * failed deliveries in a day); it posts `{ atLeastId }` to this thread, which
 * calls `onAtLeast`. Results and log lines arrive the same way. Bodies and
 * secrets are never logged.
 *
 * @example
 * const receiver = await startWebhookReceiver({ config, logger, onAtLeast: (id) => log.nudge(id) });
 */
export async function startWebhookReceiver(opts: WebhookReceiverOptions): Promise<WebhookReceiverHandle> {
  const { host, port, path, secrets } = opts.config;
  const usable = secrets.filter((s) => !s.isEmpty);
  checkWebhookExposure(host, secrets);
  const logger = opts.logger.child({ subsystem: 'webhooks' });
  const workerData: ListenerConfig = { host, port, path, secrets: usable.map((s) => s.reveal()), logLevel: logger.level };
  const worker = new Worker(THREAD_URL, { workerData, name: 'webhook-receiver' });

  let listening: ((url: string) => void) | null = null;
  let failed: ((err: Error) => void) | null = null;
  let closed: (() => void) | null = null;
  const bound = new Promise<string>((resolve, reject) => {
    listening = resolve;
    failed = reject;
  });
  const ended = new Promise<void>((resolve) => worker.once('exit', () => resolve()));

  const onMessage = (m: FromListener): void => {
    switch (m.type) {
      case 'delivery':
        try {
          opts.onAtLeast(m.atLeastId, { events: m.events, deliveryId: m.deliveryId, batched: m.batched });
        } catch (err) {
          // The delivery is only a hint: polling still reads the log.
          logger.error({ err, deliveryId: m.deliveryId }, 'webhook receiver: handling a delivery failed');
        }
        return;
      case 'result':
        opts.onResult?.(m.result);
        return;
      case 'log':
        relog(logger, m.line);
        return;
      case 'listening':
        listening?.(m.url);
        return;
      case 'listen-failed':
        failed?.(new WebhookReceiverError('WEBHOOK_LISTEN_FAILED', `cannot listen for webhooks on ${host}:${port}: ${m.errno ?? m.message}`, {
          details: { host, port, errno: m.errno },
        }));
        return;
      case 'closed':
        closed?.();
        return;
    }
  };
  worker.on('message', (raw: unknown) => {
    const m = fromListenerSchema.safeParse(raw);
    if (m.success) onMessage(m.data);
    else logger.error({ issues: m.error.issues.map((i) => i.message) }, 'webhook receiver: unexpected message from the listener thread');
  });
  worker.on('error', (err: Error) => {
    logger.error({ err }, 'webhook receiver: listener thread failed');
    failed?.(new WebhookReceiverError('WEBHOOK_LISTENER_FAILED', `the webhook listener thread failed: ${err.message}`, { cause: err }));
  });
  void ended.then(() => failed?.(new WebhookReceiverError('WEBHOOK_LISTENER_FAILED', 'the webhook listener thread ended before it listened')));

  let url: string;
  try {
    url = await bound;
  } catch (err) {
    await worker.terminate();
    throw err;
  }
  listening = null;
  failed = null;
  logger.info({ url, signed: usable.length > 0, secrets: usable.length }, 'webhook receiver listening');

  let closing: Promise<void> | null = null;
  return {
    url,
    close(): Promise<void> {
      closing ??= (async () => {
        const politely = new Promise<void>((resolve) => {
          closed = resolve;
        });
        worker.postMessage({ type: 'close' } satisfies ToListener);
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((resolve) => {
          timer = setTimeout(() => resolve('late'), CLOSE_TIMEOUT_MS);
        });
        const how = await Promise.race([politely.then(() => ended), ended, late]);
        clearTimeout(timer);
        if (how === 'late') {
          logger.warn({ timeoutMs: CLOSE_TIMEOUT_MS }, 'webhook receiver: the listener thread did not close in time; terminated');
          await worker.terminate();
        }
      })();
      return closing;
    },
  };
}

const LEVEL_NAMES: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = {
  10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal',
};

/** A pino line from the listener thread, logged again by this thread's logger (which adds its own base fields). */
function relog(logger: Logger, line: string): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    logger.warn('webhook receiver: an unreadable log line from the listener thread');
    return;
  }
  if (typeof parsed !== 'object' || parsed === null) return;
  const { level, msg, ...fields } = parsed as { level?: unknown; msg?: unknown } & Record<string, unknown>;
  const name = typeof level === 'number' ? (LEVEL_NAMES[level] ?? 'info') : 'info';
  logger[name](fields, typeof msg === 'string' ? msg : '');
}
