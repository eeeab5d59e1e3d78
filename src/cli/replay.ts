import { loadConfig } from '../config/index.ts';
import { replay } from '../daemon/index.ts';

export interface ReplayOptions {
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

/** `sgeventd replay`: progress bars on stderr. */
export async function replayCommand(opts: ReplayOptions): Promise<void> {
  await runReplay(opts, (line) => process.stderr.write(line));
}
