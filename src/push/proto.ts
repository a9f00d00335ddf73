/**
 * The protobuf message types of Prometheus remote write 1.0 (prompb) and OTLP metrics, loaded
 * by protobufjs from the official .proto files vendored in proto/ (see proto/README.md).
 */
import { isAbsolute, join } from 'node:path';
import protobuf from 'protobufjs';

/** From dist/push/ and from src/push/ alike (the package ships src/push/proto). */
export const PROTO_DIR = join(import.meta.dirname, '..', '..', 'src', 'push', 'proto');

export interface PushProtos {
  readonly WriteRequest: protobuf.Type;
  readonly ExportMetricsServiceRequest: protobuf.Type;
  readonly ExportMetricsServiceResponse: protobuf.Type;
}

let loaded: PushProtos | undefined;

/** Parsed once, on first use. */
export function protos(): PushProtos {
  if (loaded !== undefined) return loaded;
  const root = new protobuf.Root();
  // prompb imports "types.proto" (beside it); OTLP imports from the repository root.
  root.resolvePath = (origin, target) => (isAbsolute(target) ? target : target.startsWith('opentelemetry/') || origin === '' ? join(PROTO_DIR, target) : join(origin, '..', target));
  root.loadSync([join(PROTO_DIR, 'prompb', 'remote.proto'), join(PROTO_DIR, 'opentelemetry/proto/collector/metrics/v1/metrics_service.proto')]);
  root.resolveAll();
  loaded = {
    WriteRequest: root.lookupType('prometheus.WriteRequest'),
    ExportMetricsServiceRequest: root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest'),
    ExportMetricsServiceResponse: root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse'),
  };
  return loaded;
}

/** prompb MetricMetadata.MetricType. */
export const RW_METRIC_TYPE = { unknown: 0, counter: 1, gauge: 2, histogram: 3, summary: 5 } as const;

/** OTLP AggregationTemporality. */
export const AGGREGATION_TEMPORALITY_CUMULATIVE = 2;
