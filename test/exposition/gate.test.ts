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

  it.each(['1', '1.5', '-2.5e-3', '.5', '1e+21', '+Inf', '-Inf', 'NaN', '0'])('le=%s is a number', (le) => {
    const families = [family('h', 'histogram', [sample('h_bucket', { le })])];
    const g = gate();
    expect(g.admit(families)).toBe(families);
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
