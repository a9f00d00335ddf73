import type { MetricFamily, MetricType } from '../merge/model.js';
import { escapeHelpOpenMetrics } from './escape.js';
import { formatValue } from './number.js';
import { samplePrefix } from './sample-prefix.js';

/** OM counters must expose `<name>_total` samples; anything else is typed `unknown` to stay valid. */
function omType(family: MetricFamily): MetricType {
  if (family.type !== 'counter') return family.type;
  const expected = `${family.name}_total`;
  for (const s of family.samples) if (s.name !== expected) return 'unknown';
  return 'counter';
}

/** Renders OpenMetrics 1.0.0 text, terminated by `# EOF`. */
export function renderOpenMetrics(families: readonly MetricFamily[]): string {
  let out = '';
  for (const family of families) {
    const name = family.name;
    out += `# TYPE ${name} ${omType(family)}\n# HELP ${name} ${escapeHelpOpenMetrics(family.help)}\n`;
    for (const sample of family.samples) {
      out += samplePrefix(sample) + formatValue(sample.value) + '\n';
    }
  }
  return out + '# EOF\n';
}
