// Single files of http/, not its index: the status server's and the webhook
// receiver's modules load with the start's side work (daemon/side-work.ts:
// once every plugin has ended its first callback, or 1 s after they began
// starting), not before.
import { checkStatusExposure, checkWebhookExposure } from '../http/auth.ts';
import { Daemon, type DaemonOptions } from './daemon.ts';

/** Where stop steps go; they run in reverse order of registration (the CLI's `Shutdown`). */
export interface StopSteps {
  register(step: () => Promise<void>): void;
}

export interface ServeOptions extends DaemonOptions {
  /** Record the status server's URL beside the pid file, for the CLI to find (not for the demo). */
  recordUrl: boolean;
}

/**
 * Foreground, start and demo: opens the daemon and starts its loop, with the
 * status server and the webhook receiver loading and listening meanwhile (a
 * host that other machines reach without a token or secret is refused before
 * anything opens; a port that is taken stops the daemon and fails the start).
 * The daemon stops before the servers, so the page stays up and signed
 * deliveries are answered while it drains.
 */
export async function serveDaemon(opts: ServeOptions, stops: StopSteps): Promise<{ daemon: Daemon; statusUrl: string | null; webhookUrl: string | null }> {
  const { config } = opts;
  if (config.http.enabled) checkStatusExposure(config.http.host, config.http.token);
  if (config.webhooks !== undefined) checkWebhookExposure(config.webhooks.host, config.webhooks.secrets);
  const daemon = await Daemon.open(opts);
  for (const w of config.warnings) daemon.logger.warn(w);
  // Settled into a value: it is awaited below, after the servers, whatever they do.
  const started = daemon.start().then(() => null, (err: unknown) => ({ err }));
  // The servers' modules (node:http among them) load with the start's side work, once the first events are out.
  await daemon.sideWorkBegun;
  const [http, webhooks] = await Promise.allSettled([
    (async () => (await import('./status-server.ts')).startStatusServer(daemon, config, opts.recordUrl))(),
    (async () => (await import('./webhook-receiver.ts')).startDaemonWebhooks(daemon, config))(),
  ]);
  if (http.status === 'rejected' || webhooks.status === 'rejected') {
    await started;
    await daemon.stop();
    if (http.status === 'fulfilled') await http.value?.stop();
    if (webhooks.status === 'fulfilled') await webhooks.value?.close();
    throw http.status === 'rejected' ? http.reason : (webhooks as PromiseRejectedResult).reason;
  }
  const server = http.value;
  const receiver = webhooks.value;
  // Registered before the daemon's stop, so they run after it.
  if (server) stops.register(() => server.stop());
  if (receiver) stops.register(() => receiver.close());
  stops.register(() => daemon.stop());
  const failed = await started;
  if (failed !== null) throw failed.err;
  return { daemon, statusUrl: server?.url ?? null, webhookUrl: receiver?.url ?? null };
}
