/**
 * The exposition gate: before rendering, every merged family and series is checked against what
 * Prometheus and strict parsers (client_golang's expfmt, used by `promtool check metrics` and
 * federation) accept, because one bad line makes them reject the WHOLE scrape. What fails is left
 * out and reported (reason, family, series); everything else is served.
 *
 * Rules (docs/FORMAT.md, "The exposition gate"):
 * - names: metric names `[a-zA-Z_:][a-zA-Z0-9_:]*`; label names `[a-zA-Z_][a-zA-Z0-9_]*`, none
 *   reserved (`__…`), none twice in one series;
 * - the daemon's own namespace: a merged family claiming a name under `multiproc_exporter_` is
 *   left out (but the writer's heartbeat gauge), so self metrics are never shadowed or doubled;
 * - sample names fit the family type (`_total` of counters; `_bucket`/`_count`/`_sum` of
 *   histograms; `_count`/`_sum` of summaries), a bucket has a numeric `le`, a quantile a numeric
 *   `quantile`;
 * - families never collide through suffixes: counter `x` (sample `x_total`) beside a family
 *   `x_total`, histogram `h` beside `h_bucket`… The family whose name sorts first keeps the name;
 *   the other is left out. Decided from the set of families, so it is stable across scrapes;
 * - no two series of a family render the same line.
 *
 * Cost: a family is re-checked only when its sample list changes (new or vanished series); in a
 * steady state a scrape costs one WeakMap lookup per family. Collisions are re-computed only when
 * the family list changes.
 */
import { HEARTBEAT_METRIC, SELF_PREFIX } from '../format/reserved.js';
import type { MetricFamily, Sample } from '../merge/model.js';
import { samplePrefix } from './sample-prefix.js';

export type RejectReason =
  | 'bad_metric_name'
  | 'reserved_metric_name'
  | 'bad_label_name'
  | 'reserved_label_name'
  | 'duplicate_label_name'
  | 'bad_sample_name'
  | 'bad_bucket_bound'
  | 'bad_quantile'
  | 'duplicate_series'
  | 'name_collision';

export interface Rejection {
  readonly reason: RejectReason;
  /** The family left out, or the family of the series left out. */
  readonly family: string;
  /** The series left out (`name{labels}`), or undefined when the whole family is. */
  readonly series: string | undefined;
  /** What is wrong and what happens next, for the log. */
  readonly message: string;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** A float both Go's strconv.ParseFloat and Prometheus read: decimal, exponent, ±Inf, NaN. */
const FLOAT_TEXT = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)$/;

interface FamilyMemo {
  /** The sample list this decision was made for (families replace it when series change). */
  readonly samples: readonly Sample[];
  /** What to render: the family itself, a view with fewer samples, or null (left out). */
  readonly admitted: MetricFamily | null;
  readonly rejections: readonly Rejection[];
}

export class ExpositionGate {
  private readonly memo = new WeakMap<MetricFamily, FamilyMemo>();
  private collisionsFor: readonly MetricFamily[] | null = null;
  private collisionCount = -1;
  private collided = new Map<MetricFamily, Rejection>();
  private lastRejections: readonly Rejection[] = [];

  /**
   * `reservedPrefix`: the daemon's own metric namespace, closed to merged families, but for the
   * names in `allowed` (the writer's heartbeat gauge, which our writer puts in the files).
   */
  constructor(
    private readonly reservedPrefix: string = SELF_PREFIX,
    private readonly allowed: ReadonlySet<string> = new Set([HEARTBEAT_METRIC]),
  ) {}

  /** Rejections of the last `admit()`: every family and series left out, with its reason. */
  get rejections(): readonly Rejection[] {
    return this.lastRejections;
  }

  /**
   * The families to render: `families` itself when nothing is left out (the common case), else
   * a new list without what fails. Families must be sorted by name (the merge's order).
   */
  admit(families: readonly MetricFamily[]): readonly MetricFamily[] {
    if (families !== this.collisionsFor || families.length !== this.collisionCount) this.findCollisions(families);
    let out: MetricFamily[] | null = null;
    let rejections: Rejection[] | null = null;
    for (let i = 0; i < families.length; i++) {
      const family = families[i]!;
      const collision = this.collided.get(family);
      let admitted: MetricFamily | null;
      if (collision !== undefined) {
        admitted = null;
        (rejections ??= []).push(collision);
      } else {
        const m = this.check(family);
        admitted = m.admitted;
        if (m.rejections.length > 0) (rejections ??= []).push(...m.rejections);
      }
      if (admitted !== family && out === null) out = families.slice(0, i);
      if (out !== null && admitted !== null) out.push(admitted);
    }
    this.lastRejections = rejections ?? [];
    return out ?? families;
  }

  private check(family: MetricFamily): FamilyMemo {
    const samples = family.samples;
    const known = this.memo.get(family);
    if (known !== undefined && known.samples === samples) return known;
    const m = checkFamily(family, this.reservedPrefix, this.allowed);
    this.memo.set(family, m);
    return m;
  }

  private findCollisions(families: readonly MetricFamily[]): void {
    this.collisionsFor = families;
    this.collisionCount = families.length;
    this.collided = new Map();
    const owner = new Map<string, MetricFamily>();
    for (const family of families) {
      // Sorted by name: a family's own name is claimed before any longer name built on it.
      const names = claimedNames(family);
      const taken = names.map((n) => owner.get(n)).find((f) => f !== undefined);
      if (taken !== undefined) {
        this.collided.set(family, {
          reason: 'name_collision',
          family: family.name,
          series: undefined,
          message: `${family.type} family ${family.name} uses the name ${names.find((n) => owner.get(n) === taken)} of the ${taken.type} family ${taken.name} (parsers would merge or reject them); left out, ${taken.name} served`,
        });
        continue;
      }
      for (const n of names) owner.set(n, family);
    }
  }
}

/** The names a family's lines may carry in either text format (and `_created` of OpenMetrics). */
function claimedNames(family: MetricFamily): string[] {
  const n = family.name;
  switch (family.type) {
    case 'counter':
      return [n, `${n}_total`, `${n}_created`];
    case 'histogram':
      return [n, `${n}_bucket`, `${n}_count`, `${n}_sum`, `${n}_created`];
    case 'summary':
      return [n, `${n}_count`, `${n}_sum`, `${n}_created`];
    default:
      return [n];
  }
}

function checkFamily(family: MetricFamily, reservedPrefix: string, allowed: ReadonlySet<string>): FamilyMemo {
  const samples = family.samples;
  const whole = (reason: RejectReason, why: string): FamilyMemo => ({
    samples,
    admitted: null,
    rejections: [{ reason, family: family.name, series: undefined, message: `${family.type} family ${JSON.stringify(family.name)} ${why}; left out, other families served` }],
  });
  if (!METRIC_NAME.test(family.name)) return whole('bad_metric_name', 'has an invalid metric name');
  const reserved = allowed.has(family.name) ? undefined : claimedNames(family).find((n) => n.startsWith(reservedPrefix));
  if (reserved !== undefined) return whole('reserved_metric_name', `would expose ${reserved}, in the daemon's own ${reservedPrefix}* namespace`);

  let kept: Sample[] | null = null;
  const rejections: Rejection[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < samples.length; i++) {
    const sample = samples[i]!;
    let problem = checkSample(family, sample);
    if (problem === null) {
      const line = samplePrefix(sample);
      if (seen.has(line)) problem = ['duplicate_series', 'renders the same line as another series of its family'];
      else seen.add(line);
    }
    if (problem === null) {
      kept?.push(sample);
      continue;
    }
    kept ??= samples.slice(0, i) as Sample[];
    const series = samplePrefix(sample).trimEnd();
    rejections.push({ reason: problem[0], family: family.name, series, message: `series ${series} of ${family.type} family ${family.name} ${problem[1]}; left out, other series served` });
  }
  if (kept === null) return { samples, admitted: family, rejections };
  // A view of the family with fewer samples; name, type and help stay the family's own (help may change).
  const view = Object.create(family) as MetricFamily & { samples: readonly Sample[] };
  Object.defineProperty(view, 'samples', { value: kept, enumerable: true });
  return { samples, admitted: kept.length === 0 ? null : view, rejections };
}

function checkSample(family: MetricFamily, sample: Sample): [RejectReason, string] | null {
  const labels = sample.labels;
  for (let i = 0; i < labels.length; i++) {
    const name = labels[i]![0];
    if (!LABEL_NAME.test(name)) return ['bad_label_name', `has an invalid label name ${JSON.stringify(name)}`];
    if (name.startsWith('__')) return ['reserved_label_name', `has the reserved label name ${name} (names starting with __ are Prometheus' own)`];
    for (let j = 0; j < i; j++) if (labels[j]![0] === name) return ['duplicate_label_name', `has the label ${name} twice`];
  }
  const n = family.name;
  const s = sample.name;
  switch (family.type) {
    case 'counter':
      if (s !== `${n}_total` && s !== n) return ['bad_sample_name', `is not named ${n}_total`];
      break;
    case 'histogram':
      if (s === `${n}_bucket`) {
        const le = labels.find((l) => l[0] === 'le');
        if (le === undefined || !FLOAT_TEXT.test(le[1])) return ['bad_bucket_bound', `has ${le === undefined ? 'no le label' : `le=${JSON.stringify(le[1])}, not a number`}`];
      } else if (s !== `${n}_count` && s !== `${n}_sum`) {
        return ['bad_sample_name', `is not named ${n}_bucket, ${n}_count or ${n}_sum`];
      }
      break;
    case 'summary':
      if (s === n) {
        const q = labels.find((l) => l[0] === 'quantile');
        if (q === undefined || !FLOAT_TEXT.test(q[1])) return ['bad_quantile', `has ${q === undefined ? 'no quantile label' : `quantile=${JSON.stringify(q[1])}, not a number`}`];
      } else if (s !== `${n}_count` && s !== `${n}_sum`) {
        return ['bad_sample_name', `is not named ${n}, ${n}_count or ${n}_sum`];
      }
      break;
    default:
      if (s !== n) return ['bad_sample_name', `is not named ${n}`];
  }
  return null;
}
