import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { register as globalRegistry } from 'prom-client';
import { DaemonMetrics, type MetricsStatus } from '../../src/metrics/index.ts';
import { parsePromText, sampleValue } from './prom-text.ts';

function status(overrides: Partial<MetricsStatus> = {}): MetricsStatus {
  return {
    newestEventId: 900,
    startedAt: new Date(Date.now() - 60_000).toISOString(),
    lastSuccessfulReadAt: new Date(Date.now() - 4_000).toISOString(),
    siteErrors: 0,
    plugins: [
      { name: 'log_events', status: 'running', lag: 0, backlog: 0 },
      { name: 'shot_toolkit', status: 'deactivated', lag: 17, backlog: 2 },
    ],
    runtimes: [{ key: 'core-a|config-a', rssMb: 64 }],
    ...overrides,
  };
}

describe('DaemonMetrics', () => {
  it('produces valid Prometheus text with the expected series', async () => {
    const metrics = new DaemonMetrics({ status: () => status() });
    metrics.observeCallback({ plugin: 'log_events', callback: 'onEvent', durationMs: 3, error: null });
    const text = parsePromText(await metrics.metrics());
    for (const [name, type] of [
      ['sgeventd_events_processed_total', 'counter'],
      ['sgeventd_events_failed_total', 'counter'],
      ['sgeventd_callback_duration_seconds', 'histogram'],
      ['sgeventd_lag_events', 'gauge'],
      ['sgeventd_backlog_size', 'gauge'],
      ['sgeventd_plugin_active', 'gauge'],
      ['sgeventd_newest_event_id', 'gauge'],
      ['sgeventd_last_poll_age_seconds', 'gauge'],
      ['sgeventd_runtime_starts_total', 'counter'],
      ['sgeventd_runtime_crashes_total', 'counter'],
      ['sgeventd_runtime_rss_bytes', 'gauge'],
      ['sgeventd_site_request_errors_total', 'counter'],
    ] as const) {
      assert.equal(text.types.get(name), type, name);
    }
    assert.equal(sampleValue(text, 'sgeventd_lag_events', { plugin: 'shot_toolkit' }), 17);
    assert.equal(sampleValue(text, 'sgeventd_backlog_size', { plugin: 'shot_toolkit' }), 2);
    assert.equal(sampleValue(text, 'sgeventd_plugin_active', { plugin: 'log_events' }), 1);
    assert.equal(sampleValue(text, 'sgeventd_plugin_active', { plugin: 'shot_toolkit' }), 0);
    assert.equal(sampleValue(text, 'sgeventd_newest_event_id'), 900);
    assert.equal(sampleValue(text, 'sgeventd_runtime_rss_bytes', { key: 'core-a|config-a' }), 64 * 1024 * 1024);
    const age = sampleValue(text, 'sgeventd_last_poll_age_seconds');
    assert.ok(age !== undefined && age >= 4 && age < 3600, `poll age ${age}`);
    // prom-client's process metrics sit on the same registry, with the daemon's prefix.
    assert.ok(text.samples.some((s) => s.name === 'sgeventd_process_cpu_user_seconds_total'));
  });

  it('moves the counters and the histogram with observeCallback', async () => {
    const metrics = new DaemonMetrics();
    const before = parsePromText(await metrics.metrics());
    assert.equal(sampleValue(before, 'sgeventd_events_processed_total', { plugin: 'a' }), undefined);
    for (let i = 0; i < 3; i++) metrics.observeCallback({ plugin: 'a', callback: 'onShot', durationMs: 20, error: null });
    metrics.observeCallback({ plugin: 'a', callback: 'onShot', durationMs: 1500, error: 'Error: boom' });
    metrics.observeCallback({ plugin: 'b', callback: 'onTask', durationMs: 1, error: null });
    const after = parsePromText(await metrics.metrics());
    assert.equal(sampleValue(after, 'sgeventd_events_processed_total', { plugin: 'a' }), 3);
    assert.equal(sampleValue(after, 'sgeventd_events_failed_total', { plugin: 'a' }), 1);
    assert.equal(sampleValue(after, 'sgeventd_events_processed_total', { plugin: 'b' }), 1);
    assert.equal(sampleValue(after, 'sgeventd_events_failed_total', { plugin: 'b' }), 0, 'failed exists at 0 once a plugin is seen');
    assert.equal(sampleValue(after, 'sgeventd_callback_duration_seconds_count', { plugin: 'a', callback: 'onShot' }), 4);
    const sum = sampleValue(after, 'sgeventd_callback_duration_seconds_sum', { plugin: 'a', callback: 'onShot' });
    assert.ok(sum !== undefined && Math.abs(sum - 1.56) < 1e-9, `sum ${sum}`);
    assert.equal(sampleValue(after, 'sgeventd_callback_duration_seconds_bucket', { plugin: 'a', callback: 'onShot', le: '0.025' }), 3);
    assert.equal(sampleValue(after, 'sgeventd_callback_duration_seconds_bucket', { plugin: 'a', callback: 'onShot', le: '+Inf' }), 4);
  });

  it('counts runtime starts and crashes per project label', async () => {
    const metrics = new DaemonMetrics();
    metrics.runtimeStarted('122');
    metrics.runtimeStarted('122');
    metrics.runtimeStarted('123,124');
    metrics.runtimeCrashed('122');
    const text = parsePromText(await metrics.metrics());
    assert.equal(sampleValue(text, 'sgeventd_runtime_starts_total', { project: '122' }), 2);
    assert.equal(sampleValue(text, 'sgeventd_runtime_starts_total', { project: '123,124' }), 1);
    assert.equal(sampleValue(text, 'sgeventd_runtime_crashes_total', { project: '122' }), 1);
    assert.equal(sampleValue(text, 'sgeventd_runtime_crashes_total', { project: '123,124' }), undefined);
  });

  it('turns the running site error count into a counter by delta, surviving a reset of the source', async () => {
    let errors = 3;
    const metrics = new DaemonMetrics({ status: () => status({ siteErrors: errors }) });
    const read = async (): Promise<number | undefined> => sampleValue(parsePromText(await metrics.metrics()), 'sgeventd_site_request_errors_total');
    assert.equal(await read(), 3);
    errors = 5;
    assert.equal(await read(), 5);
    assert.equal(await read(), 5, 'no change, no increment');
    errors = 2; // a new source counting from zero again
    assert.equal(await read(), 7);
  });

  it('drops gauges of plugins and runtimes that are gone', async () => {
    let s = status();
    const metrics = new DaemonMetrics({ status: () => s });
    assert.equal(sampleValue(parsePromText(await metrics.metrics()), 'sgeventd_lag_events', { plugin: 'shot_toolkit' }), 17);
    s = status({ plugins: [{ name: 'log_events', status: 'running', lag: 5, backlog: 0 }], runtimes: [] });
    const text = parsePromText(await metrics.metrics());
    assert.equal(sampleValue(text, 'sgeventd_lag_events', { plugin: 'shot_toolkit' }), undefined);
    assert.equal(sampleValue(text, 'sgeventd_lag_events', { plugin: 'log_events' }), 5);
    assert.equal(text.samples.filter((x) => x.name === 'sgeventd_runtime_rss_bytes').length, 0);
  });

  it('bounds label values: long ones are cut, and past the limit new ones share "other"', async () => {
    const metrics = new DaemonMetrics({ maxLabelValues: 2 });
    metrics.observeCallback({ plugin: 'one', callback: 'cb', durationMs: 1, error: null });
    metrics.observeCallback({ plugin: 'two', callback: 'cb', durationMs: 1, error: null });
    metrics.observeCallback({ plugin: 'three', callback: 'cb', durationMs: 1, error: null });
    metrics.observeCallback({ plugin: 'four', callback: 'cb', durationMs: 1, error: null });
    metrics.runtimeStarted('x'.repeat(500));
    const text = parsePromText(await metrics.metrics());
    const plugins = new Set(text.samples.filter((x) => x.name === 'sgeventd_events_processed_total').map((x) => x.labels['plugin']));
    assert.deepEqual([...plugins].sort(), ['one', 'other', 'two']);
    assert.equal(sampleValue(text, 'sgeventd_events_processed_total', { plugin: 'other' }), 2);
    const project = text.samples.find((x) => x.name === 'sgeventd_runtime_starts_total')?.labels['project'];
    assert.ok(project !== undefined && project.length <= 120, `project label length ${project?.length}`);
  });

  it('uses a registry of its own: two instances coexist and the global registry stays empty of them', async () => {
    const a = new DaemonMetrics();
    const b = new DaemonMetrics();
    a.observeCallback({ plugin: 'p', callback: 'cb', durationMs: 1, error: null });
    assert.equal(sampleValue(parsePromText(await b.metrics()), 'sgeventd_events_processed_total', { plugin: 'p' }), undefined);
    assert.equal(sampleValue(parsePromText(await a.metrics()), 'sgeventd_events_processed_total', { plugin: 'p' }), 1);
    assert.equal(globalRegistry.getSingleMetric('sgeventd_events_processed_total'), undefined);
    assert.match(a.contentType, /^text\/plain; version=0\.0\.4/);
  });

  it('reads the status once per scrape', async () => {
    let calls = 0;
    const metrics = new DaemonMetrics({ status: () => (calls++, status()) });
    await metrics.metrics();
    assert.equal(calls, 1);
  });

  it('loses no count recorded before prom-client is loaded (it loads at the first scrape or rare recording)', async () => {
    const metrics = new DaemonMetrics({ maxLabelValues: 2 });
    assert.equal(metrics.loaded, false, 'nothing recorded, nothing asked: not loaded');
    for (let i = 0; i < 500; i++) metrics.observeCallback({ plugin: i % 2 ? 'a' : 'b', callback: 'cb', durationMs: 1, error: i === 7 ? 'Error' : null });
    metrics.observeCallback({ plugin: 'c', callback: 'cb', durationMs: 1, error: null });
    metrics.runtimeStarted('122');
    metrics.webhooksOn(['accepted']);
    metrics.webhookDelivery('accepted');
    // Recorded in the same turn: the import cannot have finished, so all of these were queued.
    assert.equal(metrics.loaded, false);
    const text = parsePromText(await metrics.metrics());
    assert.equal(metrics.loaded, true);
    assert.equal(sampleValue(text, 'sgeventd_events_processed_total', { plugin: 'a' }), 249);
    assert.equal(sampleValue(text, 'sgeventd_events_failed_total', { plugin: 'a' }), 1);
    assert.equal(sampleValue(text, 'sgeventd_events_processed_total', { plugin: 'b' }), 250);
    // Applied in order: the third plugin came past the label limit.
    assert.equal(sampleValue(text, 'sgeventd_events_processed_total', { plugin: 'other' }), 1);
    assert.equal(sampleValue(text, 'sgeventd_runtime_starts_total', { project: '122' }), 1);
    assert.equal(sampleValue(text, 'sgeventd_webhook_deliveries_total', { result: 'accepted' }), 1);
    metrics.observeCallback({ plugin: 'a', callback: 'cb', durationMs: 1, error: null });
    assert.equal(sampleValue(parsePromText(await metrics.metrics()), 'sgeventd_events_processed_total', { plugin: 'a' }), 250);
  });
});

describe('callbacks before the first scrape', () => {
  it('do not load prom-client, and come out as if it had been there', async () => {
    const held = new DaemonMetrics();
    const live = new DaemonMetrics();
    await live.metrics();
    const durations = [0, 3, 7.5, 12, 40, 260, 999, 4000, -1, Number.NaN];
    for (const [i, ms] of durations.entries()) {
      for (const m of [held, live]) {
        m.observeCallback({ plugin: 'p', callback: i % 2 ? 'onA' : 'onB', durationMs: ms, error: i === 3 ? 'Error' : null });
        m.observeLaneWait('p', ms);
      }
    }
    await new Promise((r) => setImmediate(r));
    assert.equal(held.loaded, false, 'callbacks and lane waits alone never load prom-client');
    const series = (text: string): string[] => text.split('\n').filter((l) => /^sgeventd_(events_|callback_duration|key_lane_wait)/.test(l)).sort();
    const expected = series(await live.metrics());
    assert.ok(expected.length > 30, expected.join('\n'));
    assert.deepEqual(series(await held.metrics()), expected);
    assert.equal(held.loaded, true);
  });
});

describe('parsePromText', () => {
  it('rejects a line that is not in the exposition format', () => {
    assert.throws(() => parsePromText('# TYPE x counter\nx{a="1" 3\n'), /line 2/);
    assert.throws(() => parsePromText('x 3 apples\n'), /line 1/);
    assert.equal(parsePromText('x{a="q\\"uote"} 1.5e3\n').samples[0]?.labels['a'], 'q"uote');
  });
});
