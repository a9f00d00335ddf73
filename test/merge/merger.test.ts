/**
 * The Merger on inputs built from arrays (no files, no reader): every dialect rule and the fold
 * lifecycle, with the exact families, samples and values they must produce.
 */
import { describe, expect, it } from 'vitest';
import { parseFileName } from '../../src/format/filename.js';
import { parseKey, type DecodedKey } from '../../src/format/key.js';
import type { SlotWidth } from '../../src/format/layout.js';
import { Merger, type MergeInput } from '../../src/merge/merger.js';
import type { MetricFamily } from '../../src/merge/model.js';

interface Input extends MergeInput {
  keys: DecodedKey[];
  values: Float64Array;
  valueIndex: Int32Array;
  generation: number;
  isOpen: boolean;
}

type Entry = readonly [key: unknown[], value: number, ts?: number];

/** A file's worth of entries: values laid out as a reader shows them (value, then timestamp with 16-byte slots). */
function input(fileName: string, entries: readonly Entry[], slot: SlotWidth = 16): Input {
  const parsed = parseFileName(fileName);
  if (!parsed.ok) throw new Error(parsed.message);
  const f: Input = { fileName, parsed: parsed.name, processId: parsed.name.id, keys: [], values: new Float64Array(0), valueIndex: new Int32Array(0), slot, generation: 0, isOpen: true };
  setEntries(f, entries);
  return f;
}

function setEntries(f: Input, entries: readonly Entry[]): void {
  const step = f.slot === 16 ? 2 : 1;
  f.keys = entries.map(([k], i) => parseKey(JSON.stringify(k), 8 + i));
  f.values = new Float64Array(entries.length * step);
  f.valueIndex = new Int32Array(entries.length);
  entries.forEach(([, v, ts], i) => {
    f.valueIndex[i] = i * step;
    f.values[i * step] = v;
    if (step === 2) f.values[i * step + 1] = ts ?? 0;
  });
}

/** Families as plain data: [name, type, help, [sample, labels, value][]]. */
function plain(families: readonly MetricFamily[]): unknown[] {
  return families.map((f) => [f.name, f.type, f.help, f.samples.map((s) => [s.name, Object.fromEntries(s.labels), s.value])]);
}

describe('Merger (inputs without files)', () => {
  it('sums counters across processes and dialects into one OpenMetrics family', () => {
    const a = input('counter_1.db', [[['requests', 'requests_total', { route: '/a' }, 'Requests.'], 3]]);
    const b = input('counter_2.db', [
      [['requests', 'requests_total', { route: '/a' }, 'Requests.'], 4],
      [['requests', 'requests_total', { route: '/b' }, 'Requests.'], 1],
    ]);
    const ruby = input('counter_3-0.db', [[['requests_total', 'requests_total', ['route'], ['/a']], 10]], 8);
    expect(plain(new Merger().merge([a, b, ruby]))).toEqual([
      [
        'requests',
        'counter',
        'Requests.',
        [
          ['requests_total', { route: '/a' }, 17],
          ['requests_total', { route: '/b' }, 1],
        ],
      ],
    ]);
  });

  it('makes Python per-bucket counts cumulative, one bucket per numeric bound, and synthesizes _count', () => {
    const key = (sample: string, labels: Record<string, string> = {}): unknown[] => ['lat', sample, labels, 'Latency.'];
    const a = input('histogram_1.db', [
      [key('lat_sum'), 2.5],
      [key('lat_bucket', { le: '0.5' }), 1],
      [key('lat_bucket', { le: '1.0' }), 2],
      [key('lat_bucket', { le: '+Inf' }), 0],
    ]);
    const b = input('histogram_2.db', [
      [key('lat_sum'), 1],
      [key('lat_bucket', { le: '0.5' }), 0],
      [key('lat_bucket', { le: '1' }), 1],
      [key('lat_bucket', { le: '+Inf' }), 1],
    ]);
    expect(plain(new Merger().merge([a, b]))).toEqual([
      [
        'lat',
        'histogram',
        'Latency.',
        [
          ['lat_bucket', { le: '0.5' }, 1],
          ['lat_bucket', { le: '1.0' }, 4], // the first text seen of bound 1
          ['lat_bucket', { le: '+Inf' }, 5],
          ['lat_count', {}, 5],
          ['lat_sum', {}, 3.5],
        ],
      ],
    ]);
  });

  it('keeps Ruby cumulative buckets and _count as stored', () => {
    const key = (sample: string, names: string[] = [], values: string[] = []): unknown[] => ['lat', sample, names, values];
    const r = input('histogram_7-0.db', [
      [key('lat_bucket', ['le'], ['1']), 2],
      [key('lat_bucket', ['le'], ['+Inf']), 3],
      [key('lat_count'), 3],
      [key('lat_sum'), 1.25],
    ], 8);
    expect(plain(new Merger().merge([r]))).toEqual([
      [
        'lat',
        'histogram',
        'Multiprocess metric',
        [
          ['lat_bucket', { le: '1' }, 2],
          ['lat_bucket', { le: '+Inf' }, 3],
          ['lat_count', {}, 3],
          ['lat_sum', {}, 1.25],
        ],
      ],
    ]);
  });

  it('combines gauges by their mode: pid per process, min ignoring NaN, newest timestamp', () => {
    const files = [
      input('gauge_all_11.db', [[['temp', 'temp', { pid: 'x' }, 'T.'], 20]]),
      input('gauge_all_12.db', [[['temp', 'temp', {}, 'T.'], 21]]),
      input('gauge_min_1.db', [
        [['low', 'low', {}, 'L.'], NaN],
        [['nan', 'nan', {}, 'N.'], NaN],
      ]),
      input('gauge_min_2.db', [
        [['low', 'low', {}, 'L.'], 7],
        [['nan', 'nan', {}, 'N.'], NaN],
      ]),
      input('gauge_min_3.db', [[['low', 'low', {}, 'L.'], 5]]),
      input('gauge_mostrecent_1.db', [[['last', 'last', {}, 'M.'], 1, 200]]),
      input('gauge_mostrecent_2.db', [[['last', 'last', {}, 'M.'], 2, 100]]),
    ];
    expect(plain(new Merger().merge(files))).toEqual([
      ['last', 'gauge', 'M.', [['last', {}, 1]]],
      ['low', 'gauge', 'L.', [['low', {}, 5]]],
      ['nan', 'gauge', 'N.', [['nan', {}, NaN]]],
      [
        'temp',
        'gauge',
        'T.',
        [
          ['temp', { exported_pid: 'x', pid: '11' }, 20],
          ['temp', { pid: '12' }, 21],
        ],
      ],
    ]);
  });

  it('folds a dead file once: its values stay after it is closed, live* gauges drop, refold forgets them', () => {
    const a = input('counter_1.db', [[['jobs', 'jobs_total', {}, 'J.'], 5]]);
    const b = input('counter_2.db', [[['jobs', 'jobs_total', {}, 'J.'], 7]]);
    const la = input('gauge_livesum_1.db', [[['busy', 'busy', {}, 'B.'], 3]]);
    const lb = input('gauge_livesum_2.db', [[['busy', 'busy', {}, 'B.'], 4]]);
    const m = new Merger();
    expect(plain(m.merge([a, b, la, lb]))).toEqual([
      ['busy', 'gauge', 'B.', [['busy', {}, 7]]],
      ['jobs', 'counter', 'J.', [['jobs_total', {}, 12]]],
    ]);
    m.fold(b);
    m.fold(lb);
    b.isOpen = false;
    lb.isOpen = false;
    expect(plain(m.merge([a, la]))).toEqual([
      ['busy', 'gauge', 'B.', [['busy', {}, 3]]],
      ['jobs', 'counter', 'J.', [['jobs_total', {}, 12]]],
    ]);
    a.values[0] = 6; // a live file's value is read in place at every merge
    expect(plain(m.merge([a, la]))).toEqual([
      ['busy', 'gauge', 'B.', [['busy', {}, 3]]],
      ['jobs', 'counter', 'J.', [['jobs_total', {}, 13]]],
    ]);
    m.refold(() => {}); // b is gone: nothing left to fold
    expect(plain(m.merge([a, la]))).toEqual([
      ['busy', 'gauge', 'B.', [['busy', {}, 3]]],
      ['jobs', 'counter', 'J.', [['jobs_total', {}, 6]]],
    ]);
  });

  it('binds appended entries only, rebinds a rebuilt file, and forgets closed ones', () => {
    const f = input('counter_1.db', [[['a', 'a_total', {}, 'A.'], 1]]);
    const m = new Merger();
    expect(plain(m.merge([f]))).toEqual([['a', 'counter', 'A.', [['a_total', {}, 1]]]]);
    setEntries(f, [
      [['a', 'a_total', {}, 'A.'], 1],
      [['b', 'b_total', {}, 'B.'], 2],
    ]);
    expect(plain(m.merge([f]))).toEqual([
      ['a', 'counter', 'A.', [['a_total', {}, 1]]],
      ['b', 'counter', 'B.', [['b_total', {}, 2]]],
    ]);
    expect(m.seriesCount).toBe(2);
    setEntries(f, [[['c', 'c_total', {}, 'C.'], 3]]);
    f.generation++; // rewritten in place: its old entries are gone
    expect(plain(m.merge([f]))).toEqual([['c', 'counter', 'C.', [['c_total', {}, 3]]]]);
    expect(m.seriesCount).toBe(1);
    f.isOpen = false;
    expect(plain(m.merge([]))).toEqual([]);
    expect(m.seriesCount).toBe(0);
  });

  it('reports a family used with two types and serves the first one', () => {
    const c = input('counter_1.db', [[['requests', 'requests_total', {}, 'R.'], 2]]);
    const g = input('gauge_sum_2.db', [[['requests', 'requests', {}, 'R.'], 9]]);
    const m = new Merger();
    expect(plain(m.merge([c, g]))).toEqual([['requests', 'counter', 'R.', [['requests_total', {}, 2]]]]);
    expect(m.problems()).toEqual([{ fileName: 'gauge_sum_2.db', message: 'metric requests is a gauge here but a counter in other files; its gauge samples are not served' }]);
  });

  it('adds constant labels a series lacks, never overriding its own', () => {
    const f = input('counter_1.db', [
      [['r', 'r_total', { route: '/a' }, 'R.'], 1],
      [['r', 'r_total', { env: 'dev', route: '/b' }, 'R.'], 2],
    ]);
    expect(plain(new Merger([['env', 'prod']]).merge([f]))).toEqual([
      [
        'r',
        'counter',
        'R.',
        [
          ['r_total', { env: 'dev', route: '/b' }, 2],
          ['r_total', { env: 'prod', route: '/a' }, 1],
        ],
      ],
    ]);
  });
});
