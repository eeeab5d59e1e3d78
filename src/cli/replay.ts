import { loadConfig } from '../config/index.ts';
import { replay } from '../daemon/index.ts';
import { ProgressBar, progressWanted, type ProgressStream } from './progress.ts';

export interface ReplayOptions {
  config: string;
  from: number;
  to?: number;
  plugin?: string;
  /** commander's `--no-progress`. */
  progress?: boolean;
}

/**
 * A side run over `(from, to]`: plugins get the events again with
 * `replay: true`; no cursor, backlog or counter is written. With a terminal
 * (`out` not null) each plugin gets a bar; a line per plugin when it is done.
 */
export async function runReplay(opts: ReplayOptions, out: ProgressStream | null, summary: ProgressStream = process.stderr): Promise<Record<string, number>> {
  const config = await loadConfig(opts.config);
  const bars = new Map<string, ProgressBar>();
  const bar = (plugin: string): ProgressBar => {
    let b = bars.get(plugin);
    if (b === undefined) bars.set(plugin, (b = new ProgressBar(out, plugin)));
    return b;
  };
  return replay(config, {
    from: opts.from,
    ...(opts.to !== undefined ? { to: opts.to } : {}),
    ...(opts.plugin !== undefined ? { plugin: opts.plugin } : {}),
    onProgress: (plugin, pos, to) => bar(plugin).update(pos - opts.from, Math.max(1, to - opts.from)),
    onPluginDone: (plugin, count, to) => bar(plugin).finish(`${plugin}: ${count} event(s) replayed up to ${to}`, summary),
  });
}

/** `sgeventd replay`: progress bars on stderr when it is a terminal. */
export async function replayCommand(opts: ReplayOptions): Promise<void> {
  await runReplay(opts, progressWanted(opts.progress) ? process.stderr : null);
}
