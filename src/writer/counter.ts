import type { Label } from '../format/label.js';
import { Metric, splitArgs, type LabelValues, type MetricConfiguration } from './metric.js';
import type { MetricFile } from './metric-file.js';
import type { WriterSettings } from './settings.js';

export class CounterChild {
  constructor(
    private readonly file: MetricFile,
    private readonly at: number,
  ) {}

  /** Add `value` (default 1); counters never go down. The hot path: one store into the mapping. */
  inc(value = 1): void {
    if (!(value >= 0)) throw new RangeError(`counter increment must be a non-negative number, got ${value}`);
    this.file.f64[this.at]! += value;
  }
}

/** A counter: Python keys (`name`, `name_total`) or Ruby keys (`name`, `name`), docs/FORMAT.md §4. */
export class Counter extends Metric<CounterChild> {
  constructor(config: MetricConfiguration) {
    super(config);
    this.init();
  }

  inc(labels?: LabelValues | number, value?: number): void {
    const [l, v] = splitArgs(labels, value, 1);
    this.child(l).inc(v);
  }

  protected createChild(labels: readonly Label[], s: WriterSettings): CounterChild {
    if (s.layout === 'ruby') {
      const { file, at } = this.slot('counter', s, this.name, this.name, labels);
      return new CounterChild(file, at);
    }
    // prometheus_client strips `_total` from the name and writes the sample `<name>_total`.
    const base = this.name.endsWith('_total') ? this.name.slice(0, -6) : this.name;
    const { file, at } = this.slot('counter', s, base, `${base}_total`, labels);
    return new CounterChild(file, at);
  }
}
