/**
 * The worker-side library: prom-client-shaped metrics whose values live in this process's
 * memory-mapped `.db` files, merged and served by the multiproc-exporter daemon.
 *
 *   import { Counter, configure } from 'multiproc-exporter/writer';
 *   configure({ dir: process.env.PROMETHEUS_MULTIPROC_DIR, processId: cluster.worker?.id });
 *   const requests = new Counter({ name: 'http_requests_total', help: 'Requests.', labelNames: ['code'] });
 *   requests.inc({ code: 200 });
 */
import { configure as configureSettings, type WriterOptions } from './settings.js';
import { startHeartbeat } from './heartbeat.js';

export { WriterConfigError, type WriterOptions } from './settings.js';
/** The `layout` option's values: the dialect the files are written in. */
export type { Dialect as Layout } from '../format/dialect.js';
export { heartbeat, stopHeartbeat } from './heartbeat.js';

/**
 * Where and how this process writes; call before the first metric is written. With
 * `heartbeatSeconds`, the heartbeat starts now (and so do the files).
 */
export function configure(options: WriterOptions): void {
  configureSettings(options);
  if (options.heartbeatSeconds !== undefined) startHeartbeat(options.heartbeatSeconds);
}
export { Counter, CounterChild } from './counter.js';
export { Gauge, GaugeChild, type GaugeConfiguration } from './gauge.js';
export { Histogram, HistogramChild, DEFAULT_BUCKETS, type HistogramConfiguration } from './histogram.js';
export { Summary, SummaryChild } from './summary.js';
export type { LabelValues, MetricConfiguration } from './metric.js';
export type { GaugeMode } from '../format/filename.js';
