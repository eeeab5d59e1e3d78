import type { Dispatcher } from 'undici';
import type { Logger } from 'pino';
import type { DaemonConfig } from '../config/index.ts';
import { ShotgunClient, siteDispatcher } from '../shotgrid/index.ts';

/** The daemon's own api3 client for the configured site, through `site.proxy` when one is set. */
export interface SiteConnection {
  readonly client: ShotgunClient;
  /** Failed request attempts since the connection opened, each retry counted. */
  readonly errorCount: number;
  close(): Promise<void>;
}

export interface SiteConnectionOptions {
  logger?: Logger;
  /**
   * A command that answers a person (check, status, toolkit resolve): a
   * short timeout and one retry, so a down site is reported in seconds.
   */
  interactive?: boolean;
}

// What an interactive command waits for a site at most, whatever site.timeoutMs says.
const INTERACTIVE_TIMEOUT_MS = 15_000;

/** Opens the client every command uses to reach the site as the daemon's script. */
export function connectSite(config: DaemonConfig, opts: SiteConnectionOptions = {}): SiteConnection {
  const dispatcher: Dispatcher | undefined = config.site.proxy ? siteDispatcher(config.site.proxy) : undefined;
  let errors = 0;
  const client = new ShotgunClient({
    baseUrl: config.site.url,
    auth: { kind: 'script', scriptName: config.site.script.name, scriptKey: config.site.script.key },
    timeoutMs: opts.interactive ? Math.min(config.site.timeoutMs, INTERACTIVE_TIMEOUT_MS) : config.site.timeoutMs,
    ...(opts.interactive ? { maxRetries: 1 } : {}),
    ...(opts.logger ? { logger: opts.logger } : {}),
    ...(dispatcher ? { dispatcher } : {}),
    onRequestError: () => { errors++; },
  });
  return {
    client,
    get errorCount() {
      return errors;
    },
    async close() {
      try {
        await client.close();
      } finally {
        await dispatcher?.close();
      }
    },
  };
}
