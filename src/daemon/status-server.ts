import { rmSync, writeFileSync } from 'node:fs';
import type { DaemonConfig } from '../config/index.ts';
import type { Daemon } from './daemon.ts';
import { urlFile } from './url-file.ts';
import { MAX_DEAD_LETTERS, startHttpServer, type HttpServerHandle } from '../http/index.ts';

/**
 * Starts the status page, `/api/status`, `/metrics` and `/healthz` for a
 * daemon (while its loop starts: `serveDaemon` has refused a bad host or
 * token before), and records the URL for the CLI. Returns null when
 * `http.enabled` is false.
 */
export async function startStatusServer(daemon: Daemon, config: DaemonConfig, record = true): Promise<(HttpServerHandle & { stop(): Promise<void> }) | null> {
  if (!config.http.enabled) return null;
  const http = await startHttpServer({
    config: config.http,
    status: {
      status: async () => ({ ...daemon.status(), deadLetters: await daemon.recentDeadLetters(MAX_DEAD_LETTERS) }),
      history: () => daemon.history(),
    },
    metrics: daemon.metrics,
    logger: daemon.logger,
    // With webhooks on, the poller's interval is the fallback one.
    fetchIntervalMs: config.webhooks?.fallbackPollMs ?? config.daemon.fetchIntervalMs,
    mask: daemon.mask,
    actions: { recycleRuntimes: (project) => daemon.recycleRuntimes(project), reloadPlugins: (name) => daemon.reloadPlugins(name) },
  });
  // A wildcard bind is reached on loopback from this machine.
  const local = http.url.replace('://0.0.0.0:', '://127.0.0.1:').replace('://[::]:', '://[::1]:');
  if (record) writeFileSync(urlFile(config), `${local}\n`);
  return Object.assign(http, {
    async stop() {
      if (record) rmSync(urlFile(config), { force: true });
      await http.close();
    },
  });
}
