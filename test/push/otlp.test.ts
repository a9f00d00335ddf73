/**
 * The OTLP encoder, decoded with the official opentelemetry-proto definitions: every data point's
 * value, attributes, temporality, start time and bounds; start times kept across pushes and
 * restarted when a counter goes down; batches split by data points.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Collector } from '../../src/collector.js';
import { renderText } from '../../src/exposition/index.js';
import type { MetricFamily, Sample } from '../../src/merge/model.js';
import { gzipCompress, OtlpEncoder, unixNanos } from '../../src/push/otlp.js';
import { parseExposition, parseValue } from '../helpers/parse-exposition.js';
import { attrs, decodeExport, type DecodedExport, type OtlpMetric } from './decode.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const T1 = 1_760_000_000_123;
const T2 = T1 + 15_000;
const T3 = T2 + 15_000;
const ns = (ms: number): string => `${BigInt(ms) * 1_000_000n}`;

function encoder(): OtlpEncoder {
  return new OtlpEncoder({ resourceAttributes: [['host.name', 'pod-1'], ['service.name', 'checkout']], scopeName: 'multiproc-exporter', scopeVersion: '9.9.9' });
}

async function encodeAll(e: OtlpEncoder, families: readonly MetricFamily[], at: number, max = 100_000): Promise<DecodedExport[]> {
  return Promise.all(e.encode(families, at, max).map(async (b) => decodeExport(await gzipCompress(b.message))));
}

function metrics(requests: readonly DecodedExport[]): OtlpMetric[] {
  return requests.flatMap((r) => r.resourceMetrics.flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics)));
}

const counter = (value: number): MetricFamily => ({
  name: 'jobs',
  type: 'counter',
  help: 'Jobs done.',
  samples: [
    { name: 'jobs_total', labels: [['queue', 'a'], ['shard', 's1']], value },
    { name: 'jobs_total', labels: [['queue', 'b'], ['shard', 's1']], value: 10 },
  ],
});
const gauge: MetricFamily = { name: 'depth', type: 'gauge', help: 'Queue depth.', samples: [{ name: 'depth', labels: [['queue', 'a']], value: -2.5 }] };
const histogram = (scale: number): MetricFamily => ({
  name: 'lat_seconds',
  type: 'histogram',
  help: 'Latency.',
  samples: [
    { name: 'lat_seconds_bucket', labels: [['le', '0.1'], ['route', '/a']], value: 2 * scale },
    { name: 'lat_seconds_bucket', labels: [['le', '1.0'], ['route', '/a']], value: 5 * scale },
    { name: 'lat_seconds_bucket', labels: [['le', '+Inf'], ['route', '/a']], value: 6 * scale },
    { name: 'lat_seconds_count', labels: [['route', '/a']], value: 6 * scale },
    { name: 'lat_seconds_sum', labels: [['route', '/a']], value: 3.25 * scale },
  ],
});
const summary: MetricFamily = {
  name: 'size_bytes',
  type: 'summary',
  help: 'Sizes.',
  samples: [
    { name: 'size_bytes', labels: [['quantile', '0.5']], value: 10 },
    { name: 'size_bytes', labels: [['quantile', '0.99']], value: 90 },
    { name: 'size_bytes_count', labels: [], value: 4 },
    { name: 'size_bytes_sum', labels: [], value: 120 },
  ],
};

describe('OTLP encoding', () => {
  it('writes nanosecond times exactly (beyond a double)', () => {
    expect(unixNanos(T1)).toBe('1760000000123000000');
    expect(unixNanos(T1)).toBe(ns(T1));
  });

  it('maps each type, with resource, scope, attributes, cumulative temporality and start times', async () => {
    const [request, ...more] = await encodeAll(encoder(), [counter(3), gauge, histogram(1), summary], T1);
    expect(more).toEqual([]);
    const rm = request!.resourceMetrics;
    expect(rm).toHaveLength(1);
    expect(attrs(rm[0]!.resource.attributes)).toEqual({ 'host.name': 'pod-1', 'service.name': 'checkout' });
    expect(rm[0]!.scopeMetrics[0]!.scope).toMatchObject({ name: 'multiproc-exporter', version: '9.9.9' });
    const [sum, g, h, s] = rm[0]!.scopeMetrics[0]!.metrics;
    expect(sum!.name).toBe('jobs_total');
    expect(sum!.description).toBe('Jobs done.');
    expect(sum!.sum!.aggregationTemporality).toBe('AGGREGATION_TEMPORALITY_CUMULATIVE');
    expect(sum!.sum!.isMonotonic).toBe(true);
    expect(sum!.sum!.dataPoints.map((p) => ({ a: attrs(p.attributes), v: p.asDouble, start: p.startTimeUnixNano, t: p.timeUnixNano }))).toEqual([
      { a: { queue: 'a', shard: 's1' }, v: 3, start: ns(T1), t: ns(T1) },
      { a: { queue: 'b', shard: 's1' }, v: 10, start: ns(T1), t: ns(T1) },
    ]);
    expect(g!.name).toBe('depth');
    expect(g!.gauge!.dataPoints.map((p) => ({ a: attrs(p.attributes), v: p.asDouble, start: p.startTimeUnixNano, t: p.timeUnixNano }))).toEqual([
      { a: { queue: 'a' }, v: -2.5, start: '0', t: ns(T1) },
    ]);
    expect(h!.name).toBe('lat_seconds');
    expect(h!.histogram!.aggregationTemporality).toBe('AGGREGATION_TEMPORALITY_CUMULATIVE');
    expect(h!.histogram!.dataPoints).toHaveLength(1);
    const hp = h!.histogram!.dataPoints[0]!;
    expect(attrs(hp.attributes)).toEqual({ route: '/a' });
    expect({ count: hp.count, sum: hp.sum, bounds: hp.explicitBounds, counts: hp.bucketCounts, start: hp.startTimeUnixNano, t: hp.timeUnixNano }).toEqual({
      count: '6',
      sum: 3.25,
      bounds: [0.1, 1],
      counts: ['2', '3', '1'],
      start: ns(T1),
      t: ns(T1),
    });
    expect(s!.name).toBe('size_bytes');
    const sp = s!.summary!.dataPoints[0]!;
    expect({ a: attrs(sp.attributes), count: sp.count, sum: sp.sum, q: sp.quantileValues, start: sp.startTimeUnixNano }).toEqual({
      a: {},
      count: '4',
      sum: 120,
      q: [
        { quantile: 0.5, value: 10 },
        { quantile: 0.99, value: 90 },
      ],
      start: ns(T1),
    });
  });

  it('keeps start times across pushes; a counter or histogram that went down starts again', async () => {
    const e = encoder();
    await encodeAll(e, [counter(3), histogram(1)], T1);
    const second = metrics(await encodeAll(e, [counter(5), histogram(2)], T2));
    expect(second[0]!.sum!.dataPoints.map((p) => [p.asDouble, p.startTimeUnixNano, p.timeUnixNano])).toEqual([
      [5, ns(T1), ns(T2)],
      [10, ns(T1), ns(T2)],
    ]);
    expect(second[1]!.histogram!.dataPoints[0]!.startTimeUnixNano).toBe(ns(T1));
    expect(second[1]!.histogram!.dataPoints[0]!.bucketCounts).toEqual(['4', '6', '2']);
    const third = metrics(await encodeAll(e, [counter(1), histogram(1)], T3));
    expect(third[0]!.sum!.dataPoints.map((p) => [p.asDouble, p.startTimeUnixNano])).toEqual([
      [1, ns(T3)], // reset: 5 → 1
      [10, ns(T1)],
    ]);
    expect(third[1]!.histogram!.dataPoints[0]!.startTimeUnixNano).toBe(ns(T3));
    // A series that vanished and came back is new again.
    await encodeAll(e, [gauge], T3 + 1);
    const back = metrics(await encodeAll(e, [counter(1)], T3 + 2));
    expect(back[0]!.sum!.dataPoints[1]!.startTimeUnixNano).toBe(ns(T3 + 2));
  });

  it('splits by data points: a histogram is one point, a metric may span requests', async () => {
    const requests = await encodeAll(encoder(), [counter(3), histogram(1), gauge], T1, 2);
    expect(requests.map((r) => metrics([r]).map((m) => [m.name, (m.sum ?? m.gauge ?? m.histogram)!.dataPoints.length]))).toEqual([
      [['jobs_total', 2]],
      [
        ['lat_seconds', 1],
        ['depth', 1],
      ],
    ]);
    for (const r of requests) expect(attrs(r.resourceMetrics[0]!.resource.attributes)['service.name']).toBe('checkout');
  });

  it('represents every sample of real Python and Ruby files exactly', async () => {
    const families: MetricFamily[] = [];
    for (const f of ['v025-app_realistic', 'rb-basic', 'v025-summary_basic']) {
      const c = new Collector(join(FIXTURES, f), { liveness: 'off' });
      families.push(...c.collect().families);
      c.close();
    }
    const expected = parseExposition(renderText(families));
    const got = new Map<string, number>();
    const key = (name: string, a: Record<string, string>): string =>
      `${name}{${Object.entries(a)
        .map(([k, v]) => `${k}=${k === 'le' || k === 'quantile' ? String(parseValue(v)) : v}`)
        .sort()
        .join(',')}}`;
    for (const m of metrics(await encodeAll(encoder(), families, T1))) {
      for (const p of m.sum?.dataPoints ?? m.gauge?.dataPoints ?? []) got.set(key(m.name, attrs(p.attributes)), p.asDouble!);
      for (const p of m.histogram?.dataPoints ?? []) {
        const a = attrs(p.attributes);
        let cumulative = 0;
        p.bucketCounts.forEach((c, i) => {
          cumulative += Number(c);
          got.set(key(`${m.name}_bucket`, { ...a, le: i < p.explicitBounds.length ? String(p.explicitBounds[i]) : '+Inf' }), cumulative);
        });
        got.set(key(`${m.name}_count`, a), Number(p.count));
        got.set(key(`${m.name}_sum`, a), p.sum!);
      }
      for (const p of m.summary?.dataPoints ?? []) {
        const a = attrs(p.attributes);
        for (const q of p.quantileValues) got.set(key(m.name, { ...a, quantile: String(q.quantile) }), q.value);
        got.set(key(`${m.name}_count`, a), Number(p.count));
        got.set(key(`${m.name}_sum`, a), p.sum);
      }
    }
    const want = new Map(expected.samples.map((s) => [key(s.name, Object.fromEntries(s.labels)), s.value]));
    expect(want.size).toBeGreaterThan(90);
    expect([...got].sort()).toEqual([...want].sort());
  });

  it('sends nothing for nothing', () => {
    expect(encoder().encode([], T1, 10)).toEqual([]);
    const empty: Sample[] = [];
    expect(encoder().encode([{ name: 'x', type: 'counter', help: '', samples: empty }], T1, 10)).toEqual([]);
  });
});
