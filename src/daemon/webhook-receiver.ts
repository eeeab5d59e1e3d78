import type { DaemonConfig } from '../config/index.ts';
import { startWebhookReceiver, webhookResults, type WebhookReceiverHandle } from '../http/index.ts';
import type { Daemon } from './daemon.ts';

/**
 * Starts the webhook receiver of a daemon (while its loop starts:
 * `serveDaemon` has refused a host without a secret before). Returns null when the config has no
 * `webhooks` section. Stop it after the daemon: a signed delivery is
 * answered 200 while the daemon drains. Another consumer of deliveries (a
 * cluster's poller) plugs in the same way, through `onAtLeast`.
 */
export async function startDaemonWebhooks(daemon: Daemon, config: DaemonConfig): Promise<WebhookReceiverHandle | null> {
  const w = config.webhooks;
  if (w === undefined) return null;
  daemon.metrics.webhooksOn(webhookResults);
  return startWebhookReceiver({
    config: { host: w.host, port: w.port, path: w.path, secrets: w.secrets },
    logger: daemon.logger,
    onAtLeast: (id) => daemon.webhookDelivery([id]),
    onResult: (r) => daemon.webhookResult(r),
  });
}
