import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { onCleanup, type Cleanup } from './cleanup.ts';

/** Debian's chromium, driven by playwright-core (no browser download); `SGEVENTD_CHROMIUM` points elsewhere. */
export const CHROMIUM = process.env['SGEVENTD_CHROMIUM'] ?? '/usr/bin/chromium';

/** CI (`.ci/run`) sets it: there a browser test that cannot run fails instead of skipping. */
export const BROWSER_REQUIRED = process.env['SGEVENTD_REQUIRE_BROWSER'] === '1';

/**
 * The `skip` option of a browser suite: false when it must run (the browser
 * is there, or `SGEVENTD_REQUIRE_BROWSER=1`), else the reason and the fix.
 */
export function browserSkip(): false | string {
  if (BROWSER_REQUIRED) return false;
  if (process.env['SGEVENTD_SKIP_BROWSER'] === '1') return 'SGEVENTD_SKIP_BROWSER=1: no browser test here';
  if (!existsSync(CHROMIUM)) return `no browser at ${CHROMIUM}; to run this test: apt-get install chromium (or set SGEVENTD_CHROMIUM)`;
  return false;
}

/** Launches headless Chromium; it closes when the test ends. */
export async function withBrowser(t: Cleanup): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 60_000,
  });
  onCleanup(t, () => browser.close());
  return browser;
}
