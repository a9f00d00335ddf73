/**
 * Merged families → OTLP `ExportMetricsServiceRequest`s, cumulative temporality: counters as
 * monotonic Sums, gauges (and untyped) as Gauges, histograms as explicit-bounds Histograms
 * (per-bucket counts from the cumulative `_bucket` series), summaries as Summaries. Bodies are
 * gzipped (OTLP/HTTP `Content-Encoding: gzip`).
 *
 * Start times: when the daemon first saw the series; a counter (or histogram count) that went
 * down has started again, so its start becomes that collection's time.
 */
import { promisify } from 'node:util';
import { gzip as gzipCallback, constants as zlib } from 'node:zlib';
import type { Label, MetricFamily, Sample } from '../merge/model.js';
import type { RawBatch } from './batch.js';
import { AGGREGATION_TEMPORALITY_CUMULATIVE, protos } from './proto.js';

const gzip = promisify(gzipCallback);

export const OTLP_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'application/x-protobuf',
  'Content-Encoding': 'gzip',
};

export interface OtlpIdentity {
  /** Resource attributes (`--push.otlp.resource-attribute`), service.name among them. */
  readonly resourceAttributes: readonly (readonly [string, string])[];
  readonly scopeName: string;
  readonly scopeVersion: string;
}

interface KeyValue {
  readonly key: string;
  readonly value: { readonly stringValue: string };
}

interface Metric {
  readonly name: string;
  readonly description: string;
  sum?: { dataPoints: object[]; aggregationTemporality: number; isMonotonic: boolean };
  gauge?: { dataPoints: object[] };
  histogram?: { dataPoints: object[]; aggregationTemporality: number };
  summary?: { dataPoints: object[] };
}

interface Track {
  readonly startMs: number;
  readonly last: number;
}

/** Nanoseconds since the epoch, exactly (fixed64 is beyond a double's integers): protobufjs takes a decimal string. */
export function unixNanos(ms: number): string {
  return ms === 0 ? '0' : `${Math.trunc(ms)}000000`;
}

function attributes(labels: readonly Label[], without?: string): KeyValue[] {
  const out: KeyValue[] = [];
  for (const [key, value] of labels) if (key !== without) out.push({ key, value: { stringValue: value } });
  return out;
}

function labelValue(labels: readonly Label[], name: string): string | undefined {
  for (const [n, v] of labels) if (n === name) return v;
  return undefined;
}

function seriesKey(name: string, labels: readonly Label[], without?: string): string {
  let key = name;
  for (const [n, v] of labels) if (n !== without) key += `\u0000${n}\u0001${v}`;
  return key;
}

function parseBound(text: string | undefined): number {
  if (text === undefined) return NaN;
  if (text === '+Inf' || text === 'Inf') return Infinity;
  return Number(text);
}

/** What a sample contributes besides its value: long-lived merged samples keep it (see sampleInfo). */
interface SampleInfo {
  readonly familyName: string;
  /** The series (or, for a bucket or quantile, its histogram's or summary's) identity. */
  readonly key: string;
  /** Labels without `le` / `quantile`. */
  readonly labels: readonly Label[];
  readonly attributes: KeyValue[];
  /** `le` or `quantile` as a number (NaN when absent). */
  readonly bound: number;
}

const infos = new WeakMap<Sample, SampleInfo>();

/** Merged samples are long-lived objects (merge updates values in place): their labels are converted once. */
function sampleInfo(familyName: string, sample: Sample, without: 'le' | 'quantile' | undefined, keyName: string): SampleInfo {
  let info = infos.get(sample);
  if (info === undefined || info.familyName !== familyName) {
    const labels = without === undefined ? sample.labels : sample.labels.filter(([n]) => n !== without);
    info = { familyName, key: seriesKey(keyName, labels), labels, attributes: attributes(labels), bound: without === undefined ? NaN : parseBound(labelValue(sample.labels, without)) };
    infos.set(sample, info);
  }
  return info;
}

/** A histogram or summary data point being assembled from its samples. */
interface Group {
  readonly labels: readonly Label[];
  readonly attributes: KeyValue[];
  readonly key: string;
  readonly buckets: [bound: number, cumulative: number][];
  readonly quantiles: { quantile: number; value: number }[];
  count: number;
  sum: number;
  hasSum: boolean;
}

export class OtlpEncoder {
  private tracks = new Map<string, Track>();
  private readonly resource: { attributes: KeyValue[] };
  private readonly scope: { name: string; version: string };

  constructor(identity: OtlpIdentity) {
    this.resource = { attributes: identity.resourceAttributes.map(([key, value]) => ({ key, value: { stringValue: value } })) };
    this.scope = { name: identity.scopeName, version: identity.scopeVersion };
  }

  /** Data points of `families` collected at `atMs`, at most `maxPoints` per request. */
  encode(families: readonly MetricFamily[], atMs: number, maxPoints: number): RawBatch[] {
    const { ExportMetricsServiceRequest } = protos();
    const previous = this.tracks;
    const next = new Map<string, Track>();
    this.tracks = next;
    const time = unixNanos(atMs);
    const startOf = (key: string, value: number): string => {
      const before = previous.get(key) ?? next.get(key);
      const startMs = before === undefined || value < before.last ? atMs : before.startMs;
      next.set(key, { startMs, last: value });
      return unixNanos(startMs);
    };

    const batches: RawBatch[] = [];
    let metrics: Metric[] = [];
    let points = 0;
    const flush = (): void => {
      if (points === 0) return;
      const request = { resourceMetrics: [{ resource: this.resource, scopeMetrics: [{ scope: this.scope, metrics }] }] };
      batches.push({ message: ExportMetricsServiceRequest.encode(request).finish(), samples: points });
      metrics = [];
      points = 0;
    };
    /** The metric of this name in the current request (a new one after a flush). */
    let current: { name: string; metric: Metric } | null = null;
    const add = (name: string, make: () => Metric, point: object, list: (m: Metric) => object[]): void => {
      if (points >= maxPoints) {
        flush();
        current = null;
      }
      if (current === null || current.name !== name || metrics[metrics.length - 1] !== current.metric) {
        const metric = make();
        metrics.push(metric);
        current = { name, metric };
      }
      list(current.metric).push(point);
      points++;
    };

    for (const family of families) {
      const description = family.help;
      if (family.type === 'histogram' || family.type === 'summary') {
        const groups = this.groups(family);
        for (const g of groups) {
          if (family.type === 'histogram') {
            const point = this.histogramPoint(g, time, startOf(g.key, g.count));
            add(family.name, () => ({ name: family.name, description, histogram: { dataPoints: [], aggregationTemporality: AGGREGATION_TEMPORALITY_CUMULATIVE } }), point, (m) => m.histogram!.dataPoints);
          } else {
            const point = {
              attributes: g.attributes,
              startTimeUnixNano: startOf(g.key, g.count),
              timeUnixNano: time,
              count: wholeCount(g.count),
              sum: g.sum,
              quantileValues: g.quantiles.sort((a, b) => a.quantile - b.quantile),
            };
            add(family.name, () => ({ name: family.name, description, summary: { dataPoints: [] } }), point, (m) => m.summary!.dataPoints);
          }
        }
        continue;
      }
      for (const sample of family.samples) {
        if (family.type === 'counter') {
          if (sample.name.endsWith('_created')) continue; // a start time, not a value
          const info = sampleInfo(family.name, sample, undefined, sample.name);
          const point = { attributes: info.attributes, startTimeUnixNano: startOf(info.key, sample.value), timeUnixNano: time, asDouble: sample.value };
          add(sample.name, () => ({ name: sample.name, description, sum: { dataPoints: [], aggregationTemporality: AGGREGATION_TEMPORALITY_CUMULATIVE, isMonotonic: true } }), point, (m) => m.sum!.dataPoints);
        } else {
          const point = { attributes: sampleInfo(family.name, sample, undefined, sample.name).attributes, timeUnixNano: time, asDouble: sample.value };
          add(sample.name, () => ({ name: sample.name, description, gauge: { dataPoints: [] } }), point, (m) => m.gauge!.dataPoints);
        }
      }
    }
    flush();
    return batches;
  }

  /** A histogram's or summary's samples per label set (without `le`/`quantile`), in first-seen order. */
  private groups(family: MetricFamily): Group[] {
    const byKey = new Map<string, Group>();
    const isHistogram = family.type === 'histogram';
    const group = (info: SampleInfo): Group => {
      let g = byKey.get(info.key);
      if (g === undefined) {
        g = { labels: info.labels, attributes: info.attributes, key: info.key, buckets: [], quantiles: [], count: 0, sum: 0, hasSum: false };
        byKey.set(info.key, g);
      }
      return g;
    };
    for (const s of family.samples) {
      const suffix = s.name.slice(family.name.length);
      if (isHistogram && suffix === '_bucket') {
        const info = sampleInfo(family.name, s, 'le', family.name);
        if (!Number.isNaN(info.bound)) group(info).buckets.push([info.bound, s.value]);
      } else if (!isHistogram && suffix === '') {
        const info = sampleInfo(family.name, s, 'quantile', family.name);
        if (!Number.isNaN(info.bound)) group(info).quantiles.push({ quantile: info.bound, value: s.value });
      } else if (suffix === '_count' || suffix === '_sum') {
        const g = group(sampleInfo(family.name, s, undefined, family.name));
        if (suffix === '_count') g.count = s.value;
        else {
          g.sum = s.value;
          g.hasSum = true;
        }
      }
    }
    return [...byKey.values()];
  }

  private histogramPoint(g: Group, time: string, start: string): object {
    const buckets = g.buckets.sort((a, b) => a[0] - b[0]);
    const explicitBounds: number[] = [];
    const bucketCounts: number[] = [];
    let below = 0;
    for (const [bound, cumulative] of buckets) {
      if (bound !== Infinity) explicitBounds.push(bound);
      bucketCounts.push(wholeCount(cumulative - below));
      below = Math.max(below, cumulative);
    }
    if (buckets.length === 0 || buckets[buckets.length - 1]![0] !== Infinity) bucketCounts.push(wholeCount(g.count - below));
    return {
      attributes: g.attributes,
      startTimeUnixNano: start,
      timeUnixNano: time,
      count: wholeCount(g.count),
      ...(g.hasSum ? { sum: g.sum } : {}),
      bucketCounts,
      explicitBounds,
    };
  }
}

/** OTLP counts are unsigned integers; the files hold doubles (whole numbers when written by a histogram). */
function wholeCount(v: number): number {
  return Number.isFinite(v) && v > 0 ? Math.round(v) : 0;
}

export function gzipCompress(message: Uint8Array): Promise<Buffer> {
  return gzip(message, { level: zlib.Z_BEST_SPEED });
}

/** A 2xx answer may still reject part of the request (OTLP partial success). */
export function partialSuccess(body: Buffer): { rejected: number; message: string } | null {
  if (body.length === 0) return null;
  try {
    const { ExportMetricsServiceResponse } = protos();
    const r = ExportMetricsServiceResponse.toObject(ExportMetricsServiceResponse.decode(body), { longs: Number }) as { partialSuccess?: { rejectedDataPoints?: number; errorMessage?: string } };
    const p = r.partialSuccess;
    if (p === undefined || ((p.rejectedDataPoints ?? 0) === 0 && (p.errorMessage ?? '') === '')) return null;
    return { rejected: p.rejectedDataPoints ?? 0, message: p.errorMessage ?? '' };
  } catch {
    return null; // not protobuf (e.g. JSON from a proxy): nothing to report
  }
}
