/**
 * Programmatic API: read a metrics directory and render its merged exposition.
 *
 *   const collector = new Collector('/run/metrics');
 *   const { families, skipped } = collector.collect();
 *   process.stdout.write(renderText(families));
 */
export { Collector, type Collection } from './collector.js';
export { Directory, DirectoryError, type ScanResult, type SkippedFile } from './reader/directory.js';
export { MappedFile, type SkipReason } from './reader/mapped-file.js';
export { Merger, type MergeProblem } from './merge/merger.js';
export type { Label, MetricFamily, MetricType, Sample } from './merge/model.js';
export { renderText, renderOpenMetrics } from './exposition/index.js';
