// FastHistogram (src/metrics/fast-histogram.ts) renders exactly as prom-client's
// Histogram does for the same observations: same samples, labels, order, text.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram, Registry } from 'prom-client';
import { FastHistogram } from '../../src/metrics/fast-histogram.ts';

describe('FastHistogram', () => {
  it('renders as prom-client Histogram, as text and as JSON', async () => {
    const theirs = new Registry();
    const ours = new Registry();
    const config = { name: 'x_seconds', help: 'Help "with" \\ escapes.', labelNames: ['plugin', 'callback'] as const, buckets: [0.01, 0.1, 1, 10] };
    const a = new Histogram({ ...config, labelNames: [...config.labelNames], registers: [theirs] });
    const b = new FastHistogram({ ...config, registers: [ours] });
    const values = [0, 0.01, 0.010001, 0.5, 1, 9.99, 10, 11, 1e9, 0.05];
    values.forEach((v, i) => {
      const labels = { plugin: `p${i % 3}`, callback: i % 2 === 0 ? 'on"Shot' : 'on\\Task\n' };
      a.labels(labels).observe(v);
      b.labels(labels).observe(v);
    });
    assert.equal(await ours.metrics(), await theirs.metrics());
    assert.deepEqual(await ours.getMetricsAsJSON(), await theirs.getMetricsAsJSON());
    assert.throws(() => b.labels({ plugin: 'p', callback: 'c' }).observe(Number.NaN), TypeError);
    b.reset();
    a.reset();
    assert.equal(await ours.metrics(), await theirs.metrics());
  });
});
