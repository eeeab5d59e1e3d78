import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onCleanup, type Cleanup } from './cleanup.ts';

/** A fresh folder under the system temp dir (mode 0755), removed when the test ends. */
export function tempDir(t: Cleanup, prefix = 'sgeventd-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  // Plugin folders refuse group/world-writable parents; mkdtemp's 0700 is fine but explicit is clearer.
  chmodSync(dir, 0o755);
  onCleanup(t, () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
