import type { Command } from 'commander';
import { loadConfig } from '../config/index.ts';
import { serveClusterNode, serveDaemon } from '../daemon/index.ts';
import { claimPidFile } from './pidfile.ts';
import { Shutdown } from './shutdown.ts';
import { parseEventId, configOption } from './options.ts';
import { showCatchUp } from './progress-catch-up.ts';
import { progressWanted } from './progress.ts';

export interface ForegroundOptions {
  config: string;
  from?: number;
  /** commander's `--no-console`: false when started in the background. */
  console?: boolean;
  /** commander's `--no-progress`: no catch-up bar. */
  progress?: boolean;
}

/** Runs the daemon in this process until SIGINT/SIGTERM. */
export async function runForeground(opts: ForegroundOptions): Promise<void> {
  const console = opts.console ?? true;
  // First: a signal from here on stops the daemon gracefully once it has started.
  const shutdown = new Shutdown();
  const config = await loadConfig(opts.config);
  const release = claimPidFile(config.daemon.pidFile);
  shutdown.register(() => Promise.resolve(release()));
  try {
    if (config.cluster !== undefined) await serveClusterNode(config, { console, recordUrl: true }, shutdown);
    else {
      const { daemon } = await serveDaemon({ config, console, recordUrl: true, ...(opts.from !== undefined ? { fromId: opts.from } : {}) }, shutdown);
      if (console && progressWanted(opts.progress)) {
        const bar = showCatchUp(daemon, process.stderr);
        shutdown.register(() => Promise.resolve(bar.stop()));
      }
    }
    shutdown.arm();
  } catch (err) {
    await shutdown.run();
    throw err;
  }
  await shutdown.finished;
}

export function registerForegroundCommand(program: Command): void {
  program
    .command('foreground')
    .description('run the daemon in this terminal (Ctrl-C stops it gracefully)')
    .addOption(configOption())
    .option('--from <id>', 'plugins with no state start after this event id', parseEventId)
    .option('--no-console', 'log to files only (used by `sgeventd start`)')
    .option('--no-progress', 'no catch-up progress bar (there is none when stdout or stderr is not a terminal)')
    .action(async (opts: ForegroundOptions) => {
      await runForeground(opts);
    });
}
