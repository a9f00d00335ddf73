/**
 * Test-side decoding of push request bodies with the official .proto definitions (the vendored
 * copies in src/push/proto, loaded here by a Root of its own, not through src/push/proto.ts).
 */
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import snappy from 'snappyjs';

const DIR = join(import.meta.dirname, '..', '..', 'src', 'push', 'proto');

function load(): { writeRequest: protobuf.Type; exportRequest: protobuf.Type; exportResponse: protobuf.Type } {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith('/') ? target : target === 'types.proto' ? join(DIR, 'prompb', target) : join(DIR, target));
  root.loadSync([join(DIR, 'prompb', 'remote.proto'), join(DIR, 'opentelemetry/proto/collector/metrics/v1/metrics_service.proto')]);
  return {
    writeRequest: root.lookupType('prometheus.WriteRequest'),
    exportRequest: root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest'),
    exportResponse: root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse'),
  };
}

export const types = load();

export interface DecodedWriteRequest {
  timeseries: { labels: { name: string; value: string }[]; samples: { value: number; timestamp: number }[] }[];
  metadata: { type: string; metricFamilyName: string; help: string }[];
}

/** A remote write body: snappy block format, then prometheus.WriteRequest. */
export function decodeWriteRequest(body: Uint8Array): DecodedWriteRequest {
  const raw = snappy.uncompress(new Uint8Array(body));
  const o = types.writeRequest.toObject(types.writeRequest.decode(raw), { longs: Number, enums: String, defaults: true }) as DecodedWriteRequest;
  return o;
}

export interface OtlpKeyValue {
  key: string;
  value: { stringValue?: string };
}

export interface OtlpNumberPoint {
  attributes: OtlpKeyValue[];
  startTimeUnixNano: string;
  timeUnixNano: string;
  asDouble?: number;
}

export interface OtlpHistogramPoint {
  attributes: OtlpKeyValue[];
  startTimeUnixNano: string;
  timeUnixNano: string;
  count: string;
  sum?: number;
  bucketCounts: string[];
  explicitBounds: number[];
}

export interface OtlpSummaryPoint {
  attributes: OtlpKeyValue[];
  startTimeUnixNano: string;
  timeUnixNano: string;
  count: string;
  sum: number;
  quantileValues: { quantile: number; value: number }[];
}

export interface OtlpMetric {
  name: string;
  description: string;
  sum?: { dataPoints: OtlpNumberPoint[]; aggregationTemporality: string; isMonotonic: boolean };
  gauge?: { dataPoints: OtlpNumberPoint[] };
  histogram?: { dataPoints: OtlpHistogramPoint[]; aggregationTemporality: string };
  summary?: { dataPoints: OtlpSummaryPoint[] };
}

export interface DecodedExport {
  resourceMetrics: { resource: { attributes: OtlpKeyValue[] }; scopeMetrics: { scope: { name: string; version: string }; metrics: OtlpMetric[] }[] }[];
}

/** An OTLP/HTTP body: gzip, then ExportMetricsServiceRequest; 64-bit integers as decimal strings. */
export function decodeExport(body: Uint8Array, gzipped = true): DecodedExport {
  const raw = gzipped ? gunzipSync(body) : body;
  return types.exportRequest.toObject(types.exportRequest.decode(raw), { longs: String, enums: String, defaults: true, arrays: true }) as DecodedExport;
}

/** Attributes as a plain object. */
export function attrs(list: readonly OtlpKeyValue[]): Record<string, string> {
  return Object.fromEntries(list.map((kv) => [kv.key, kv.value.stringValue ?? '']));
}
