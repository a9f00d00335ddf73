/**
 * The dialect rules of the merge (docs/FORMAT.md §5): which family and series an entry belongs to and
 * how its values combine, from the file name (type, gauge mode, process id) and the key (Python
 * or Ruby shaped). Pure functions: the Merger calls them once per distinct key and context.
 */
import { parseBound } from '../format/bound.js';
import type { FileType, GaugeMode } from '../format/filename.js';
import type { DecodedKey } from '../format/key.js';
import { Op } from './accumulator.js';
import type { MergeInput } from './input.js';
import type { Label } from './model.js';
import type { SeriesRole } from './series.js';

export const OP_BY_MODE: Record<GaugeMode, Op> = {
  all: Op.Last,
  liveall: Op.Last,
  min: Op.Min,
  livemin: Op.Min,
  max: Op.Max,
  livemax: Op.Max,
  sum: Op.Sum,
  livesum: Op.Sum,
  mostrecent: Op.MostRecent,
  livemostrecent: Op.MostRecent,
};

/** Where an entry goes inside its family. */
export interface Placement {
  /** Output labels (before constant labels). */
  readonly labels: readonly Label[];
  /** Labels that identify the series (`le` normalised: `1` and `1.0` are one bucket). */
  readonly identity: readonly Label[];
  readonly op: Op;
  readonly role: SeriesRole;
  /** Bucket bound, NaN for other samples. */
  readonly bound: number;
  /** The synthesized `_count` a Python bucket entry also keeps alive, or null. */
  readonly companion: { readonly name: string; readonly labels: readonly Label[] } | null;
}

/** What, besides the key, decides an entry's series: type, gauge mode, pid for all/liveall. */
export function bindingContext(file: MergeInput): string {
  const mode = file.parsed.mode;
  if (mode === undefined) return file.parsed.type;
  return OP_BY_MODE[mode] === Op.Last ? `gauge:${mode}:${file.processId}` : `gauge:${mode}`;
}

/** The family an entry of a file of this type belongs to. */
export function familyNameOf(type: FileType, key: DecodedKey): string {
  return type === 'counter' ? counterFamilyName(key) : key.metric;
}

/** Where an entry of this file goes in its family (the family's type matches the file's). */
export function placeEntry(file: MergeInput, key: DecodedKey): Placement {
  const type = file.parsed.type;
  let labels = key.labels;
  let op = Op.Sum;
  let role: SeriesRole = 'other';
  let bound = NaN;
  let identity: readonly Label[] = labels;
  let companion: Placement['companion'] = null;
  if (type === 'gauge') {
    op = OP_BY_MODE[file.parsed.mode!];
    if (op === Op.Last) labels = identity = withProcessLabel(labels, file.processId);
  } else if (type === 'histogram' || type === 'summary') {
    role = roleOf(key.sample, type, labels);
    if (role === 'bucket') {
      bound = parseBound(labels.find((l) => l[0] === 'le')![1]);
      // Bounds that are numerically equal (`1`, `1.0`) are one bucket; the first text seen is kept.
      identity = labels.map((l) => (l[0] === 'le' ? (['le', String(bound)] as const) : l));
      if (key.shape !== 'ruby') {
        // Python: per-bucket counts, and no `_count` on disk (synthesized from the buckets).
        op = Op.BucketCount;
        companion = { name: `${key.metric}_count`, labels: labels.filter((l) => l[0] !== 'le') };
      }
    }
  }
  return { labels, identity, op, role, bound, companion };
}

/**
 * OpenMetrics family of a counter: Python stores (`requests`, `requests_total`), Ruby
 * (`requests_total`, `requests_total`); both are family `requests`. A Ruby counter not named
 * `…_total` keeps its own name (exposition marks it `unknown` in OpenMetrics).
 */
function counterFamilyName(key: DecodedKey): string {
  const base = key.metric.endsWith('_total') ? key.metric.slice(0, -6) : key.metric;
  return key.sample === `${base}_total` ? base : key.metric;
}

function roleOf(sample: string, type: 'histogram' | 'summary', labels: readonly Label[]): SeriesRole {
  if (sample.endsWith('_sum')) return 'sum';
  if (sample.endsWith('_count')) return 'count';
  if (type === 'histogram' && sample.endsWith('_bucket') && labels.some((l) => l[0] === 'le')) {
    const le = labels.find((l) => l[0] === 'le')![1];
    if (!Number.isNaN(parseBound(le))) return 'bucket';
  }
  return 'other';
}

/**
 * all/liveall gauges are per process: add `pid`. A user label already named `pid` becomes
 * `exported_pid` (Prometheus' convention for a clash) instead of yielding duplicate series; if
 * that name is taken too, `exported_exported_pid`, and so on, as Prometheus renames target labels.
 */
function withProcessLabel(labels: readonly Label[], processId: string): Label[] {
  const out: Label[] = [];
  for (const l of labels) {
    if (l[0] !== 'pid') {
      out.push(l);
      continue;
    }
    let name = 'exported_pid';
    while (labels.some((other) => other[0] === name)) name = `exported_${name}`;
    out.push([name, l[1]]);
  }
  out.push(['pid', processId]);
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}
