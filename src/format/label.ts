/**
 * A label as every layer holds it: a name and its decoded value. Keys decode into labels, the
 * writer encodes labels into keys, merge and exposition carry them through.
 */

/** One label: [name, value]. Value is the decoded Unicode string (never JSON-escaped). */
export type Label = readonly [name: string, value: string];

/** Orders labels by name (code unit order, as the libraries' sorted keys): for `Array.sort`. */
export function compareLabelNames(a: Label, b: Label): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}
