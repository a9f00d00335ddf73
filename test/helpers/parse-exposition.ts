/**
 * A test-only parser of Prometheus text 0.0.4 / OpenMetrics output into comparable samples.
 * Independent of src/ on purpose: it checks our renderer from the outside.
 */

export interface ParsedSample {
  name: string;
  /** Labels sorted by name, `name="value"` pairs with decoded values. */
  labels: [string, string][];
  value: number;
}

export interface ParsedExposition {
  samples: ParsedSample[];
  /** family name (as in the # TYPE line) → type */
  types: Map<string, string>;
  help: Map<string, string>;
  eof: boolean;
}

export function parseValue(text: string): number {
  if (text === '+Inf' || text === 'Inf' || text === 'inf') return Infinity;
  if (text === '-Inf' || text === '-inf') return -Infinity;
  if (text === 'NaN') return NaN;
  const v = Number(text);
  if (Number.isNaN(v)) throw new Error(`not a number: ${text}`);
  return v;
}

function unescape(s: string, extra: boolean): string {
  return s.replace(/\\(.)/g, (m, c: string) => (c === 'n' ? '\n' : c === '\\' ? '\\' : c === '"' && extra ? '"' : m));
}

export function parseExposition(text: string): ParsedExposition {
  const samples: ParsedSample[] = [];
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  let eof = false;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line === '# EOF') {
      eof = true;
      continue;
    }
    let m = /^# (HELP|TYPE) (\S+) ?(.*)$/s.exec(line);
    if (m !== null) {
      if (m[1] === 'TYPE') types.set(m[2]!, m[3]!);
      else help.set(m[2]!, unescape(m[3]!, true));
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/s.exec(line);
    if (m === null) throw new Error(`unparsable line: ${JSON.stringify(line)}`);
    const labels: [string, string][] = [];
    const body = m[2] ?? '';
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gsy;
    let lm: RegExpExecArray | null;
    let consumed = 0;
    while ((lm = re.exec(body)) !== null) {
      labels.push([lm[1]!, unescape(lm[2]!, true)]);
      consumed = re.lastIndex;
    }
    if (consumed !== body.length) throw new Error(`unparsable labels: ${JSON.stringify(line)}`);
    labels.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    samples.push({ name: m[1]!, labels, value: parseValue(m[3]!) });
  }
  return { samples, types, help, eof };
}

/** One sample as a line-like string for set comparison: `name{a="x",b="y"} value`. */
export function sampleKey(s: ParsedSample): string {
  if (s.labels.length === 0) return s.name;
  return `${s.name}{${s.labels.map(([n, v]) => `${n}=${JSON.stringify(v)}`).join(',')}}`;
}

export function sampleLine(s: ParsedSample): string {
  return `${sampleKey(s)} ${Number.isNaN(s.value) ? 'NaN' : String(s.value)}`;
}

/** Samples as sorted `key value` lines (duplicates kept, so duplicate output is visible). */
export function sampleLines(samples: readonly ParsedSample[]): string[] {
  return samples.map(sampleLine).sort();
}
