import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { daemonBed, waitFor, withDaemon, withSite } from '../support/index.ts';

/** Two callbacks that do nothing and one that always fails (stopOnError off, so the plugin goes on). */
const PLUGIN = `
export function registerCallbacks(reg) {
  reg.registerCallback('sgeventd', 'sgeventd-key', function first() {}, { Shotgun_Shot_New: null });
  reg.registerCallback('sgeventd', 'sgeventd-key', function second() {}, { Shotgun_Shot_New: null });
  reg.registerCallback('sgeventd', 'sgeventd-key', function refuses(ctx) { throw new Error('refused ' + ctx.event.id); }, { Shotgun_Shot_New: null }, null, false);
}
`;

describe('the timing log of a running daemon', () => {
  it('has one line per callback run with the documented fields: event, plugin, callback, start, duration, delay, error', async (t) => {
    const h = daemonBed(t, await withSite(t));
    const file = join(h.plugins, 'timed.mjs');
    writeFileSync(file, PLUGIN);
    chmodSync(file, 0o644);
    const config = h.config({ logging: { dir: h.logs, level: 'warn', timing: true } });
    const since = Date.now();
    const daemon = await withDaemon(t, config, { logFiles: true });
    await waitFor(() => daemon.status().plugins.find((p) => p.name === 'timed')?.status === 'running', 'the plugin to load');
    const ids = [await h.site.newShotEvent('timed1'), await h.site.newShotEvent('timed2')];

    const timingLines = (): Array<Record<string, unknown>> => readdirSync(h.logs).filter((f) => f.startsWith('sgeventd-timing.'))
      .flatMap((f) => readFileSync(join(h.logs, f), 'utf8').split('\n').filter((l) => l.startsWith('{')))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    // Timing lines are written as callbacks finish; stopping the daemon closes the file.
    const last = ids[1] ?? 0;
    await waitFor(() => (daemon.status().plugins.find((p) => p.name === 'timed')?.lastEventId ?? 0) >= last, 'the plugin to pass the second shot');
    await daemon.stop();
    const lines = timingLines();

    const mine = lines.filter((l) => ids.includes(Number(l['event'])));
    assert.deepEqual(mine.map((l) => `${String(l['event'])} ${String(l['callback'])}`).sort(),
      ids.flatMap((id) => ['first', 'refuses', 'second'].map((cb) => `${id} ${cb}`)).sort(), 'one line per callback and event');
    for (const l of mine) {
      for (const field of ['event', 'plugin', 'callback', 'start', 'duration_ms', 'delay_ms', 'error']) assert.ok(field in l, `${field} in ${JSON.stringify(l)}`);
      assert.equal(l['plugin'], 'timed');
      const start = Date.parse(String(l['start']));
      assert.ok(Number.isFinite(start) && start >= since - 1000 && start <= Date.now(), `start ${String(l['start'])}`);
      assert.equal(typeof l['duration_ms'], 'number');
      assert.ok(Number(l['duration_ms']) >= 0);
      assert.equal(typeof l['delay_ms'], 'number', 'the events have a created_at, so the delay is known');
      if (l['callback'] === 'refuses') assert.ok(typeof l['error'] === 'string' && l['error'].length > 0, `the failure is on its line: ${JSON.stringify(l)}`);
      else assert.equal(l['error'], null);
    }
  });
});
