import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_SCRIPT } from '../../src/site/index.ts';
import { daemonBed, waitFor, withDaemon, withSite, type DaemonBed } from '../support/index.ts';

const SCRIPT = `${JSON.stringify(DEFAULT_SCRIPT.name)}, ${JSON.stringify(DEFAULT_SCRIPT.key)}`;

/** A plugin whose callback fails (stopOnError: the plugin is deactivated) on its first `fails` tries, counted in a file. */
function flakyCallback(bed: DaemonBed, fails: number): void {
  const tries = join(bed.dir, 'tries');
  const file = join(bed.plugins, 'flaky.mjs');
  writeFileSync(file, `import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
export function registerCallbacks(reg) {
  reg.registerCallback(${SCRIPT}, (ctx) => {
    let n = 0;
    try { n = Number(readFileSync(${JSON.stringify(tries)}, 'utf8')); } catch {}
    if (n < ${String(fails)}) {
      writeFileSync(${JSON.stringify(tries)}, String(n + 1));
      throw new Error('failing try ' + n);
    }
    appendFileSync(${JSON.stringify(bed.record)}, 'flaky ' + ctx.event.id + '\\n');
  }, null, null, true);
}
`);
  chmodSync(file, 0o644);
}

const retryDelays = (bed: DaemonBed): unknown[] =>
  bed.logLines().filter((l) => typeof l['msg'] === 'string' && l['msg'].includes('loading it again after reactivateAfterMs')).map((l) => l['retryInMs']);

describe('reactivateAfterMs', () => {
  it('a plugin deactivated by a failing callback is loaded again with doubling delays up to reactivateMaxMs, and runs the failed event first', { timeout: 120_000 }, async (t) => {
    const site = await withSite(t);
    const bed = daemonBed(t, site);
    flakyCallback(bed, 3);
    const daemon = await withDaemon(t, bed.config({ daemon: { reactivateAfterMs: 100, reactivateMaxMs: 150 } }), { logFiles: true });
    await waitFor(() => daemon.status().plugins[0]?.status === 'running', 'the plugin running');
    const first = await site.newShotEvent('flaky');
    const newest = await site.newestEventId();
    await waitFor(() => (daemon.status().plugins[0]?.lastEventId ?? 0) >= newest && daemon.status().plugins[0]?.status === 'running', 'the plugin past the newest event, running', 60_000);
    await daemon.stop(); // its log files are complete once it stopped
    const seen = bed.records().map((r) => Number(r[1]));
    assert.equal(seen[0], first, 'the event that failed runs first once the plugin is back');
    assert.deepEqual(seen, [...new Set(seen)].sort((a, b) => a - b), 'each event once, in order');
    assert.deepEqual(retryDelays(bed), [100, 150, 150], 'three tries: 100 ms, then doubled and capped at reactivateMaxMs');
  });

  it('without reactivateAfterMs a deactivated plugin stays deactivated', { timeout: 120_000 }, async (t) => {
    const site = await withSite(t);
    const bed = daemonBed(t, site);
    flakyCallback(bed, 1);
    const daemon = await withDaemon(t, bed.config(), { logFiles: true });
    await waitFor(() => daemon.status().plugins[0]?.status === 'running', 'the plugin running');
    await site.newShotEvent('flaky');
    await waitFor(() => daemon.status().plugins[0]?.status === 'deactivated', 'the plugin deactivated');
    await daemon.stop();
    // Scheduling a try is logged as the deactivation is noticed: nothing was scheduled.
    assert.deepEqual(retryDelays(bed), []);
    assert.deepEqual(bed.records(), []);
  });

  it('a plugin that fails to import is tried again until it loads, per plugin (0 opts out of the daemon default)', { timeout: 120_000 }, async (t) => {
    const site = await withSite(t);
    const bed = daemonBed(t, site);
    const tries = join(bed.dir, 'import-tries');
    const file = join(bed.plugins, 'late.mjs');
    writeFileSync(file, `import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
let n = 0;
try { n = Number(readFileSync(${JSON.stringify(tries)}, 'utf8')); } catch {}
writeFileSync(${JSON.stringify(tries)}, String(n + 1));
if (n < 2) throw new Error('not yet: try ' + n);
export function registerCallbacks(reg) {
  reg.registerCallback(${SCRIPT}, (ctx) => { appendFileSync(${JSON.stringify(bed.record)}, 'late ' + ctx.event.id + '\\n'); });
}
`);
    chmodSync(file, 0o644);
    const never = join(bed.plugins, 'never.mjs');
    writeFileSync(never, "throw new Error('never loads');\n");
    chmodSync(never, 0o644);
    const config = bed.config({ daemon: { reactivateAfterMs: 100 }, plugins: { overrides: { never: { reactivateAfterMs: 0 } } } });
    const daemon = await withDaemon(t, config, { logFiles: true });
    await waitFor(() => daemon.status().plugins.find((p) => p.name === 'late')?.status === 'running', 'the plugin loaded on its third try', 60_000);
    assert.equal(readFileSync(tries, 'utf8'), '3');
    assert.equal(daemon.status().plugins.find((p) => p.name === 'never')?.status, 'load-failed');
    const id = await site.newShotEvent('late');
    await waitFor(() => bed.records().some((r) => r[0] === 'late' && Number(r[1]) === id), 'the plugin running events');
    await daemon.stop();
    assert.deepEqual(retryDelays(bed), [100, 200], 'two tries after the first load (100 ms, then 200 ms); none for the plugin that opted out');
  });
});
