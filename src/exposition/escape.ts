/** Escaping for label values and HELP text in text 0.0.4 and OpenMetrics 1.0. */

const LABEL_SPECIAL = /[\\"\n]/;
const LABEL_SPECIAL_G = /[\\"\n]/g;
const HELP_SPECIAL = /[\\\n]/;
const HELP_SPECIAL_G = /[\\\n]/g;

function escapeChar(c: string): string {
  return c === '\n' ? '\\n' : `\\${c}`;
}

/** `\` → `\\`, `"` → `\"`, LF → `\n`; everything else (TAB, CR, non-ASCII) stays raw. Same in both formats. */
export function escapeLabelValue(s: string): string {
  return LABEL_SPECIAL.test(s) ? s.replace(LABEL_SPECIAL_G, escapeChar) : s;
}

/** Text 0.0.4 HELP: only `\` and LF are escaped (a `"` stays raw). */
export function escapeHelpText(s: string): string {
  return HELP_SPECIAL.test(s) ? s.replace(HELP_SPECIAL_G, escapeChar) : s;
}

/** OpenMetrics HELP is an escaped-string, like a label value: `\`, LF and `"` are escaped. */
export function escapeHelpOpenMetrics(s: string): string {
  return escapeLabelValue(s);
}
