/**
 * The metric and label names a PromQL expression refers to, for checking that dashboards and
 * alert rules name only what the exporter serves. A lexical reading, not a full parser (promtool
 * checks the syntax): selectors' matchers, grouping clauses, then bare identifiers that are not
 * functions, aggregations or keywords. Grafana's `$variables` are ignored.
 */

export interface PromqlNames {
  readonly metrics: string[];
  /** Label names in matchers and in by/without/on/ignoring/group_left/group_right clauses. */
  readonly labels: string[];
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan', 'atan2']);

export function promqlNames(expr: string): PromqlNames {
  const metrics = new Set<string>();
  const labels = new Set<string>();
  let rest = expr.replace(/([A-Za-z_:][\w:]*)?\s*\{((?:[^}"]|"(?:[^"\\]|\\.)*")*)\}/g, (_m, name: string | undefined, matchers: string) => {
    for (const m of matchers.matchAll(/([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"/g)) labels.add(m[1]!);
    return name === undefined ? ' ' : ` ${name} `;
  });
  rest = rest.replace(/\[[^\]]*\]/g, ' ');
  rest = rest.replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_m, list: string) => {
    for (const l of list.split(',')) if (l.trim() !== '') labels.add(l.trim());
    return ' ';
  });
  rest = rest.replace(/\boffset\s+-?[\dsmhdwy]+/g, ' ').replace(/"(?:[^"\\]|\\.)*"/g, ' ').replace(/\$\{?\w+\}?/g, ' ');
  for (const m of rest.matchAll(/(?<![\w.:])[A-Za-z_:][\w:]*/g)) {
    const after = rest.slice(m.index + m[0].length).trimStart();
    if (after.startsWith('(') || KEYWORDS.has(m[0].toLowerCase())) continue;
    metrics.add(m[0]);
  }
  return { metrics: [...metrics].sort(), labels: [...labels].sort() };
}

/** Grafana's `label_values(<selector>, <label>)` variable query as the expression and the label. */
export function labelValuesQuery(query: string): { expr: string; label: string } | null {
  const m = /^label_values\((.+),\s*([A-Za-z_]\w*)\s*\)$/.exec(query.trim());
  return m === null ? null : { expr: m[1]!, label: m[2]! };
}
