/** The exposition formats: each one's name, renderer and Content-Type, chosen in this one place. */
import type { MetricFamily } from '../merge/model.js';
import { renderOpenMetrics } from './openmetrics.js';
import { renderText } from './text.js';

/** `text`: Prometheus text format 0.0.4; `openmetrics`: OpenMetrics 1.0.0. */
export const FORMATS = ['text', 'openmetrics'] as const;
export type Format = (typeof FORMATS)[number];

export const CONTENT_TYPE_TEXT = 'text/plain; version=0.0.4; charset=utf-8';
export const CONTENT_TYPE_OPENMETRICS = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

export function contentType(format: Format): string {
  return format === 'openmetrics' ? CONTENT_TYPE_OPENMETRICS : CONTENT_TYPE_TEXT;
}

export function render(format: Format, families: readonly MetricFamily[]): string {
  return format === 'openmetrics' ? renderOpenMetrics(families) : renderText(families);
}
