import { pluginOptionsFor, type DaemonConfig } from '../config/index.ts';
import { ConcurrentCursor, PluginCursor, buildScope, effectiveConcurrency } from '../dispatch/index.ts';
import type { PluginHost } from '../hosts/index.ts';
import { scanPluginFolder } from '../plugins/index.ts';
import { SgeventdError } from '../shared/index.ts';
import { pluginId } from '../state/index.ts';
import { Assembly } from './assembly.ts';

export interface ReplayOptions {
  /** Replay events after this id... */
  from: number;
  /** ...up to and including this one (default: the newest). */
  to?: number;
  /** Only this plugin. */
  plugin?: string;
  /** Told the position of each plugin's run: the plugin, the event id reached, the last id of the range. */
  onProgress?: (plugin: string, pos: number, to: number) => void;
  /** Told when one plugin's run is over. */
  onPluginDone?: (plugin: string, count: number, to: number) => void;
}

/**
 * A side run over `(from, to]`: plugins get the events again with
 * `replay: true`, with Toolkit as in the running daemon (the same pool and
 * hosts); no cursor, backlog, counter or dead letter is written. Returns the
 * events handled per plugin id.
 */
export async function replay(config: DaemonConfig, opts: ReplayOptions): Promise<Record<string, number>> {
  const parts = await Assembly.open(config, { command: 'replay' });
  const { log } = parts.eventLog();
  const counts: Record<string, number> = {};
  const runs: Array<{ id: string; host: PluginHost; cursor: PluginCursor | ConcurrentCursor }> = [];
  try {
    const newest = await log.start();
    const to = Math.min(opts.to ?? newest, newest);
    for (const folder of config.plugins) {
      const scan = await scanPluginFolder(folder.path);
      for (const entry of scan.plugins) {
        if (entry.kind === 'refused' || (opts.plugin !== undefined && entry.name !== opts.plugin)) continue;
        const logger = parts.logger.child({ plugin: entry.name });
        const host = parts.host(entry, folder, logger);
        const id = pluginId({ folder: folder.path, name: entry.name });
        const loaded = await host.load();
        if (!loaded.ok) {
          await host.close();
          throw new SgeventdError('REPLAY_PLUGIN_LOAD_FAILED', `plugin ${entry.name} failed to load: ${loaded.error.message}`, { details: { plugin: entry.name } });
        }
        const o = pluginOptionsFor(folder, entry.name);
        const scope = buildScope({ projects: o.projects, ignoreOwnEvents: o.ignoreOwnEvents, scriptNames: loaded.callbacks.map((c) => c.scriptName), directory: parts.directory });
        const cursorOptions = {
          id, folder: folder.path, name: entry.name, batchSize: config.daemon.maxEventBatchSize, fetchIntervalMs: config.daemon.fetchIntervalMs,
          backlogTimeoutMs: config.daemon.backlogTimeoutMs, retries: 0, retryBackoffMs: 0, deadLetter: false, replay: true, logger,
          ...(o.coalesceCreation ? { coalesce: { windowMs: o.coalesceWindowMs } } : {}),
        };
        const start = { lastEventId: opts.from, backlog: [], lastError: null };
        // The plugin's own concurrency, as the daemon runs it: keys in order, up to `max` at once.
        const concurrency = effectiveConcurrency(loaded, o.concurrency);
        const cursor = concurrency.by === 'none'
          ? new PluginCursor(start, log, host, scope, null, cursorOptions)
          : new ConcurrentCursor(start, log, host, scope, null, {
            ...cursorOptions, by: concurrency.by, max: Math.min(concurrency.max, host.capacity), window: config.daemon.concurrencyWindow,
          });
        runs.push({ id, host, cursor });
      }
    }
    if (runs.length === 0) throw new SgeventdError('REPLAY_NO_PLUGIN', opts.plugin ? `no plugin named ${opts.plugin}` : 'no plugin to replay to', { details: { plugin: opts.plugin ?? null } });
    for (const { id, host, cursor } of runs) {
      counts[id] = await cursor.replayRange(opts.from, to, (pos) => opts.onProgress?.(host.name, pos, to));
      opts.onPluginDone?.(host.name, counts[id], to);
    }
  } finally {
    log.close();
    await Promise.allSettled(runs.map((r) => r.host.close()));
    await parts.close();
    await parts.closeLogs();
  }
  return counts;
}
