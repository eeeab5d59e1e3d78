// A Prometheus histogram for series observed thousands of times a second.
// prom-client's Histogram checks and hashes the label set on every
// observation, even through `labels()`; a catch-up spent about a tenth of the
// main thread there. Here a bound series is an array of bucket counts, a sum
// and a count: an observation is a bucket search and three additions. The
// registry renders it as it renders prom-client's own (same samples, labels
// and order), from `get()`.
import type { Metric, Registry } from 'prom-client';

/** One label set's buckets (not cumulative: cumulated when rendered). */
export class HistogramSeries {
  readonly labels: Readonly<Record<string, string>>;
  readonly #bounds: readonly number[];
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;

  constructor(labels: Readonly<Record<string, string>>, bounds: readonly number[]) {
    this.labels = labels;
    this.#bounds = bounds;
    this.#counts = new Float64Array(bounds.length);
  }

  /** One observation (a finite number; prom-client refuses others the same way). */
  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${String(value)}`);
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= (bounds[i] as number)) {
        (this.#counts[i] as number)++;
        break;
      }
    }
    this.#sum += value;
    this.#count++;
  }

  /** Adds the observations of `other` (a series with the same buckets) to this one. */
  add(other: HistogramSeries): void {
    if (other.#bounds.length !== this.#bounds.length) throw new RangeError('histogram series with other buckets');
    for (let i = 0; i < this.#counts.length; i++) (this.#counts[i] as number) += other.#counts[i] as number;
    this.#sum += other.#sum;
    this.#count += other.#count;
  }

  /** The samples of this series as prom-client's registry renders them. */
  samples(name: string): MetricSample[] {
    const out: MetricSample[] = [];
    let acc = 0;
    this.#bounds.forEach((le, i) => {
      acc += this.#counts[i] as number;
      out.push({ labels: { le }, sharedLabels: this.labels, value: acc, metricName: `${name}_bucket`, exemplar: null });
    });
    out.push({ labels: { le: '+Inf' }, sharedLabels: this.labels, value: this.#count, metricName: `${name}_bucket`, exemplar: null });
    out.push({ labels: {}, sharedLabels: this.labels, value: this.#sum, metricName: `${name}_sum`, exemplar: undefined });
    out.push({ labels: {}, sharedLabels: this.labels, value: this.#count, metricName: `${name}_count`, exemplar: undefined });
    return out;
  }
}

interface MetricSample {
  labels: Record<string, string | number>;
  sharedLabels: Readonly<Record<string, string>>;
  value: number;
  metricName: string;
  /** As prom-client leaves it without exemplars: null on buckets, undefined on sum and count. */
  exemplar: null | undefined;
}

/**
 * A histogram whose label sets are bound once (`labels()`), registered with
 * prom-client registries and rendered like prom-client's Histogram.
 */
export class FastHistogram<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #labelNames: readonly L[];
  readonly #bounds: readonly number[];
  readonly #series = new Map<string, HistogramSeries>();

  constructor(o: { name: string; help: string; labelNames: readonly L[]; buckets: readonly number[]; registers: readonly Registry[] }) {
    this.name = o.name;
    this.help = o.help;
    this.#labelNames = o.labelNames;
    this.#bounds = [...o.buckets].sort((a, b) => a - b);
    for (const r of o.registers) r.registerMetric(this as unknown as Metric);
  }

  /** The series of one label set, made on first use; keep it and observe on it. */
  labels(labels: Readonly<Record<L, string>>): HistogramSeries {
    const key = this.#labelNames.map((n) => labels[n]).join('\u0000');
    let series = this.#series.get(key);
    if (series === undefined) {
      series = new HistogramSeries(Object.fromEntries(this.#labelNames.map((n) => [n, labels[n]])), this.#bounds);
      this.#series.set(key, series);
    }
    return series;
  }

  reset(): void {
    this.#series.clear();
  }

  getForPromString(): Promise<{ name: string; help: string; type: string; aggregator: string; values: MetricSample[] }> {
    const values = [...this.#series.values()].flatMap((s) => s.samples(this.name));
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  /** As prom-client's get(): the shared labels merged into each sample's labels. */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Array<{ labels: Record<string, string | number>; value: number; metricName: string; exemplar: null | undefined }> }> {
    const data = await this.getForPromString();
    return { ...data, values: data.values.map(({ sharedLabels, labels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } })) };
  }
}
