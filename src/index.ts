/**
 * Programmatic API: read a metrics directory and render its merged exposition.
 *
 *   const collector = new Collector('/run/metrics');
 *   const { families, skipped } = collector.collect();
 *   process.stdout.write(renderText(families));
 *
 * and supervise the daemon from a Node cluster primary:
 *
 *   const exporter = await startExporter({ dir: '/run/metrics', listen: ':9798', wipeDirectory: true });
 */
export { Collector, type Collection } from './collector.js';
export { Directory, DirectoryError, type ScanResult, type SkippedFile } from './reader/directory.js';
export { MappedFile, type SkipReason } from './reader/mapped-file.js';
export { Merger, type MergeInput, type MergeProblem } from './merge/merger.js';
export type { Label } from './format/label.js';
export type { MetricFamily, MetricType, Sample } from './merge/model.js';
export { renderText, renderOpenMetrics } from './exposition/index.js';
export {
  startExporter,
  DaemonStartError,
  type Exporter,
  type ExporterEvents,
  type ExitEvent,
  type RestartEvent,
  type RestartOptions,
  type StartExporterOptions,
  type LogSource,
  type LogTarget,
  type ProcessExit,
} from './supervisor/start-exporter.js';
