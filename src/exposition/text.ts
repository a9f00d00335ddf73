import type { MetricFamily, MetricType } from '../merge/model.js';
import { escapeHelpText } from './escape.js';
import { formatValue } from './number.js';
import { samplePrefix } from './sample-prefix.js';

const TEXT_TYPE: Record<MetricType, string> = {
  counter: 'counter',
  gauge: 'gauge',
  histogram: 'histogram',
  summary: 'summary',
  unknown: 'untyped',
};

/** Name used on HELP/TYPE lines; 0.0.4 parsers require it to equal a counter's sample name. */
function headerName(family: MetricFamily): string {
  if (family.type !== 'counter' || family.samples.length === 0) return family.name;
  const total = `${family.name}_total`;
  for (const s of family.samples) if (s.name !== total) return family.name;
  return total;
}

/** Renders Prometheus text exposition format 0.0.4. */
export function renderText(families: readonly MetricFamily[]): string {
  let out = '';
  for (const family of families) {
    const name = headerName(family);
    out += `# HELP ${name} ${escapeHelpText(family.help)}\n# TYPE ${name} ${TEXT_TYPE[family.type]}\n`;
    for (const sample of family.samples) {
      out += samplePrefix(sample) + formatValue(sample.value) + '\n';
    }
  }
  return out;
}
