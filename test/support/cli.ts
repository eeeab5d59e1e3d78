import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { onCleanup, type Cleanup } from './cleanup.ts';

// The same entry `npx sgeventd` runs, started directly to spare npm's start-up.
const BIN = fileURLToPath(new URL('../../bin/sgeventd.mjs', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The `[CODE]` the CLI prints after an error message, if any. */
  errorCode: string | undefined;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sgeventd ${args.join(' ')} did not finish in ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, errorCode: /\[([A-Z_]+)\]\s*$/.exec(stderr)?.[1] });
    });
  });
}

/** A running `sgeventd foreground` child: its exit and what it wrote on stderr so far. */
export interface ForegroundChild {
  child: ReturnType<typeof spawn>;
  exited: Promise<number | null>;
  readonly stderr: () => string;
}

/**
 * Starts `sgeventd foreground --no-console -c <yaml> --from <from>` (with
 * `nodeArgs` before the entry, e.g. `--import` hooks), keeps its stderr, and
 * kills it at cleanup if it is still running.
 */
export function startForeground(t: Cleanup, o: { yaml: string; from: number; env: NodeJS.ProcessEnv; nodeArgs?: string[] }): ForegroundChild {
  const child = spawn(process.execPath, [...(o.nodeArgs ?? []), BIN, 'foreground', '--no-console', '-c', o.yaml, '--from', String(o.from)], {
    env: o.env, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  onCleanup(t, async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return { child, exited, stderr: () => stderr };
}
