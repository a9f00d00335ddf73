/** Content negotiation for the /metrics endpoint (Accept and Accept-Encoding). */
import type { Format } from './format.js';

interface MediaRange {
  /** Lower-cased `type/subtype`, e.g. `text/plain`, `*\/*`. */
  readonly type: string;
  /** Lower-cased parameter names; values unquoted. `q` is removed and held in `q`. */
  readonly params: ReadonlyMap<string, string>;
  readonly q: number;
}

/** Splits on `sep` outside double-quoted strings (parameter values may be quoted). */
function splitUnquoted(s: string, sep: string): string[] {
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"') quoted = !quoted;
    else if (c === '\\' && quoted) i++;
    else if (c === sep && !quoted) {
      parts.push(s.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(s.slice(start));
  return parts;
}

function unquote(v: string): string {
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1).replace(/\\(.)/g, '$1') : v;
}

/** q-value in [0, 1]; a malformed q makes the range unacceptable (0). */
function parseQ(v: string): number {
  const q = Number(v);
  return v !== '' && Number.isFinite(q) ? Math.min(Math.max(q, 0), 1) : 0;
}

function parseList(header: string): MediaRange[] {
  const ranges: MediaRange[] = [];
  for (const part of splitUnquoted(header, ',')) {
    const [typePart = '', ...paramParts] = splitUnquoted(part, ';');
    const type = typePart.trim().toLowerCase();
    if (type === '') continue;
    const params = new Map<string, string>();
    let q = 1;
    for (const p of paramParts) {
      const eq = p.indexOf('=');
      if (eq < 0) continue;
      const key = p.slice(0, eq).trim().toLowerCase();
      const value = unquote(p.slice(eq + 1).trim());
      if (key === 'q') q = parseQ(value);
      else params.set(key, value);
    }
    ranges.push({ type, params, q });
  }
  return ranges;
}

/** Highest q among matching ranges, or undefined when none is listed. */
function maxQ(ranges: readonly MediaRange[], match: (r: MediaRange) => boolean): number | undefined {
  let best: number | undefined;
  for (const r of ranges) if (match(r) && (best === undefined || r.q > best)) best = r.q;
  return best;
}

/**
 * OpenMetrics only when `application/openmetrics-text` is listed explicitly (version 1.0.0 or none)
 * with q > 0 and no less than text/plain's q (most specific of text/plain, text/*, *\/*). Default text.
 */
export function chooseFormat(accept: string | undefined): Format {
  if (accept === undefined) return 'text';
  const ranges = parseList(accept);
  const isOm = (r: MediaRange): boolean => r.type === 'application/openmetrics-text';
  // An explicit version=1.0.0 range is more specific than an unversioned one, so it decides.
  const omQ =
    maxQ(ranges, (r) => isOm(r) && r.params.get('version') === '1.0.0') ??
    maxQ(ranges, (r) => isOm(r) && !r.params.has('version')) ??
    0;
  if (omQ <= 0) return 'text';
  const textQ =
    maxQ(ranges, (r) => r.type === 'text/plain') ??
    maxQ(ranges, (r) => r.type === 'text/*') ??
    maxQ(ranges, (r) => r.type === '*/*') ??
    0;
  return omQ >= textQ ? 'openmetrics' : 'text';
}

/** True when gzip (or `x-gzip`) is listed with q > 0, or, when it is not listed, `*` is with q > 0. */
export function acceptsGzip(acceptEncoding: string | undefined): boolean {
  if (acceptEncoding === undefined) return false;
  const codings = parseList(acceptEncoding);
  const gzipQ = maxQ(codings, (c) => c.type === 'gzip' || c.type === 'x-gzip');
  const q = gzipQ ?? maxQ(codings, (c) => c.type === '*') ?? 0;
  return q > 0;
}
