// How a runtime's process is started and signalled: the protocol pipes on fd
// 3/4, and on POSIX a process group of its own.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';

export const RUNTIME_SCRIPT = path.join(import.meta.dirname, 'python', 'runtime.py');
/** The loop that runs one unchanged shotgunEvents plugin in its own process. */
export const PLUGIN_RUNNER_SCRIPT = path.join(import.meta.dirname, 'python', 'plugin_runner.py');

export interface RuntimeChild {
  child: ChildProcess;
  stdout: Readable;
  stderr: Readable;
  /** fd 3: requests to Python. */
  toPy: Writable;
  /** fd 4: answers and progress from Python. */
  fromPy: Readable;
}

/**
 * Spawns `<python> <script>` with stdout, stderr and the two protocol pipes.
 * On POSIX the child leads its own process group, so a kill reaches what a
 * call started (a folder-creation hook's children, an app launch) and a
 * Ctrl-C in the daemon's terminal reaches only the daemon, which stops
 * runtimes in order. Spawn failures arrive as the child's `error` event.
 */
export function spawnRuntime(o: { python: string; script?: string | undefined; cwd: string; env: Readonly<Record<string, string>> }): RuntimeChild {
  const child = spawn(o.python, [o.script ?? RUNTIME_SCRIPT], {
    cwd: o.cwd,
    env: o.env,
    stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
    shell: false,
    windowsHide: true,
    detached: process.platform !== 'win32',
  });
  const [, stdout, stderr, toPy, fromPy] = child.stdio as [unknown, Readable, Readable, Writable, Readable];
  return { child, stdout, stderr, toPy, fromPy };
}

/** Signals the child's whole process group (POSIX), or the child alone. */
export function signalRuntime(child: ChildProcess, signal: NodeJS.Signals): void {
  const pid = child.pid;
  if (pid !== undefined && process.platform !== 'win32') {
    try {
      process.kill(-pid, signal);
      return;
    } catch {
      // The group is gone already, or was never made: signal the child itself.
    }
  }
  child.kill(signal);
}
