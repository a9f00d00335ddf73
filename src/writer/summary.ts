import type { Label } from '../format/label.js';
import { Metric, splitArgs, type LabelValues, type MetricConfiguration } from './metric.js';
import type { MetricFile } from './metric-file.js';
import type { WriterSettings } from './settings.js';

export class SummaryChild {
  constructor(
    private readonly file: MetricFile,
    private readonly count: number,
    private readonly sum: number,
  ) {}

  observe(value: number): void {
    if (typeof value !== 'number' || Number.isNaN(value)) throw new TypeError(`summary observation must be a number, got ${String(value)}`);
    const f64 = this.file.f64;
    f64[this.count]! += 1;
    f64[this.sum]! += value;
  }

  startTimer(): () => number {
    const start = process.hrtime.bigint();
    return () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      this.observe(seconds);
      return seconds;
    };
  }
}

/** A summary as in multiprocess mode: `_count` and `_sum` only (no quantiles across processes). */
export class Summary extends Metric<SummaryChild> {
  constructor(config: MetricConfiguration) {
    super(config, ['quantile']);
    this.init();
  }

  observe(labels: LabelValues | number, value?: number): void {
    const [l, v] = splitArgs(labels, value, NaN);
    this.child(l).observe(v);
  }

  startTimer(labels?: LabelValues): () => number {
    return this.child(labels).startTimer();
  }

  protected createChild(labels: readonly Label[], s: WriterSettings): SummaryChild {
    const n = this.name;
    // Python creates _count then _sum; Ruby _sum then _count (byte-identical files).
    const ruby = s.layout === 'ruby';
    const sum0 = ruby ? this.slot('summary', s, n, `${n}_sum`, labels) : null;
    const count = this.slot('summary', s, n, `${n}_count`, labels);
    const sum = sum0 ?? this.slot('summary', s, n, `${n}_sum`, labels);
    return new SummaryChild(count.file, count.at, sum.at);
  }
}
