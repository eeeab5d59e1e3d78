// How the CLI finds and addresses a running daemon's status server, with
// nothing but the config's address (config/daemon-address.ts): no schema and
// no HTTP client package, so `status` stays a quick command.
import { addressOf, readDaemonAddress, type DaemonAddress } from '../config/daemon-address.ts';
import type { DaemonConfig } from '../config/types.ts';
import { runningUrl } from '../daemon/url-file.ts';
import { runningPid } from './pidfile.ts';

/** The running daemon's status server, or null when no daemon (or no status server) runs. */
export function daemonUrl(config: DaemonAddress): string | null {
  if (runningPid(config.daemon.pidFile) === null) return null;
  return runningUrl(config);
}

/** The request headers for the status server: its token, when one is set. */
export function daemonHeaders(config: DaemonAddress, extra: Record<string, string> = {}): Record<string, string> {
  const token = config.http.token;
  return { ...extra, ...(token && !token.isEmpty ? { authorization: `Bearer ${token.reveal()}` } : {}) };
}

/** The whole config, validated: loaded (with the schema and zod) only by the commands that use more than the address. */
export async function fullConfig(configPath: string): Promise<DaemonConfig> {
  return (await import('../config/load.ts')).loadConfig(configPath);
}

/** The config's address and secrets: read quickly from a native YAML file, else from the whole config. */
export async function addressFor(configPath: string): Promise<{ address: DaemonAddress; secrets: string[] }> {
  return (await readDaemonAddress(configPath)) ?? addressOf(await fullConfig(configPath));
}
