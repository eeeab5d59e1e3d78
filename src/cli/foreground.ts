import { loadConfig } from '../config/index.ts';
// Single files, not the folder's index: a single-machine daemon never loads
// the cluster's modules (NATS), nor check, replay or the demo's parts.
import { serveDaemon } from '../daemon/serve.ts';
import { claimPidFile } from './pidfile.ts';
import { Shutdown } from './shutdown.ts';
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
    if (config.cluster !== undefined) {
      const { serveClusterNode } = await import('../daemon/cluster-daemon.ts');
      await serveClusterNode(config, { console, recordUrl: true }, shutdown);
    } else {
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
