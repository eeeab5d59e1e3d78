import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { CentralizedResolution } from './resolve.ts';

/**
 * A cheap summary of the files whose change means a runtime must be recycled:
 * the core's info.yml, core_<OS>.cfg and config/core/*.yml (size and mtime).
 *
 * Checked with stat before use (throttled), not fs.watch: studio configs
 * usually live on NFS/SMB where inotify never hears of a change made on
 * another machine, and a few stats a second cost nothing next to a call.
 */
export function fingerprint(res: CentralizedResolution): string {
  const parts: string[] = [];
  const add = (file: string): void => {
    try {
      const st = statSync(file);
      parts.push(`${file}:${st.size}:${st.mtimeMs}`);
    } catch {
      parts.push(`${file}:missing`);
    }
  };
  for (const f of res.watchFiles) add(f);
  for (const dir of res.watchDirs) {
    let names: string[] = [];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith('.yml')).sort();
    } catch {
      parts.push(`${dir}:missing`);
    }
    for (const n of names) add(path.join(dir, n));
  }
  return parts.join('|');
}
