// The one test harness: the local site, a daemon, waiting for a condition,
// temp folders; everything a test starts is cleaned up by its `t.after`.
export { onCleanup, type Cleanup } from './cleanup.ts';
export { waitFor, within } from './wait.ts';
export { tempDir } from './temp.ts';
export { withSite, type TestSite } from './site.ts';
export { withProxy, type TestProxy } from './proxy.ts';
export { daemonBed, withDaemon, logLines, DAEMON_FIXTURES, type DaemonBed } from './daemon.ts';
export { runCli, startForeground, type CliResult, type ForegroundChild } from './cli.ts';
export { browserSkip, withBrowser, CHROMIUM, BROWSER_REQUIRED } from './browser.ts';
export { withSmtp, subjectOf, type Mail, type TestSmtp } from './smtp.ts';
