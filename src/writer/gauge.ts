import type { Dialect } from '../format/dialect.js';
import type { GaugeMode } from '../format/filename.js';
import type { Label } from '../format/label.js';
import { Metric, splitArgs, type LabelValues, type MetricConfiguration } from './metric.js';
import type { MetricFile } from './metric-file.js';
import type { WriterSettings } from './settings.js';

/** The gauge modes each library's reader knows (docs/FORMAT.md §1, §5, §7). */
const MODES: Record<Dialect, readonly GaugeMode[]> = {
  python: ['all', 'liveall', 'min', 'livemin', 'max', 'livemax', 'sum', 'livesum', 'mostrecent', 'livemostrecent'],
  'python-legacy': ['all', 'liveall', 'min', 'livemin', 'max', 'livemax', 'sum', 'livesum'],
  ruby: ['all', 'liveall', 'min', 'max', 'livesum'],
};

export interface GaugeConfiguration extends MetricConfiguration {
  /** How the exporter merges processes: one series per process (`all`, the default, as in Python), min, max, sum, mostrecent, or a `live` variant. */
  multiprocessMode?: GaugeMode;
}

export class GaugeChild {
  constructor(
    private readonly file: MetricFile,
    private readonly at: number,
    /** mostrecent modes in the python layout: every set() stores its time (docs/FORMAT.md §3). */
    private readonly timestamped: boolean,
  ) {}

  inc(value = 1): void {
    checkNumber(value);
    this.file.f64[this.at]! += value;
    if (this.timestamped) this.file.f64[this.at + 1] = 0; // as prometheus_client: inc() clears the timestamp
  }

  dec(value = 1): void {
    this.inc(-value);
  }

  set(value: number): void {
    checkNumber(value);
    const f64 = this.file.f64;
    f64[this.at] = value;
    if (this.timestamped) f64[this.at + 1] = Date.now() / 1000;
  }

  setToCurrentTime(): void {
    this.set(Date.now() / 1000);
  }

  /** Sets the gauge to the seconds elapsed when the returned function is called. */
  startTimer(): () => number {
    const start = process.hrtime.bigint();
    return () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      this.set(seconds);
      return seconds;
    };
  }
}

function checkNumber(value: number): void {
  if (typeof value !== 'number' || Number.isNaN(value)) throw new TypeError(`gauge value must be a number, got ${String(value)}`);
}

export class Gauge extends Metric<GaugeChild> {
  readonly multiprocessMode: GaugeMode;

  constructor(config: GaugeConfiguration) {
    super(config);
    this.multiprocessMode = config.multiprocessMode ?? 'all';
    if (!MODES.python.includes(this.multiprocessMode)) {
      throw new TypeError(`gauge ${this.name}: multiprocessMode ${JSON.stringify(config.multiprocessMode)} is not one of ${MODES.python.join(', ')}`);
    }
    this.init();
  }

  inc(labels?: LabelValues | number, value?: number): void {
    const [l, v] = splitArgs(labels, value, 1);
    this.child(l).inc(v);
  }

  dec(labels?: LabelValues | number, value?: number): void {
    const [l, v] = splitArgs(labels, value, 1);
    this.child(l).dec(v);
  }

  set(labels: LabelValues | number, value?: number): void {
    const [l, v] = splitArgs(labels, value, NaN);
    this.child(l).set(v);
  }

  setToCurrentTime(labels?: LabelValues): void {
    this.child(labels).setToCurrentTime();
  }

  startTimer(labels?: LabelValues): () => number {
    return this.child(labels).startTimer();
  }

  protected createChild(labels: readonly Label[], s: WriterSettings): GaugeChild {
    const mode = this.multiprocessMode;
    if (!MODES[s.layout].includes(mode)) {
      throw new TypeError(`gauge ${this.name}: multiprocessMode ${mode} is not supported by the ${s.layout} layout's reader (${MODES[s.layout].join(', ')})`);
    }
    const { file, at } = this.slot(`gauge_${mode}`, s, this.name, this.name, labels);
    return new GaugeChild(file, at, file.slot === 16 && mode.endsWith('mostrecent'));
  }
}
