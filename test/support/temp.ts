import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onCleanup, type Cleanup } from './cleanup.ts';

/** A fresh folder under the system temp dir (mode 0755), removed when the test ends. */
export function tempDir(t: Cleanup, prefix = 'sgeventd-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  // mkdtemp makes it 0700; the daemon checks plugin folder modes, so give it the usual 0755.
  chmodSync(dir, 0o755);
  onCleanup(t, () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
