import type { Command } from 'commander';
import { pino } from 'pino';
import { loadConfig, pluginOptionsFor } from '../config/index.ts';
import { PluginLane, buildScope, SiteProjectDirectory } from '../dispatch/index.ts';
import { createHost, type PluginHost } from '../hosts/index.ts';
import { scanPluginFolder } from '../plugins/index.ts';
import { Api3EventSource, EventLog, ResilientEventSource } from '../source/index.ts';
import { SgeventdError } from '../shared/index.ts';
import { pluginId } from '../state/index.ts';
import { parseEventId } from './options.ts';
import { siteClient } from './site-client.ts';

interface ReplayOptions {
  config: string;
  from: number;
  to?: number;
  plugin?: string;
}

/**
 * A side run over `(from, to]`: plugins get the events again with
 * `replay: true`; no cursor, backlog or counter is written.
 */
export async function runReplay(opts: ReplayOptions, progress: (line: string) => void): Promise<Record<string, number>> {
  const config = await loadConfig(opts.config);
  const logger = pino({ level: config.logging.level }, pino.destination(2));
  const sg = siteClient(config);
  const source = new ResilientEventSource(new Api3EventSource(sg, logger), {
    maxConnRetries: config.site.maxConnRetries, connRetrySleepMs: config.site.connRetrySleepMs, logger,
  });
  const log = new EventLog(source, { batchSize: config.daemon.maxEventBatchSize, fetchIntervalMs: 10, maxCachedEvents: 5000, logger });
  const directory = new SiteProjectDirectory(sg, logger);
  const counts: Record<string, number> = {};
  try {
    const newest = await log.start();
    const to = Math.min(opts.to ?? newest, newest);
    const hosts: Array<{ id: string; host: PluginHost; lane: PluginLane }> = [];
    for (const folder of config.plugins) {
      const scan = await scanPluginFolder(folder.path);
      for (const entry of scan.plugins) {
        if (entry.kind === 'refused' || (opts.plugin !== undefined && entry.name !== opts.plugin)) continue;
        const o = pluginOptionsFor(folder, entry.name);
        const host = createHost(entry, folder.path, config, { callbackTimeoutMs: o.callbackTimeoutMs, maxMemoryMb: o.maxMemoryMb, logger: logger.child({ plugin: entry.name }) });
        const loaded = await host.load();
        if (!loaded.ok) {
          await host.close();
          throw new SgeventdError('REPLAY_PLUGIN_LOAD_FAILED', `plugin ${entry.name} failed to load: ${loaded.error.message}`);
        }
        const id = pluginId({ folder: folder.path, name: entry.name });
        const scope = buildScope({ projects: o.projects, ignoreOwnEvents: o.ignoreOwnEvents, scriptNames: loaded.callbacks.map((c) => c.scriptName), directory });
        const lane = new PluginLane({ lastEventId: opts.from, backlog: [], lastError: null }, log, host, scope, null, {
          id, folder: folder.path, name: entry.name, batchSize: config.daemon.maxEventBatchSize, fetchIntervalMs: config.daemon.fetchIntervalMs,
          backlogTimeoutMs: config.daemon.backlogTimeoutMs, retries: 0, retryBackoffMs: 0, deadLetter: false, replay: true, logger: logger.child({ plugin: entry.name }),
        });
        hosts.push({ id, host, lane });
      }
    }
    if (hosts.length === 0) throw new SgeventdError('REPLAY_NO_PLUGIN', opts.plugin ? `no plugin named ${opts.plugin}` : 'no plugin to replay to');
    const span = Math.max(1, to - opts.from);
    for (const { id, host, lane } of hosts) {
      let last = -1;
      counts[id] = await lane.replayRange(opts.from, to, (pos) => {
        const pct = Math.floor((100 * (pos - opts.from)) / span);
        if (pct !== last) {
          last = pct;
          const bar = '#'.repeat(Math.floor(pct / 4)).padEnd(25, ' ');
          progress(`\r${host.name} [${bar}] ${pct}% ${pos - opts.from}/${span}`);
        }
      });
      progress(`\r${host.name}: ${counts[id]} event(s) replayed up to ${to}\n`);
      await host.close();
    }
  } finally {
    log.close();
    await sg.close();
  }
  return counts;
}

export function registerReplayCommand(program: Command): void {
  program
    .command('replay')
    .description('send past events to plugins again (a side run: cursors never move, callbacks see replay: true)')
    .requiredOption('-c, --config <file>', 'sgeventd.yaml or shotgunEventDaemon.conf')
    .requiredOption('--from <id>', 'replay events after this id', parseEventId)
    .option('--to <id>', 'up to and including this id (default: the newest)', parseEventId)
    .option('--plugin <name>', 'only this plugin')
    .action(async (opts: ReplayOptions) => {
      await runReplay(opts, (line) => process.stderr.write(line));
    });
}
