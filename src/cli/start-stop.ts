import { spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../config/index.ts';
import { SgeventdError } from '../shared/index.ts';
import { runningPid } from './pidfile.ts';

const BIN = fileURLToPath(new URL('../../bin/sgeventd.mjs', import.meta.url));

/** Starts the daemon in the background; its console output goes to `<logging.dir>/sgeventd.out`. */
export async function startDaemon(configPath: string, waitMs = 20_000): Promise<number> {
  const config = await loadConfig(configPath);
  const existing = runningPid(config.daemon.pidFile);
  if (existing !== null) throw new SgeventdError('DAEMON_ALREADY_RUNNING', `sgeventd already runs (pid ${existing})`, { details: { pid: existing } });
  mkdirSync(config.logging.dir, { recursive: true });
  const out = openSync(join(config.logging.dir, 'sgeventd.out'), 'a');
  const child = spawn(process.execPath, [BIN, 'foreground', '--no-console', '-c', config.source], {
    detached: true,
    stdio: ['ignore', out, out],
    env: process.env,
  });
  closeSync(out);
  child.unref();
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    const pid = runningPid(config.daemon.pidFile);
    if (pid !== null) return pid;
    if (child.exitCode !== null) break;
    await sleep(100);
  }
  throw new SgeventdError('DAEMON_START_FAILED', `sgeventd did not start; see ${join(config.logging.dir, 'sgeventd.out')}`);
}

/** Asks the daemon to stop (SIGTERM: in-flight callbacks finish, state is committed) and waits. */
export async function stopDaemon(configPath: string, waitMs = 120_000): Promise<number | null> {
  const config = await loadConfig(configPath);
  const pid = runningPid(config.daemon.pidFile);
  if (pid === null) return null;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    if (runningPid(config.daemon.pidFile) === null) return pid;
    try {
      process.kill(pid, 0);
    } catch {
      return pid;
    }
    await sleep(100);
  }
  throw new SgeventdError('DAEMON_STOP_TIMEOUT', `sgeventd (pid ${pid}) did not stop within ${waitMs} ms`, { details: { pid } });
}

/** The options of a command that takes only `-c`. */
export interface ConfigCliOptions {
  config: string;
}

/** `sgeventd start`. */
export async function startCommand(opts: ConfigCliOptions): Promise<void> {
  const pid = await startDaemon(opts.config);
  process.stdout.write(`sgeventd started (pid ${pid})\n`);
}

/** `sgeventd stop`. */
export async function stopCommand(opts: ConfigCliOptions): Promise<void> {
  const pid = await stopDaemon(opts.config);
  process.stdout.write(pid === null ? 'sgeventd is not running\n' : `sgeventd stopped (pid ${pid})\n`);
}

/** `sgeventd restart`. */
export async function restartCommand(opts: ConfigCliOptions): Promise<void> {
  await stopDaemon(opts.config);
  const pid = await startDaemon(opts.config);
  process.stdout.write(`sgeventd restarted (pid ${pid})\n`);
}
