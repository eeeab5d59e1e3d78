import type { DaemonConfig } from '../config/index.ts';
import { ShotgunClient } from '../shotgrid/index.ts';

/** A client for the configured site, as the daemon's own script. */
export function siteClient(config: DaemonConfig): ShotgunClient {
  return new ShotgunClient({
    baseUrl: config.site.url,
    auth: { kind: 'script', scriptName: config.site.script.name, scriptKey: config.site.script.key },
    timeoutMs: Math.min(config.site.timeoutMs, 15_000),
    maxRetries: 1,
  });
}
