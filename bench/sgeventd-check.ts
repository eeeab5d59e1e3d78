import { spawn } from 'node:child_process';
import { BIN } from '../test/dispatch/child.ts';

/** What `sgeventd check` says the plugin's effective concurrency is. */
export async function effectiveConcurrency(yaml: string, env: NodeJS.ProcessEnv): Promise<string> {
  const child = spawn(process.execPath, [BIN, 'check', '-c', yaml], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve) => child.once('close', () => resolve()));
  return /concurrency: [^\n;]*/.exec(out)?.[0] ?? `unknown (check said: ${out.trim().slice(-300)})`;
}
