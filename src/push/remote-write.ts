/**
 * Merged families → Prometheus remote write 1.0 `WriteRequest`s: one time series per sample
 * (histograms as their classic `_bucket`/`_count`/`_sum` series), `__name__` among the sorted
 * labels, the collection time as the timestamp, and each family's type and help as metadata.
 * Bodies are snappy block-compressed (the spec's `Content-Encoding: snappy`).
 */
import snappy from 'snappyjs';
import type { Label, MetricFamily } from '../merge/model.js';
import type { RawBatch } from './batch.js';
import { protos, RW_METRIC_TYPE } from './proto.js';

export const REMOTE_WRITE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'application/x-protobuf',
  'Content-Encoding': 'snappy',
  'X-Prometheus-Remote-Write-Version': '0.1.0',
};

interface PbLabel {
  readonly name: string;
  readonly value: string;
}

interface PbTimeSeries {
  readonly labels: PbLabel[];
  readonly samples: { readonly value: number; readonly timestamp: number }[];
}

interface PbMetadata {
  readonly type: number;
  readonly metricFamilyName: string;
  readonly help: string;
}

/** The labels of one series in the order the spec requires: sorted by name, `__name__` included. */
export function seriesLabels(name: string, labels: readonly Label[]): PbLabel[] {
  const out: PbLabel[] = [];
  let placed = false;
  for (const [n, v] of labels) {
    if (!placed && n > '__name__') {
      out.push({ name: '__name__', value: name });
      placed = true;
    }
    out.push({ name: n, value: v });
  }
  if (!placed) out.push({ name: '__name__', value: name });
  return out;
}

/**
 * The name Prometheus records metadata under: a counter's sample name (`x_total`) when all its
 * samples share it, as a text-format scrape gives; else the family name.
 */
function metadataName(family: MetricFamily): string {
  if (family.type !== 'counter' || family.samples.length === 0) return family.name;
  const first = family.samples[0]!.name;
  return family.samples.every((s) => s.name === first) ? first : family.name;
}

/** Samples of `families` at `timestampMs`, at most `maxSamples` per request; empty families send nothing. */
export function encodeRemoteWrite(families: readonly MetricFamily[], timestampMs: number, maxSamples: number): RawBatch[] {
  const { WriteRequest } = protos();
  const batches: RawBatch[] = [];
  let timeseries: PbTimeSeries[] = [];
  let metadata: PbMetadata[] = [];
  const flush = (): void => {
    if (timeseries.length === 0) return;
    batches.push({ message: WriteRequest.encode({ timeseries, metadata }).finish(), samples: timeseries.length });
    timeseries = [];
    metadata = [];
  };
  for (const family of families) {
    if (family.samples.length === 0) continue;
    const meta: PbMetadata = { type: RW_METRIC_TYPE[family.type], metricFamilyName: metadataName(family), help: family.help };
    for (const sample of family.samples) {
      if (timeseries.length >= maxSamples) flush();
      if (metadata.at(-1) !== meta) metadata.push(meta); // each request carries the metadata of its families
      timeseries.push({ labels: seriesLabels(sample.name, sample.labels), samples: [{ value: sample.value, timestamp: timestampMs }] });
    }
  }
  flush();
  return batches;
}

export function snappyCompress(message: Uint8Array): Buffer {
  return Buffer.from(snappy.compress(message));
}
