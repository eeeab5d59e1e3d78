import { Daemon, type DaemonOptions } from './daemon.ts';
import { startStatusServer } from './status-server.ts';
import { startDaemonWebhooks } from './webhook-receiver.ts';

/** Where stop steps go; they run in reverse order of registration (the CLI's `Shutdown`). */
export interface StopSteps {
  register(step: () => Promise<void>): void;
}

export interface ServeOptions extends DaemonOptions {
  /** Record the status server's URL beside the pid file, for the CLI to find (not for the demo). */
  recordUrl: boolean;
}

/**
 * Foreground, start and demo: opens the daemon and its status server (first,
 * so a bad host or token fails at once), then starts the loop. The daemon
 * stops before the status server, so the page stays up while it drains.
 */
export async function serveDaemon(opts: ServeOptions, stops: StopSteps): Promise<{ daemon: Daemon; statusUrl: string | null; webhookUrl: string | null }> {
  const daemon = await Daemon.open(opts);
  for (const w of opts.config.warnings) daemon.logger.warn(w);
  const http = await startStatusServer(daemon, opts.config, opts.recordUrl).catch(async (err: unknown) => {
    await daemon.stop();
    throw err;
  });
  if (http) stops.register(() => http.stop());
  const webhooks = await startDaemonWebhooks(daemon, opts.config).catch(async (err: unknown) => {
    await daemon.stop();
    throw err;
  });
  // Registered before the daemon's stop, so it runs after it: signed deliveries get 200 while the daemon drains.
  if (webhooks) stops.register(() => webhooks.close());
  stops.register(() => daemon.stop());
  await daemon.start();
  return { daemon, statusUrl: http?.url ?? null, webhookUrl: webhooks?.url ?? null };
}
