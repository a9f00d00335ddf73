/**
 * OTLP/HTTP: the daemon pushes a directory that live Python, Ruby and Node writers write into to
 * a receiver here that decodes each request with the official opentelemetry-proto definitions.
 * Every data point is checked: value, attributes (constant labels included), type and
 * temporality, start time (the first collection that saw the series, kept across pushes), time
 * (the collection), histogram bounds and per-bucket counts; the resource attributes and gzip.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { peerAvailableUnderCi, peers } from '../helpers/peers.js';
import { attrs, decodeExport, type DecodedExport, type OtlpMetric } from '../push/decode.js';
import { startReceiver, until, type Receiver } from '../push/receiver.js';
import { seriesKey, startWriters, type LiveWriters } from '../helpers/push-writers.js';

const { python, ruby } = peers();
const CONST = [['shard', 'otlp'] as const];
const WRITER_METRIC = /^(py|rb|node)_/;

interface Point {
  readonly kind: 'sum' | 'gauge' | 'histogram';
  readonly start: string;
  readonly time: string;
}

/** One request's writer data points: series key → value (histograms as their classic series), and each point's kind and times. */
function flatten(request: DecodedExport): { values: Map<string, number>; points: Map<string, Point>; metrics: OtlpMetric[] } {
  const values = new Map<string, number>();
  const points = new Map<string, Point>();
  const metrics = request.resourceMetrics.flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics)).filter((m) => WRITER_METRIC.test(m.name));
  for (const m of metrics) {
    for (const p of m.sum?.dataPoints ?? []) {
      const k = seriesKey(m.name, Object.entries(attrs(p.attributes)));
      values.set(k, p.asDouble!);
      points.set(k, { kind: 'sum', start: p.startTimeUnixNano, time: p.timeUnixNano });
    }
    for (const p of m.gauge?.dataPoints ?? []) {
      const k = seriesKey(m.name, Object.entries(attrs(p.attributes)));
      values.set(k, p.asDouble!);
      points.set(k, { kind: 'gauge', start: p.startTimeUnixNano, time: p.timeUnixNano });
    }
    for (const p of m.histogram?.dataPoints ?? []) {
      const a = Object.entries(attrs(p.attributes));
      let cumulative = 0;
      p.bucketCounts.forEach((c, i) => {
        cumulative += Number(c);
        values.set(seriesKey(`${m.name}_bucket`, [...a, ['le', i < p.explicitBounds.length ? String(p.explicitBounds[i]) : '+Inf']]), cumulative);
      });
      values.set(seriesKey(`${m.name}_count`, a), Number(p.count));
      values.set(seriesKey(`${m.name}_sum`, a), p.sum!);
      points.set(seriesKey(m.name, a), { kind: 'histogram', start: p.startTimeUnixNano, time: p.timeUnixNano });
    }
  }
  return { values, points, metrics };
}

describe('pushing OTLP/HTTP to a receiver that decodes it with opentelemetry-proto', () => {
  peerAvailableUnderCi(python);
  peerAvailableUnderCi(ruby);

  const tmp = mkdtempSync(join(tmpdir(), 'mpe-push-otlp-'));
  let receiver: Receiver | undefined;
  let daemon: Daemon | undefined;
  let writers: LiveWriters | undefined;
  let firstTime = '';

  beforeAll(async () => {
    const dir = join(tmp, 'metrics');
    mkdirSync(dir);
    writers = await startWriters(dir);
    receiver = await startReceiver();
    const endpoint = receiver.url.replace('/api/v1/write', '/v1/metrics');
    daemon = await startDaemon([
      '--dir', dir,
      '--label', 'shard=otlp',
      '--push.otlp.endpoint', endpoint,
      '--push.otlp.resource-attribute', 'service.name=shop',
      '--push.otlp.resource-attribute', 'service.instance.id=pod-7',
      '--push.interval', '300ms',
      '--push.max-samples-per-send', '100000',
    ]);
  }, 60_000);

  afterAll(async () => {
    await daemon?.stop();
    await writers?.stop();
    await receiver?.close();
    rmSync(tmp, { recursive: true, force: true });
  }, 30_000);

  /** The newest request whose writer data points are exactly `want`, waited for (bounded). */
  async function untilPushed(want: Map<string, number>): Promise<{ request: DecodedExport; index: number }> {
    let last: Map<string, number> = new Map();
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      for (let i = receiver!.requests.length - 1; i >= 0; i--) {
        const request = decodeExport(receiver!.requests[i]!.body);
        const { values } = flatten(request);
        if (values.size === 0) continue;
        last = values;
        if (values.size === want.size && [...want].every(([k, v]) => values.get(k) === v)) return { request, index: i };
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const lines = (m: Map<string, number>): string[] => [...m].map(([k, v]) => `${k} ${v}`).sort();
    expect(lines(last), daemon!.stderr().slice(-3000)).toEqual(lines(want));
    throw new Error('unreachable');
  }

  it('sends protobuf, gzipped, to the endpoint path, with the resource attributes and scope', async () => {
    await until(() => receiver!.requests.length > 0, 10_000, 'a first OTLP request');
    const r = receiver!.requests[0]!;
    expect(r.method).toBe('POST');
    expect(r.url).toBe('/v1/metrics');
    expect(r.headers).toMatchObject({ 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' });
    expect(r.headers['user-agent']).toMatch(/^multiproc-exporter\/\d+\.\d+\.\d+/);
    const decoded = decodeExport(r.body);
    expect(decoded.resourceMetrics).toHaveLength(1);
    expect(attrs(decoded.resourceMetrics[0]!.resource.attributes)).toEqual({ 'service.name': 'shop', 'service.instance.id': 'pod-7' });
    expect(decoded.resourceMetrics[0]!.scopeMetrics[0]!.scope.name).toBe('multiproc-exporter');
    firstTime = flatten(decoded).points.values().next().value!.time;
  });

  it('carries every data point exactly, each type with its temporality, start time and bounds', async () => {
    await until(() => receiver!.requests.length >= 3, 10_000, 'three pushes'); // start times are checked on a later one
    const { request } = await untilPushed(writers!.expected(CONST));
    const { points, metrics } = flatten(request);
    for (const d of writers!.dialects) {
      const jobs = metrics.find((m) => m.name === `${d}_jobs_total`)!;
      expect(jobs.sum).toMatchObject({ aggregationTemporality: 'AGGREGATION_TEMPORALITY_CUMULATIVE', isMonotonic: true });
      expect(jobs.sum!.dataPoints.map((p) => attrs(p.attributes)).sort((a, b) => (a['queue']! < b['queue']! ? -1 : 1))).toEqual([
        { queue: 'a', shard: 'otlp' },
        { queue: 'b', shard: 'otlp' },
      ]);
      for (const g of ['inflight', 'peak', 'started']) expect(metrics.find((m) => m.name === `${d}_${g}`)!.gauge!.dataPoints.length).toBeGreaterThan(0);
      const latency = metrics.find((m) => m.name === `${d}_latency_seconds`)!;
      expect(latency.histogram!.aggregationTemporality).toBe('AGGREGATION_TEMPORALITY_CUMULATIVE');
      const hp = latency.histogram!.dataPoints[0]!;
      expect(attrs(hp.attributes)).toEqual({ route: '/x', shard: 'otlp' });
      expect({ bounds: hp.explicitBounds, counts: hp.bucketCounts, count: hp.count, sum: hp.sum }).toEqual({ bounds: [0.125, 1], counts: ['2', '2', '0'], count: '4', sum: 1.625 });
    }
    // Every point is of this collection; cumulative ones started at the first collection that saw them (the daemon's first).
    const time = [...points.values()][0]!.time;
    for (const [key, p] of points) {
      expect(p.time, key).toBe(time);
      if (p.kind === 'gauge') expect(p.start, key).toBe('0');
      else expect(p.start, key).toBe(firstTime);
    }
    expect(BigInt(time)).toBeGreaterThan(BigInt(firstTime));
  });

  it('keeps the start times as the writers write the next round, and the values follow', async () => {
    await writers!.next();
    const { request } = await untilPushed(writers!.expected(CONST));
    const { points, values } = flatten(request);
    for (const d of writers!.dialects) {
      expect(values.get(seriesKey(`${d}_jobs_total`, [['queue', 'a'], ...CONST]))).toBe(6);
      expect(values.get(seriesKey(`${d}_latency_seconds_count`, [['route', '/x'], ...CONST]))).toBe(8);
    }
    for (const [key, p] of points) if (p.kind !== 'gauge') expect(p.start, key).toBe(firstTime);
  });
});
