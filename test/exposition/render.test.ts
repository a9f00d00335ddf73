import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Label, MetricFamily, MetricType, Sample } from '../../src/merge/model.js';
import {
  CONTENT_TYPE_OPENMETRICS,
  CONTENT_TYPE_TEXT,
  acceptsGzip,
  chooseFormat,
  escapeHelpOpenMetrics,
  escapeHelpText,
  escapeLabelValue,
  formatValue,
  renderOpenMetrics,
  renderText,
  samplePrefix,
} from '../../src/exposition/index.js';

const s = (name: string, value: number, labels: Label[] = []): Sample => ({ name, labels, value });
const fam = (name: string, type: MetricType, samples: Sample[], help = 'Multiprocess metric'): MetricFamily => ({
  name,
  type,
  help,
  samples,
});

/** Fresh objects per call: the renderers memoise into samples. */
function families(): MetricFamily[] {
  return [
    fam('http_requests', 'counter', [
      s('http_requests_total', 3, [['method', 'GET']]),
      s('http_requests_total', 1, [['method', 'POST']]),
    ], 'Requests served.'),
    fam('jobs', 'counter', [s('jobs', 7)], 'Ruby counter without _total.'),
    fam('temperature', 'gauge', [s('temperature', -0)], 'A gauge.'),
    fam('latency_seconds', 'histogram', [
      s('latency_seconds_bucket', 1, [['le', '0.1']]),
      s('latency_seconds_bucket', 3, [['le', '+Inf']]),
      s('latency_seconds_count', 3),
      s('latency_seconds_sum', 0.5),
    ], 'Latency.'),
    fam('rpc_seconds', 'summary', [
      s('rpc_seconds', 0.25, [['quantile', '0.5']]),
      s('rpc_seconds_count', 4),
      s('rpc_seconds_sum', 1.5),
    ], 'RPC.'),
    fam('misc', 'unknown', [s('misc', 12345678901)], 'Untyped.'),
  ];
}

const EXPECTED_TEXT =
  '# HELP http_requests_total Requests served.\n' +
  '# TYPE http_requests_total counter\n' +
  'http_requests_total{method="GET"} 3\n' +
  'http_requests_total{method="POST"} 1\n' +
  '# HELP jobs Ruby counter without _total.\n' +
  '# TYPE jobs counter\n' +
  'jobs 7\n' +
  '# HELP temperature A gauge.\n' +
  '# TYPE temperature gauge\n' +
  'temperature -0\n' +
  '# HELP latency_seconds Latency.\n' +
  '# TYPE latency_seconds histogram\n' +
  'latency_seconds_bucket{le="0.1"} 1\n' +
  'latency_seconds_bucket{le="+Inf"} 3\n' +
  'latency_seconds_count 3\n' +
  'latency_seconds_sum 0.5\n' +
  '# HELP rpc_seconds RPC.\n' +
  '# TYPE rpc_seconds summary\n' +
  'rpc_seconds{quantile="0.5"} 0.25\n' +
  'rpc_seconds_count 4\n' +
  'rpc_seconds_sum 1.5\n' +
  '# HELP misc Untyped.\n' +
  '# TYPE misc untyped\n' +
  'misc 12345678901\n';

const EXPECTED_OM =
  '# TYPE http_requests counter\n' +
  '# HELP http_requests Requests served.\n' +
  'http_requests_total{method="GET"} 3\n' +
  'http_requests_total{method="POST"} 1\n' +
  '# TYPE jobs unknown\n' +
  '# HELP jobs Ruby counter without _total.\n' +
  'jobs 7\n' +
  '# TYPE temperature gauge\n' +
  '# HELP temperature A gauge.\n' +
  'temperature -0\n' +
  '# TYPE latency_seconds histogram\n' +
  '# HELP latency_seconds Latency.\n' +
  'latency_seconds_bucket{le="0.1"} 1\n' +
  'latency_seconds_bucket{le="+Inf"} 3\n' +
  'latency_seconds_count 3\n' +
  'latency_seconds_sum 0.5\n' +
  '# TYPE rpc_seconds summary\n' +
  '# HELP rpc_seconds RPC.\n' +
  'rpc_seconds{quantile="0.5"} 0.25\n' +
  'rpc_seconds_count 4\n' +
  'rpc_seconds_sum 1.5\n' +
  '# TYPE misc unknown\n' +
  '# HELP misc Untyped.\n' +
  'misc 12345678901\n' +
  '# EOF\n';

/** Label values and help exercising every escaping rule. */
function escapingFamilies(): MetricFamily[] {
  return [
    fam('esc', 'gauge', [
      s('esc', 1, [['a', 'back\\slash'], ['b', 'say "hi"'], ['c', 'two\nlines'], ['d', 'tab\there'], ['e', 'héllo ☃']]),
    ], 'Help with \\ backslash,\nnewline and "quotes".'),
  ];
}

describe('formatValue', () => {
  it.each([
    [Infinity, '+Inf'],
    [-Infinity, '-Inf'],
    [NaN, 'NaN'],
    [-0, '-0'],
    [0, '0'],
    [1, '1'],
    [0.1, '0.1'],
    [1e21, '1e+21'],
    [1e-7, '1e-7'],
    [5e-324, '5e-324'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
    [12345678901, '12345678901'],
  ])('formats %s as %s', (v, expected) => {
    expect(formatValue(v)).toBe(expected);
  });
});

describe('escaping', () => {
  it('escapes label values: backslash, quote, newline; leaves tab, CR, U+2028 and non-ASCII raw', () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    expect(escapeLabelValue('t\tr\r\u2028é')).toBe('t\tr\r\u2028é');
  });

  it('returns the same string when nothing needs escaping', () => {
    const plain = 'nothing special here';
    expect(escapeLabelValue(plain)).toBe(plain);
    expect(escapeHelpText(plain)).toBe(plain);
    expect(escapeHelpOpenMetrics(plain)).toBe(plain);
  });

  it('escapes help per format: text leaves quotes raw, OpenMetrics escapes them', () => {
    expect(escapeHelpText('a\\b\n"c"')).toBe('a\\\\b\\n"c"');
    expect(escapeHelpOpenMetrics('a\\b\n"c"')).toBe('a\\\\b\\n\\"c\\"');
  });

  it('renders escaped labels and help in text 0.0.4', () => {
    expect(renderText(escapingFamilies())).toBe(
      '# HELP esc Help with \\\\ backslash,\\nnewline and "quotes".\n' +
        '# TYPE esc gauge\n' +
        'esc{a="back\\\\slash",b="say \\"hi\\"",c="two\\nlines",d="tab\there",e="héllo ☃"} 1\n',
    );
  });

  it('renders escaped labels and help in OpenMetrics', () => {
    expect(renderOpenMetrics(escapingFamilies())).toBe(
      '# TYPE esc gauge\n' +
        '# HELP esc Help with \\\\ backslash,\\nnewline and \\"quotes\\".\n' +
        'esc{a="back\\\\slash",b="say \\"hi\\"",c="two\\nlines",d="tab\there",e="héllo ☃"} 1\n' +
        '# EOF\n',
    );
  });
});

describe('renderText', () => {
  it('renders every family type exactly', () => {
    expect(renderText(families())).toBe(EXPECTED_TEXT);
  });

  it('renders nothing for no families', () => {
    expect(renderText([])).toBe('');
  });

  it('renders special values', () => {
    const f = [fam('g', 'gauge', [s('g', Infinity, [['k', 'a']]), s('g', -Infinity, [['k', 'b']]), s('g', NaN, [['k', 'c']]), s('g', 1e21, [['k', 'd']]), s('g', 5e-324, [['k', 'e']])])];
    expect(renderText(f)).toBe(
      '# HELP g Multiprocess metric\n# TYPE g gauge\n' +
        'g{k="a"} +Inf\ng{k="b"} -Inf\ng{k="c"} NaN\ng{k="d"} 1e+21\ng{k="e"} 5e-324\n',
    );
  });
});

describe('renderOpenMetrics', () => {
  it('renders every family type exactly, counters by family name, ending in # EOF', () => {
    expect(renderOpenMetrics(families())).toBe(EXPECTED_OM);
  });

  it('renders only # EOF for no families', () => {
    expect(renderOpenMetrics([])).toBe('# EOF\n');
  });
});

describe('sample prefix memo', () => {
  it('sets sample.exposition on first render and reuses it', () => {
    const fs = families();
    const first = fs[0]!.samples[0]!;
    expect(first.exposition).toBeUndefined();
    const a = renderText(fs);
    expect(first.exposition).toBe('http_requests_total{method="GET"} ');
    expect(renderText(fs)).toBe(a);
    expect(renderOpenMetrics(fs)).toBe(EXPECTED_OM);
    expect(samplePrefix(s('bare', 0))).toBe('bare ');
  });

  it('uses the memo rather than recomputing it', () => {
    const sample = s('m', 2, [['k', 'v']]);
    sample.exposition = 'memoised{x="y"} ';
    expect(renderText([fam('m', 'gauge', [sample])])).toContain('memoised{x="y"} 2\n');
  });

  it('picks up value changes between renders', () => {
    const fs = families();
    renderText(fs);
    fs[1]!.samples[0]!.value = 8;
    expect(renderText(fs)).toContain('jobs 8\n');
  });
});

describe('chooseFormat', () => {
  const PROMETHEUS_ACCEPT =
    'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,' +
    'text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2';

  it.each<[string | undefined, 'text' | 'openmetrics']>([
    ['application/openmetrics-text; version=1.0.0', 'openmetrics'],
    ['application/openmetrics-text', 'openmetrics'],
    ['application/openmetrics-text; version="1.0.0"; charset=utf-8', 'openmetrics'],
    ['Application/OpenMetrics-Text; Version=1.0.0', 'openmetrics'],
    ['application/openmetrics-text;version=0.0.1;q=0.5,text/plain;q=0.4', 'text'],
    ['text/plain;version=0.0.4', 'text'],
    ['*/*', 'text'],
    [undefined, 'text'],
    ['', 'text'],
    ['application/openmetrics-text;q=0', 'text'],
    ['application/openmetrics-text;q=0.3,text/plain;q=0.9', 'text'],
    ['application/openmetrics-text;q=0.5,*/*', 'text'],
    ['application/openmetrics-text,text/plain', 'openmetrics'],
    ['application/openmetrics-text;version=1.0.0;q=0,application/openmetrics-text;q=1', 'text'],
    [PROMETHEUS_ACCEPT, 'openmetrics'],
  ])('%s → %s', (accept, expected) => {
    expect(chooseFormat(accept)).toBe(expected);
  });

  it('exposes the content types', () => {
    expect(CONTENT_TYPE_TEXT).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(CONTENT_TYPE_OPENMETRICS).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
  });
});

describe('acceptsGzip', () => {
  it.each<[string | undefined, boolean]>([
    ['gzip', true],
    ['gzip, deflate, br', true],
    ['br;q=1.0, GZIP;q=0.5', true],
    ['x-gzip', true],
    ['*', true],
    ['*;q=0.1', true],
    ['gzip;q=0', false],
    ['gzip;q=0, *', false],
    ['*;q=0', false],
    ['identity', false],
    ['deflate, br', false],
    ['', false],
    [undefined, false],
  ])('%s → %s', (header, expected) => {
    expect(acceptsGzip(header)).toBe(expected);
  });
});

describe('promtool check metrics', () => {
  const PROMTOOL = '/usr/bin/promtool';
  const present = existsSync(PROMTOOL);
  const ci = process.env['CI'] === 'true';

  it('promtool is available when running under CI', () => {
    if (!present && !ci) console.warn(`promtool check skipped: ${PROMTOOL} not found (install Debian's prometheus package)`);
    expect(present || !ci).toBe(true);
  });

  it.skipIf(!present)('accepts renderText output', () => {
    const text = renderText([...families(), ...escapingFamilies()]);
    const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(r.error).toBeUndefined();
    expect(r.stderr + r.stdout).not.toMatch(/error while linting|parse|text format parsing error/i);
    expect([0, 3]).toContain(r.status);
  });
});
