// Where a running daemon records its status server's URL, for the CLI. A file
// of its own, free of the daemon's other modules: `status` and `plugin`
// commands read it without loading the daemon (see cli/commands.ts).
import { readFileSync } from 'node:fs';
import type { DaemonAddress } from '../config/daemon-address.ts';

/** Where a running daemon records its status server's URL (beside its pid file). */
export function urlFile(config: Pick<DaemonAddress, 'daemon'>): string {
  return `${config.daemon.pidFile}.url`;
}

/** The running daemon's status server URL, if it recorded one. */
export function runningUrl(config: Pick<DaemonAddress, 'daemon'>): string | null {
  try {
    return readFileSync(urlFile(config), 'utf8').trim() || null;
  } catch {
    return null;
  }
}
