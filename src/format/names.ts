/**
 * Metric and label names as Prometheus defines them (the classic character set, which every
 * library writes): what a key in a file may hold, and what the writer and `--label` accept.
 */

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** `[a-zA-Z_:][a-zA-Z0-9_:]*`: a metric or sample name. */
export function isMetricName(name: string): boolean {
  return METRIC_NAME.test(name);
}

/** `[a-zA-Z_][a-zA-Z0-9_]*`: a label name, as a file may hold it. */
export function isLabelName(name: string): boolean {
  return LABEL_NAME.test(name);
}

/** A label name a user may give: not starting with `__`, which Prometheus keeps for itself. */
export function isUserLabelName(name: string): boolean {
  return LABEL_NAME.test(name) && !name.startsWith('__');
}
