/**
 * The remote write encoder: what a receiver decodes (snappy, then the official WriteRequest) is
 * exactly the merged samples of the text exposition, labels sorted with __name__, one timestamp,
 * split by --push.max-samples-per-send with each request carrying its families' metadata.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Collector } from '../../src/collector.js';
import { renderText } from '../../src/exposition/index.js';
import type { MetricFamily } from '../../src/merge/model.js';
import { encodeRemoteWrite, seriesLabels, snappyCompress } from '../../src/push/remote-write.js';
import { parseExposition, sampleLines } from '../helpers/parse-exposition.js';
import { decodeWriteRequest, type DecodedWriteRequest } from './decode.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const AT = 1_760_000_000_123;

function decodeAll(families: readonly MetricFamily[], max: number, at = AT): DecodedWriteRequest[] {
  return encodeRemoteWrite(families, at, max).map((b) => {
    const decoded = decodeWriteRequest(snappyCompress(b.message));
    expect(decoded.timeseries).toHaveLength(b.samples);
    return decoded;
  });
}

/** `name{a="x"} value` lines, as sampleLines gives for an exposition. */
function lines(requests: readonly DecodedWriteRequest[]): string[] {
  return requests
    .flatMap((r) => r.timeseries)
    .map((ts) => {
      const name = ts.labels.find((l) => l.name === '__name__')!.value;
      const rest = ts.labels.filter((l) => l.name !== '__name__');
      const key = rest.length === 0 ? name : `${name}{${rest.map((l) => `${l.name}=${JSON.stringify(l.value)}`).join(',')}}`;
      const v = ts.samples[0]!.value;
      return `${key} ${Number.isNaN(v) ? 'NaN' : String(v)}`;
    })
    .sort();
}

function collect(fixtures: readonly string[], constLabels: [string, string][] = []): MetricFamily[] {
  const families: MetricFamily[] = [];
  for (const f of fixtures) {
    const c = new Collector(join(FIXTURES, f), { liveness: 'off', constLabels });
    families.push(...c.collect().families);
    c.close();
  }
  return families;
}

describe('remote write encoding', () => {
  it('carries exactly the samples of the text exposition, Python and Ruby files, with the constant labels', () => {
    const families = collect(['v025-app_realistic', 'rb-basic', 'special_values'], [['shard', 'a']]);
    const requests = decodeAll(families, 100_000);
    expect(requests).toHaveLength(1);
    const expected = sampleLines(parseExposition(renderText(families)).samples);
    expect(expected.length).toBeGreaterThan(100);
    expect(lines(requests)).toEqual(expected);
    for (const ts of requests[0]!.timeseries) {
      expect(ts.samples).toEqual([{ value: ts.samples[0]!.value, timestamp: AT }]);
      const names = ts.labels.map((l) => l.name);
      expect(names).toContain('__name__');
      expect(names).toContain('shard');
      expect([...names].sort()).toEqual(names); // the spec: sorted by name
      expect(ts.labels.every((l) => l.value !== '')).toBe(true);
    }
  });

  it('sorts __name__ among the labels by byte order (upper case before "_")', () => {
    expect(seriesLabels('m', [['A', '1'], ['b', '2']])).toEqual([
      { name: 'A', value: '1' },
      { name: '__name__', value: 'm' },
      { name: 'b', value: '2' },
    ]);
    expect(seriesLabels('m', [])).toEqual([{ name: '__name__', value: 'm' }]);
    expect(seriesLabels('m', [['Z', 'z']])).toEqual([
      { name: 'Z', value: 'z' },
      { name: '__name__', value: 'm' },
    ]);
  });

  it('splits by max samples per request; each request has the metadata of the families in it', () => {
    const families: MetricFamily[] = [
      { name: 'jobs', type: 'counter', help: 'Jobs done.', samples: [1, 2, 3].map((v) => ({ name: 'jobs_total', labels: [['q', `q${v}`]], value: v })) },
      { name: 'depth', type: 'gauge', help: 'Queue depth.', samples: [{ name: 'depth', labels: [], value: 7 }] },
      {
        name: 'lat',
        type: 'histogram',
        help: 'Latency.',
        samples: [
          { name: 'lat_bucket', labels: [['le', '1']], value: 2 },
          { name: 'lat_bucket', labels: [['le', '+Inf']], value: 3 },
          { name: 'lat_count', labels: [], value: 3 },
          { name: 'lat_sum', labels: [], value: 4.5 },
        ],
      },
      { name: 'empty', type: 'gauge', help: 'No samples.', samples: [] },
    ];
    const requests = decodeAll(families, 3);
    expect(requests.map((r) => r.timeseries.length)).toEqual([3, 3, 2]);
    expect(requests.map((r) => r.metadata)).toEqual([
      [{ type: 'COUNTER', metricFamilyName: 'jobs_total', help: 'Jobs done.', unit: '' }],
      [
        { type: 'GAUGE', metricFamilyName: 'depth', help: 'Queue depth.', unit: '' },
        { type: 'HISTOGRAM', metricFamilyName: 'lat', help: 'Latency.', unit: '' },
      ],
      [{ type: 'HISTOGRAM', metricFamilyName: 'lat', help: 'Latency.', unit: '' }],
    ]);
    expect(lines(requests)).toEqual(
      [
        'jobs_total{q="q1"} 1',
        'jobs_total{q="q2"} 2',
        'jobs_total{q="q3"} 3',
        'depth 7',
        'lat_bucket{le="1"} 2',
        'lat_bucket{le="+Inf"} 3',
        'lat_count 3',
        'lat_sum 4.5',
      ].sort(),
    );
  });

  it('sends nothing for nothing', () => {
    expect(encodeRemoteWrite([], AT, 10)).toEqual([]);
    expect(encodeRemoteWrite([{ name: 'x', type: 'gauge', help: '', samples: [] }], AT, 10)).toEqual([]);
  });
});
