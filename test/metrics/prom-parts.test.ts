import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

// In a process of its own: this file's test runner and other tests load prom-client's index.
const PROBE = `
import { createRequire } from 'node:module';
const { DaemonMetrics } = await import(${JSON.stringify(new URL('../../src/metrics/index.ts', import.meta.url).href)});
const metrics = new DaemonMetrics({});
metrics.observeCallback({ plugin: 'p', callback: 'c', durationMs: 1, error: null });
const text = await metrics.metrics();
const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('prom-client'));
console.log(JSON.stringify({ loaded, processed: /sgeventd_events_processed_total\\{plugin="p"\\} 1/.test(text), defaults: text.includes('sgeventd_process_cpu_seconds_total') }));
`;

describe('prom-client parts', () => {
  it('the daemon loads only the parts of prom-client it uses, and its series are all there', async () => {
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', PROBE], { cwd: new URL('../../', import.meta.url) });
    const probe = JSON.parse(stdout.trim().split('\n').pop()!) as { loaded: string[]; processed: boolean; defaults: boolean };
    assert.ok(probe.loaded.some((k) => k.endsWith('/lib/registry.js')), `prom-client's registry is loaded: ${probe.loaded.join(', ')}`);
    for (const unused of ['/prom-client/index.js', '/lib/cluster.js', '/lib/pushgateway.js', '/lib/summary.js']) {
      assert.ok(!probe.loaded.some((k) => k.endsWith(unused)), `${unused} is not loaded; loaded: ${probe.loaded.join(', ')}`);
    }
    assert.ok(probe.processed, 'the callback is counted');
    assert.ok(probe.defaults, 'the default process metrics are exposed');
  });
});
