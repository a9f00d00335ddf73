export { formatValue } from './number.js';
export { escapeLabelValue, escapeHelpText, escapeHelpOpenMetrics } from './escape.js';
export { samplePrefix } from './sample-prefix.js';
export { renderText } from './text.js';
export { renderOpenMetrics } from './openmetrics.js';
export { chooseFormat, acceptsGzip, CONTENT_TYPE_TEXT, CONTENT_TYPE_OPENMETRICS } from './negotiate.js';
