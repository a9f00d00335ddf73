import { pythonBound, rubyBound } from '../format/bound.js';
import type { Label } from '../format/label.js';
import { Metric, splitArgs, withLabel, type LabelValues, type MetricConfiguration } from './metric.js';
import type { MetricFile } from './metric-file.js';
import type { WriterSettings } from './settings.js';

/** prom-client's default buckets. */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface HistogramConfiguration extends MetricConfiguration {
  /** Upper bounds, increasing; `+Inf` is added. Default: prom-client's. */
  buckets?: readonly number[];
}

export class HistogramChild {
  constructor(
    private readonly file: MetricFile,
    private readonly bounds: Float64Array,
    /** Value index per bound (the last bound is +Inf). */
    private readonly buckets: Int32Array,
    private readonly sum: number,
    /** Ruby stores `_count` and cumulative buckets; Python neither (docs/FORMAT.md §4). */
    private readonly count: number,
    private readonly cumulative: boolean,
  ) {}

  observe(value: number): void {
    if (typeof value !== 'number' || Number.isNaN(value)) throw new TypeError(`histogram observation must be a number, got ${String(value)}`);
    const f64 = this.file.f64;
    const bounds = this.bounds;
    let i = 0;
    while (value > bounds[i]!) i++; // the last bound is +Inf: always stops
    if (this.cumulative) {
      for (let j = i; j < bounds.length; j++) f64[this.buckets[j]!]! += 1;
      f64[this.count]! += 1;
    } else {
      f64[this.buckets[i]!]! += 1;
    }
    f64[this.sum]! += value;
  }

  /** Observes the seconds elapsed when the returned function is called. */
  startTimer(): () => number {
    const start = process.hrtime.bigint();
    return () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      this.observe(seconds);
      return seconds;
    };
  }
}

export class Histogram extends Metric<HistogramChild> {
  readonly buckets: readonly number[];
  private readonly bounds: Float64Array;

  constructor(config: HistogramConfiguration) {
    super(config, ['le']);
    const buckets = [...(config.buckets ?? DEFAULT_BUCKETS)];
    for (let i = 0; i < buckets.length; i++) {
      const b = buckets[i]!;
      if (typeof b !== 'number' || Number.isNaN(b)) throw new TypeError(`histogram ${this.name}: bucket ${String(b)} is not a number`);
      if (i > 0 && !(b > buckets[i - 1]!)) throw new TypeError(`histogram ${this.name}: buckets must be strictly increasing`);
    }
    if (buckets[buckets.length - 1] !== Infinity) buckets.push(Infinity);
    this.buckets = buckets;
    this.bounds = Float64Array.from(buckets);
    this.init();
  }

  observe(labels: LabelValues | number, value?: number): void {
    const [l, v] = splitArgs(labels, value, NaN);
    this.child(l).observe(v);
  }

  startTimer(labels?: LabelValues): () => number {
    return this.child(labels).startTimer();
  }

  protected createChild(labels: readonly Label[], s: WriterSettings): HistogramChild {
    const ruby = s.layout === 'ruby';
    const n = this.name;
    const bucket = (i: number): number => {
      const le = ruby ? rubyBound(this.bounds[i]!) : pythonBound(this.bounds[i]!, s.layout === 'python-legacy');
      return this.slot('histogram', s, n, `${n}_bucket`, withLabel(labels, 'le', le)).at;
    };
    // Entries in the order each library creates them, so files match theirs byte for byte:
    // Python _sum, then the buckets; Ruby _sum, _count, the +Inf bucket, then the others.
    const last = this.bounds.length - 1;
    const sum = this.slot('histogram', s, n, `${n}_sum`, labels);
    const count = ruby ? this.slot('histogram', s, n, `${n}_count`, labels).at : -1;
    const buckets = new Int32Array(this.bounds.length);
    if (ruby) buckets[last] = bucket(last);
    for (let i = 0; i < (ruby ? last : last + 1); i++) buckets[i] = bucket(i);
    return new HistogramChild(sum.file, this.bounds, buckets, sum.at, count, ruby);
  }
}
