/** The exposition gate: what a strict parser would reject is left out, with its reason; the rest is served. */
import { describe, expect, it } from 'vitest';
import { ExpositionGate } from '../../src/exposition/gate.js';
import { renderText } from '../../src/exposition/index.js';
import type { Label, MetricFamily, MetricType, Sample } from '../../src/merge/model.js';

function sample(name: string, labels: Record<string, string> | [string, string][] = {}, value = 1): Sample {
  const l: Label[] = Array.isArray(labels) ? labels : Object.entries(labels);
  return { name, labels: l, value };
}

function family(name: string, type: MetricType, samples: Sample[], help = 'h'): MetricFamily {
  return { name, type, help, samples };
}

const gate = () => new ExpositionGate();

describe('families that pass', () => {
  it('returns the very same list when nothing is left out', () => {
    const families = [
      family('c', 'counter', [sample('c_total', { a: '1' })]),
      family('g', 'gauge', [sample('g', { pid: '1' })]),
      family('h', 'histogram', [sample('h_bucket', { le: '0.5' }), sample('h_bucket', { le: '+Inf' }), sample('h_count'), sample('h_sum')]),
      family('r', 'counter', [sample('r')]), // a Ruby counter without _total
      family('s', 'summary', [sample('s_count'), sample('s_sum')]),
    ];
    const g = gate();
    expect(g.admit(families)).toBe(families);
    expect(g.rejections).toEqual([]);
  });
});

describe('series left out', () => {
  it.each([
    ['__name__', 'reserved_label_name', 'series g{__name__="x"} of gauge family g has the reserved label name __name__ (names starting with __ are Prometheus\' own); left out, other series served'],
    ['__meta_x', 'reserved_label_name', 'series g{__meta_x="x"} of gauge family g has the reserved label name __meta_x (names starting with __ are Prometheus\' own); left out, other series served'],
    ['1abc', 'bad_label_name', 'series g{1abc="x"} of gauge family g has an invalid label name "1abc"; left out, other series served'],
  ])('a label named %s: %s', (name, reason, message) => {
    const good = sample('g', { a: '1' });
    const families = [family('g', 'gauge', [sample('g', [[name, 'x']]), good])];
    const g = gate();
    const out = g.admit(families);
    expect(out.map((f) => [f.name, f.samples])).toEqual([['g', [good]]]);
    expect(g.rejections).toEqual([{ reason, family: 'g', series: `g{${name}="x"}`, message }]);
  });

  it('a label twice (a user pid and exported_pid made into two exported_pid): duplicate_label_name', () => {
    const families = [family('g', 'gauge', [sample('g', [['exported_pid', '1'], ['exported_pid', '2'], ['pid', '3']])])];
    const g = gate();
    expect(g.admit(families)).toEqual([]);
    expect(g.rejections.map((r) => [r.reason, r.series])).toEqual([['duplicate_label_name', 'g{exported_pid="1",exported_pid="2",pid="3"}']]);
  });

  it('a bucket whose le is not a number, or that has none', () => {
    const ok = [sample('h_bucket', { le: '1.0' }), sample('h_bucket', { le: '+Inf' }), sample('h_count'), sample('h_sum')];
    const families = [family('h', 'histogram', [sample('h_bucket', { le: 'abc' }), sample('h_bucket', { x: '1' }), ...ok])];
    const g = gate();
    expect(g.admit(families)[0]!.samples).toEqual(ok);
    expect(g.rejections.map((r) => [r.reason, r.series, r.message])).toEqual([
      ['bad_bucket_bound', 'h_bucket{le="abc"}', 'series h_bucket{le="abc"} of histogram family h has le="abc", not a number; left out, other series served'],
      ['bad_bucket_bound', 'h_bucket{x="1"}', 'series h_bucket{x="1"} of histogram family h has no le label; left out, other series served'],
    ]);
  });

  it.each(['1', '1.5', '0.25', '.5', '1e+21', '0', '1.0'])('le=%s is a bound', (le) => {
    const families = [family('h', 'histogram', [sample('h_bucket', { le }, 1), sample('h_bucket', { le: '+Inf' }, 1), sample('h_count', {}, 1), sample('h_sum', {}, 1)])];
    const g = gate();
    expect(g.admit(families)).toBe(families);
    expect(g.rejections).toEqual([]);
  });

  it.each([
    ['NaN', 'which bounds no bucket'],
    ['Inf', 'an infinite bound must be written "+Inf" or "-Inf"'],
    ['inf', 'an infinite bound must be written "+Inf" or "-Inf"'],
    ['1e400', 'an infinite bound must be written "+Inf" or "-Inf"'],
    ['0x10', 'not a number'],
    [' 1', 'not a number'],
  ])('le=%j is not a bound: %s', (le, why) => {
    const ok = [sample('h_bucket', { le: '+Inf' }, 2), sample('h_count', {}, 2), sample('h_sum', {}, 3)];
    const families = [family('h', 'histogram', [sample('h_bucket', { le }, 1), ...ok])];
    const g = gate();
    expect(g.admit(families)[0]!.samples).toEqual(ok);
    expect(g.rejections).toEqual([
      { reason: 'bad_bucket_bound', family: 'h', series: `h_bucket{le=${JSON.stringify(le)}}`, message: `series h_bucket{le=${JSON.stringify(le)}} of histogram family h has le=${JSON.stringify(le)}, ${why}; left out, other series served` },
    ]);
  });

  it('a quantile that is not a number from 0 to 1', () => {
    const ok = [sample('s', { quantile: '0.5' }, 3), sample('s', { quantile: '1' }, 4), sample('s_count', {}, 2), sample('s_sum', {}, 7)];
    const families = [family('s', 'summary', [sample('s', { quantile: '1.5' }), sample('s', { quantile: 'NaN' }), sample('s', { quantile: '-0.1' }), sample('s', { x: '1' }), ...ok])];
    const g = gate();
    expect(g.admit(families)[0]!.samples).toEqual(ok);
    expect(g.rejections.map((r) => [r.reason, r.series, r.message])).toEqual([
      ['bad_quantile', 's{quantile="1.5"}', 'series s{quantile="1.5"} of summary family s has quantile="1.5", not a number from 0 to 1; left out, other series served'],
      ['bad_quantile', 's{quantile="NaN"}', 'series s{quantile="NaN"} of summary family s has quantile="NaN", not a number from 0 to 1; left out, other series served'],
      ['bad_quantile', 's{quantile="-0.1"}', 'series s{quantile="-0.1"} of summary family s has quantile="-0.1", not a number from 0 to 1; left out, other series served'],
      ['bad_quantile', 's{x="1"}', 'series s{x="1"} of summary family s has no quantile label; left out, other series served'],
    ]);
  });

  it('a series named like one Prometheus writes for every target (up, scrape_*): reserved_metric_name', () => {
    const up = family('up', 'gauge', [sample('up', {}, 0.5), sample('up', { a: '1' }, 1)]);
    const added = family('scrape_series_added', 'gauge', [sample('scrape_series_added', {}, 9)]);
    const fine = [family('up', 'counter', [sample('up_total')]), family('scrape_jobs', 'gauge', [sample('scrape_jobs')])];
    const g = gate();
    expect(g.admit([up, added])).toEqual([]);
    expect(g.rejections.map((r) => [r.reason, r.series, r.message])).toEqual([
      ['reserved_metric_name', 'up', "series up of gauge family up is named like the series Prometheus writes for every target (it would be stored in place of Prometheus' own); left out, other series served"],
      ['reserved_metric_name', 'up{a="1"}', "series up{a=\"1\"} of gauge family up is named like the series Prometheus writes for every target (it would be stored in place of Prometheus' own); left out, other series served"],
      ['reserved_metric_name', 'scrape_series_added', "series scrape_series_added of gauge family scrape_series_added is named like the series Prometheus writes for every target (it would be stored in place of Prometheus' own); left out, other series served"],
    ]);
    expect(g.admit(fine)).toBe(fine);
  });

  it('a counter whose series are named both x and x_total (a Ruby counter beside a Python one): the bare ones are left out', () => {
    const total = [sample('mix_total', { k: 'a' }, 1), sample('mix_total', { k: 'b' }, 2)];
    const families = [family('mix', 'counter', [sample('mix', { k: 'a' }, 10), total[0]!, sample('mix', { k: 'c' }, 20), total[1]!])];
    const g = gate();
    expect(g.admit(families)[0]!.samples).toEqual(total);
    expect(g.rejections.map((r) => [r.reason, r.series, r.message])).toEqual([
      ['bad_sample_name', 'mix{k="a"}', 'series mix{k="a"} of counter family mix is named mix while other series of the family are named mix_total (parsers would split the family); left out, other series served'],
      ['bad_sample_name', 'mix{k="c"}', 'series mix{k="c"} of counter family mix is named mix while other series of the family are named mix_total (parsers would split the family); left out, other series served'],
    ]);
    const bare = [family('rb', 'counter', [sample('rb', { k: 'a' }), sample('rb', { k: 'b' })])];
    expect(g.admit(bare)).toBe(bare); // a counter all of whose series lack _total is fine
  });

  it('a sample whose name does not fit its family type', () => {
    const families = [family('c', 'counter', [sample('c_total'), sample('c_bucket')]), family('g', 'gauge', [sample('g'), sample('g_sum')])];
    const g = gate();
    const out = g.admit(families);
    expect(out.map((f) => f.samples.map((s) => s.name))).toEqual([['c_total'], ['g']]);
    expect(g.rejections.map((r) => [r.reason, r.series])).toEqual([
      ['bad_sample_name', 'c_bucket'],
      ['bad_sample_name', 'g_sum'],
    ]);
  });

  it('two series that render the same line (lone surrogates both become U+FFFD): the second is left out', () => {
    const a = sample('g', { v: '\ud800' });
    const b = sample('g', { v: '\ud800' });
    const families = [family('g', 'gauge', [a, b])];
    const g = gate();
    expect(g.admit(families)[0]!.samples).toEqual([a]);
    expect(g.rejections.map((r) => r.reason)).toEqual(['duplicate_series']);
  });

  it('the view keeps the family’s current help', () => {
    const f = { name: 'g', type: 'gauge' as const, help: 'old', samples: [sample('g', { __x: '1' }), sample('g')] };
    const g = gate();
    const view = g.admit([f])[0]!;
    f.help = 'new';
    expect(view.help).toBe('new');
    expect(renderText([view])).toBe('# HELP g new\n# TYPE g gauge\ng 1\n');
  });
});

describe('histogram label sets', () => {
  const bucket = (le: string, value: number, labels: Record<string, string> = {}) => sample('h_bucket', { ...labels, le }, value);

  it('a label set without a +Inf bucket is left out whole, other label sets stay', () => {
    const ok = [bucket('1', 1, { r: 'b' }), bucket('+Inf', 2, { r: 'b' }), sample('h_count', { r: 'b' }, 2), sample('h_sum', { r: 'b' }, 1.5)];
    const families = [family('h', 'histogram', [bucket('1', 1, { r: 'a' }), sample('h_count', { r: 'a' }, 1), sample('h_sum', { r: 'a' }, 0.5), ...ok])];
    const g = gate();
    expect(g.admit(families)[0]!.samples).toEqual(ok);
    expect(g.rejections).toEqual([
      { reason: 'missing_inf_bucket', family: 'h', series: 'h{r="a"}', message: 'histogram h{r="a"} has no le="+Inf" bucket; its buckets, _count and _sum left out, other label sets served' },
    ]);
  });

  it('_count and _sum with nothing else: no +Inf bucket', () => {
    const families = [family('h', 'histogram', [sample('h_count', {}, 1), sample('h_sum', {}, 1)])];
    const g = gate();
    expect(g.admit(families)).toEqual([]);
    expect(g.rejections.map((r) => [r.reason, r.series])).toEqual([['missing_inf_bucket', 'h']]);
  });

  it('a bucket whose le is out, leaving no +Inf: two rejections, the label set goes', () => {
    const families = [family('h', 'histogram', [bucket('1', 1), bucket('Inf', 1), sample('h_count', {}, 1), sample('h_sum', {}, 1)])];
    const g = gate();
    expect(g.admit(families)).toEqual([]);
    expect(g.rejections.map((r) => [r.reason, r.series])).toEqual([
      ['bad_bucket_bound', 'h_bucket{le="Inf"}'],
      ['missing_inf_bucket', 'h'],
    ]);
  });

  it('bounds out of order, or the same bound twice', () => {
    const families = [family('h', 'histogram', [bucket('2', 1), bucket('1', 1), bucket('+Inf', 1), bucket('1', 0, { r: 'x' }), bucket('1.0', 0, { r: 'x' }), bucket('+Inf', 0, { r: 'x' })])];
    const g = gate();
    expect(g.admit(families)).toEqual([]);
    expect(g.rejections.map((r) => [r.reason, r.series, r.message])).toEqual([
      ['bad_bucket_bound', 'h', 'histogram h has bucket bounds out of order or twice; its buckets, _count and _sum left out, other label sets served'],
      ['bad_bucket_bound', 'h{r="x"}', 'histogram h{r="x"} has bucket bounds out of order or twice; its buckets, _count and _sum left out, other label sets served'],
    ]);
  });

  it('_count without _sum (or the reverse): both left out, buckets served', () => {
    const a = [bucket('+Inf', 1, { r: 'a' })];
    const b = [bucket('+Inf', 1, { r: 'b' })];
    const families = [family('h', 'histogram', [...a, sample('h_count', { r: 'a' }, 1), ...b, sample('h_sum', { r: 'b' }, 1)])];
    const g = gate();
    expect(g.admit(families)[0]!.samples).toEqual([...a, ...b]);
    expect(g.rejections.map((r) => [r.reason, r.series, r.message])).toEqual([
      ['bad_count_or_sum', 'h{r="a"}', 'histogram h{r="a"} has _count but no _sum; left out, its buckets served'],
      ['bad_count_or_sum', 'h{r="b"}', 'histogram h{r="b"} has _sum but no _count; left out, its buckets served'],
    ]);
  });

  it('buckets below zero: OpenMetrics allows no _sum, so _count and _sum go and the buckets stay', () => {
    const buckets = [bucket('-Inf', 0), bucket('-1', 1), bucket('+Inf', 2)];
    const families = [family('h', 'histogram', [...buckets, sample('h_count', {}, 2), sample('h_sum', {}, -0.5)])];
    const g = gate();
    expect(g.admit(families)[0]!.samples).toEqual(buckets);
    expect(g.rejections).toEqual([
      { reason: 'bad_count_or_sum', family: 'h', series: 'h', message: 'histogram h has buckets below zero, where OpenMetrics allows no _sum; its _count and _sum left out, its buckets served' },
    ]);
    const without = [family('h', 'histogram', buckets)];
    expect(g.admit(without)).toBe(without);
  });
});

describe('values, checked on every scrape', () => {
  it('a counter that is NaN or negative is left out while it lasts; +Inf, 0 and -0 pass', () => {
    const bad = sample('c_total', { v: 'x' }, NaN);
    const good = [sample('c_total', { v: 'inf' }, Infinity), sample('c_total', { v: 'zero' }, 0), sample('c_total', { v: 'negzero' }, -0)];
    const families = [family('c', 'counter', [bad, ...good])];
    const g = gate();
    expect(g.admit(families)[0]!.samples).toEqual(good);
    expect(g.rejections).toEqual([
      { reason: 'bad_counter_value', family: 'c', series: 'c_total{v="x"}', message: 'series c_total{v="x"} of counter family c has the value NaN, which is negative or NaN; left out while it lasts, other series served' },
    ]);
    bad.value = -1;
    expect(g.admit(families)[0]!.samples).toEqual(good);
    expect(g.rejections.map((r) => r.message)).toEqual(['series c_total{v="x"} of counter family c has the value -1, which is negative or NaN; left out while it lasts, other series served']);
    bad.value = 3;
    expect(g.admit(families)).toBe(families); // back, and nothing allocated
    expect(g.rejections).toEqual([]);
  });

  it('a bare Ruby counter (no _total) is not checked: OpenMetrics types it unknown', () => {
    const families = [family('rb', 'counter', [sample('rb', {}, -1)])];
    expect(gate().admit(families)).toBe(families);
  });

  it('a bucket value that is fractional, negative or infinite: the label set is left out', () => {
    const good = [sample('h_bucket', { r: 'ok', le: '+Inf' }, 1), sample('h_count', { r: 'ok' }, 1), sample('h_sum', { r: 'ok' }, 1)];
    const frac = [sample('h_bucket', { r: 'a', le: '1' }, 0.5), sample('h_bucket', { r: 'a', le: '+Inf' }, 1), sample('h_count', { r: 'a' }, 1), sample('h_sum', { r: 'a' }, 1)];
    const neg = [sample('h_bucket', { r: 'b', le: '1' }, -1), sample('h_bucket', { r: 'b', le: '+Inf' }, 2)];
    const inf = [sample('h_bucket', { r: 'c', le: '+Inf' }, Infinity)];
    const families = [family('h', 'histogram', [...frac, ...neg, ...inf, ...good])];
    const g = gate();
    expect(g.admit(families)[0]!.samples).toEqual(good);
    expect(g.rejections.map((r) => [r.reason, r.series, r.message])).toEqual([
      ['bad_bucket_value', 'h{r="a"}', 'histogram h{r="a"} has a bucket value 0.5, not a whole number; its buckets, _count and _sum left out while it lasts, other label sets served'],
      ['bad_bucket_value', 'h{r="b"}', 'histogram h{r="b"} has a bucket value -1, not a whole number; its buckets, _count and _sum left out while it lasts, other label sets served'],
      ['bad_bucket_value', 'h{r="c"}', 'histogram h{r="c"} has a bucket value +Inf, not a whole number; its buckets, _count and _sum left out while it lasts, other label sets served'],
    ]);
  });

  it('a live Ruby histogram read mid-observe (_count above +Inf, a lower bucket above a higher one) is served: no flicker', () => {
    // prometheus-client-mmap increments _sum, _count, the +Inf bucket, then the buckets in order.
    const families = [family('h', 'histogram', [sample('h_bucket', { le: '0.25' }, 5), sample('h_bucket', { le: '0.5' }, 4), sample('h_bucket', { le: '+Inf' }, 6), sample('h_count', {}, 7), sample('h_sum', {}, 2)])];
    const g = gate();
    expect(g.admit(families)).toBe(families);
    expect(g.rejections).toEqual([]);
  });

  it('a fractional _count, or a negative or NaN _sum: _count and _sum go, buckets stay', () => {
    const set = (r: string, inf: number, count: number, sum: number) => [sample('h_bucket', { r, le: '+Inf' }, inf), sample('h_count', { r }, count), sample('h_sum', { r }, sum)];
    const [a, b, c, d] = [set('a', 2, 2.5, 1), set('b', 1.5, 1.5, 1), set('c', 1, 1, -3), set('d', 1, 1, NaN)];
    const families = [family('h', 'histogram', [...a, ...b, ...c, ...d])];
    const g = gate();
    // b's bucket is fractional: that set goes whole.
    expect(g.admit(families)[0]!.samples).toEqual([a[0], c[0], d[0]]);
    expect(g.rejections.map((r) => [r.reason, r.series, r.message])).toEqual([
      ['bad_count_or_sum', 'h{r="a"}', 'histogram h{r="a"} has _count 2.5, not a whole number; its _count and _sum left out while it lasts, its buckets served'],
      ['bad_bucket_value', 'h{r="b"}', 'histogram h{r="b"} has a bucket value 1.5, not a whole number; its buckets, _count and _sum left out while it lasts, other label sets served'],
      ['bad_count_or_sum', 'h{r="c"}', 'histogram h{r="c"} has _sum -3, negative or NaN; its _count and _sum left out while it lasts, its buckets served'],
      ['bad_count_or_sum', 'h{r="d"}', 'histogram h{r="d"} has _sum NaN, negative or NaN; its _count and _sum left out while it lasts, its buckets served'],
    ]);
  });

  it('a summary: a fractional _count, a negative _sum, a negative quantile are each left out alone', () => {
    const ok = [sample('s', { quantile: '0.5' }, NaN), sample('s_count', { r: 'ok' }, 2), sample('s_sum', { r: 'ok' }, 0)];
    const families = [family('s', 'summary', [sample('s', { quantile: '0.9' }, -1), ok[0]!, sample('s_count', { r: 'a' }, 1.5), sample('s_sum', { r: 'a' }, 1), sample('s_count', { r: 'b' }, 1), sample('s_sum', { r: 'b' }, -4), ok[1]!, ok[2]!])];
    const g = gate();
    expect(g.admit(families)[0]!.samples.map((x) => [x.name, x.labels, x.value])).toEqual([
      ['s', [['quantile', '0.5']], NaN],
      ['s_sum', [['r', 'a']], 1],
      ['s_count', [['r', 'b']], 1],
      ['s_count', [['r', 'ok']], 2],
      ['s_sum', [['r', 'ok']], 0],
    ]);
    expect(g.rejections.map((r) => [r.reason, r.series, r.message])).toEqual([
      ['bad_quantile', 's{quantile="0.9"}', 'series s{quantile="0.9"} of summary family s has the value -1, which is negative or NaN; left out while it lasts, other series served'],
      ['bad_count_or_sum', 's_count{r="a"}', 'series s_count{r="a"} of summary family s has the value 1.5, which is not a whole number; left out while it lasts, other series served'],
      ['bad_count_or_sum', 's_sum{r="b"}', 'series s_sum{r="b"} of summary family s has the value -4, which is negative or NaN; left out while it lasts, other series served'],
    ]);
  });

  it('values are read at every admit(): a histogram that heals is served again, as the structural view', () => {
    const inf = sample('h_bucket', { le: '+Inf' }, 2);
    const count = sample('h_count', {}, 2.5);
    const f = family('h', 'histogram', [sample('h_bucket', { le: 'x' }), inf, count, sample('h_sum', {}, 1)]);
    const g = gate();
    expect(g.admit([f])[0]!.samples).toEqual([inf]);
    count.value = 2;
    const healed = g.admit([f])[0]!;
    expect(healed.samples.map((x) => x.name)).toEqual(['h_bucket', 'h_count', 'h_sum']);
    expect(g.admit([f])[0]).toBe(healed); // the memoised view: no allocation while values pass
    expect(g.rejections.map((r) => r.reason)).toEqual(['bad_bucket_bound']);
  });
});

describe('families left out', () => {
  it('a counter x (x_total) beside a gauge family x_total: the gauge is left out', () => {
    const families = [family('x', 'counter', [sample('x_total')]), family('x_total', 'gauge', [sample('x_total')])];
    const g = gate();
    expect(g.admit(families).map((f) => f.name)).toEqual(['x']);
    expect(g.rejections).toEqual([
      { reason: 'name_collision', family: 'x_total', series: undefined, message: 'gauge family x_total uses the name x_total of the counter family x (parsers would merge or reject them); left out, x served' },
    ]);
  });

  it('a histogram h beside a gauge h_bucket and a counter h_count (h_count_total)', () => {
    const h = family('h', 'histogram', [sample('h_bucket', { le: '+Inf' }), sample('h_count'), sample('h_sum')]);
    const families = [h, family('h_bucket', 'gauge', [sample('h_bucket')]), family('h_count', 'counter', [sample('h_count_total')]), family('h_sum_other', 'gauge', [sample('h_sum_other')])];
    const g = gate();
    expect(g.admit(families).map((f) => f.name)).toEqual(['h', 'h_sum_other']);
    expect(g.rejections.map((r) => [r.reason, r.family])).toEqual([
      ['name_collision', 'h_bucket'],
      ['name_collision', 'h_count'],
    ]);
  });

  it("a merged family in the daemon's namespace (multiproc_exporter_*) is left out", () => {
    const families = [family('multiproc_exporter_scrape_errors', 'counter', [sample('multiproc_exporter_scrape_errors_total')]), family('multiproc_exporter', 'histogram', [sample('multiproc_exporter_bucket', { le: '1' })]), family('ok', 'gauge', [sample('ok')])];
    const g = gate();
    expect(g.admit(families).map((f) => f.name)).toEqual(['ok']);
    expect(g.rejections.map((r) => [r.reason, r.family, r.message])).toEqual([
      ['reserved_metric_name', 'multiproc_exporter_scrape_errors', 'counter family "multiproc_exporter_scrape_errors" would expose multiproc_exporter_scrape_errors, in the daemon\'s own multiproc_exporter_* namespace; left out, other families served'],
      ['reserved_metric_name', 'multiproc_exporter', 'histogram family "multiproc_exporter" would expose multiproc_exporter_bucket, in the daemon\'s own multiproc_exporter_* namespace; left out, other families served'],
    ]);
  });

  it("the writer's heartbeat gauge stays: our writer puts it in the files on purpose", () => {
    const families = [family('multiproc_exporter_worker_heartbeat_timestamp_seconds', 'gauge', [sample('multiproc_exporter_worker_heartbeat_timestamp_seconds', { pid: '1' })])];
    const g = gate();
    expect(g.admit(families)).toBe(families);
  });

  it('a family whose every series fails is left out whole', () => {
    const families = [family('g', 'gauge', [sample('g', { __a: '1' })])];
    const g = gate();
    expect(g.admit(families)).toEqual([]);
  });
});

describe('cost and stability', () => {
  it('re-checks a family only when its sample list changes, and decides collisions the same way every scrape', () => {
    const samples = [sample('g', { __a: '1' }), sample('g')];
    const f = { name: 'g', type: 'gauge' as const, help: 'h', samples };
    const families = [family('x', 'counter', [sample('x_total')]), family('x_total', 'gauge', [sample('x_total')]), f];
    const g = gate();
    const first = g.admit(families);
    const second = g.admit(families);
    expect(second[1]).toBe(first[1]); // the same view object: nothing re-checked
    expect(second.map((x) => x.name)).toEqual(['x', 'g']);
    f.samples = [sample('g')];
    const third = g.admit(families);
    expect(third[1]).toBe(f); // its new sample list passes whole
    expect(g.rejections.map((r) => r.reason)).toEqual(['name_collision']);
  });
});
