import { loadConfig } from '../config/index.ts';
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
  // Callbacks get daemon.stopTimeoutMs to finish; the rest of the stop (commits, hand-overs) a further 30 s.
  shutdown.deadlineMs = config.daemon.stopTimeoutMs + 30_000;
  const release = claimPidFile(config.daemon.pidFile);
  shutdown.register(() => Promise.resolve(release()));
  try {
    if (config.cluster !== undefined) {
      const { serveClusterNode } = await import('../daemon/cluster-daemon.ts');
      await serveClusterNode(config, { console, recordUrl: true }, shutdown);
    } else {
      // The state lock (an SQLite file beside the state: no other process) is
      // taken first; Daemon.open reports a refusal before it opens the state.
      const lock = (await import('../state/lock.ts')).lockStateFile(config.daemon.state);
      lock.catch(() => undefined); // awaited (and reported) by Daemon.open
      // The Python plugins' processes start now too (the slowest part of the
      // first event): their hosts adopt them; those not adopted are ended.
      const early = (await import('../hosts/python/early.ts')).EarlyPythonProcesses.begin(config);
      shutdown.register(() => early.close());
      // Only the folders' scan is waited for (a few stats): loading the daemon's modules would hold up the spawns.
      await early.started;
      // Single files, not the folder's index: a single-machine daemon never loads
      // the cluster's modules (NATS), nor check, replay or the demo's parts.
      const { serveDaemon } = await import('../daemon/serve.ts');
      const { daemon } = await serveDaemon({ config, console, recordUrl: true, lock, early, ...(opts.from !== undefined ? { fromId: opts.from } : {}) }, shutdown);
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
