import type { Command } from 'commander';
import { loadConfig } from '../config/index.ts';
import { replay } from '../daemon/index.ts';
import { parseEventId, configOption } from './options.ts';

interface ReplayOptions {
  config: string;
  from: number;
  to?: number;
  plugin?: string;
}

/**
 * A side run over `(from, to]`: plugins get the events again with
 * `replay: true`; no cursor, backlog or counter is written. `progress` gets
 * a bar per plugin.
 */
export async function runReplay(opts: ReplayOptions, progress: (line: string) => void): Promise<Record<string, number>> {
  const config = await loadConfig(opts.config);
  const last = new Map<string, number>();
  return replay(config, {
    from: opts.from,
    ...(opts.to !== undefined ? { to: opts.to } : {}),
    ...(opts.plugin !== undefined ? { plugin: opts.plugin } : {}),
    onProgress: (plugin, pos, to) => {
      const span = Math.max(1, to - opts.from);
      const pct = Math.floor((100 * (pos - opts.from)) / span);
      if (pct === last.get(plugin)) return;
      last.set(plugin, pct);
      const bar = '#'.repeat(Math.floor(pct / 4)).padEnd(25, ' ');
      progress(`\r${plugin} [${bar}] ${pct}% ${pos - opts.from}/${span}`);
    },
    onPluginDone: (plugin, count, to) => progress(`\r${plugin}: ${count} event(s) replayed up to ${to}\n`),
  });
}

export function registerReplayCommand(program: Command): void {
  program
    .command('replay')
    .description('send past events to plugins again (a side run: cursors never move, callbacks see replay: true)')
    .addOption(configOption())
    .requiredOption('--from <id>', 'replay events after this id', parseEventId)
    .option('--to <id>', 'up to and including this id (default: the newest)', parseEventId)
    .option('--plugin <name>', 'only this plugin')
    .action(async (opts: ReplayOptions) => {
      await runReplay(opts, (line) => process.stderr.write(line));
    });
}
