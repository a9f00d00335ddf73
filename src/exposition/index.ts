export { formatValue } from './number.js';
export { escapeLabelValue, escapeHelpText, escapeHelpOpenMetrics } from './escape.js';
export { samplePrefix } from './sample-prefix.js';
export { renderText } from './text.js';
export { renderOpenMetrics } from './openmetrics.js';
export { render, contentType, FORMATS, type Format, CONTENT_TYPE_TEXT, CONTENT_TYPE_OPENMETRICS } from './format.js';
export { chooseFormat, acceptsGzip } from './negotiate.js';
