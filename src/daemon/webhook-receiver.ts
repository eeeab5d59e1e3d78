import type { DaemonConfig } from '../config/index.ts';
import { startWebhookReceiver, type WebhookReceiverHandle, type WebhookResult } from '../http/index.ts';
import type { Daemon } from './daemon.ts';

const RESULTS: readonly WebhookResult[] = ['accepted', 'malformed', 'unsigned', 'bad_signature', 'too_large'];

/**
 * Starts the webhook receiver of a daemon (before its loop, so a bad host or
 * a missing secret fails at once). Returns null when the config has no
 * `webhooks` section. Stop it after the daemon: a signed delivery is
 * answered 200 while the daemon drains.
 */
export async function startDaemonWebhooks(daemon: Daemon, config: DaemonConfig): Promise<WebhookReceiverHandle | null> {
  const w = config.webhooks;
  if (w === undefined) return null;
  daemon.metrics.webhooksOn(RESULTS);
  return startWebhookReceiver({
    config: { host: w.host, port: w.port, path: w.path, secrets: w.secrets },
    logger: daemon.logger,
    onDelivery: (d) => daemon.webhookDelivery(d.eventIds),
    onResult: (r) => daemon.webhookResult(r),
  });
}
