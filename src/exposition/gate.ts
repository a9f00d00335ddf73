/**
 * The exposition gate: before rendering, every merged family and series is checked against what
 * Prometheus and strict parsers (client_golang's expfmt, used by `promtool check metrics` and
 * federation; prometheus_client's OpenMetrics parser) accept, because one bad line makes them
 * reject the WHOLE scrape. What fails is left out and reported (reason, family, series);
 * everything else is served.
 *
 * Rules (docs/FORMAT.md §5.6, "The exposition gate"):
 * - names: metric names `[a-zA-Z_:][a-zA-Z0-9_:]*`; label names `[a-zA-Z_][a-zA-Z0-9_]*`, none
 *   reserved (`__…`), none twice in one series;
 * - reserved metric names: a merged family claiming a name under `multiproc_exporter_` is left
 *   out (but the writer's heartbeat gauge), so self metrics are never shadowed or doubled; a
 *   series named like one Prometheus writes for every target (`up`, `scrape_…`) is left out, as
 *   Prometheus would store it in place of its own;
 * - sample names fit the family type (`_total` of counters, all or none of a family's series;
 *   `_bucket`/`_count`/`_sum` of histograms; `_count`/`_sum` of summaries), a bucket has a
 *   numeric `le` (not NaN, `+Inf` spelt so), a quantile a number in [0, 1];
 * - histograms: every label set has a `+Inf` bucket and bounds in increasing order, and `_count`
 *   with `_sum` or neither; no `_sum` beside buckets below zero (OpenMetrics): else `_count` and
 *   `_sum` are left out, buckets served;
 * - values (checked on every scrape, as they change): counters' `_total` and `_sum`s are neither
 *   NaN nor negative, bucket and `_count` values are whole numbers ≥ 0. A histogram whose buckets
 *   fail is left out for that label set; a failing `_count`/`_sum` takes its pair with it. Not
 *   checked: buckets that decrease, `_count` ≠ the `+Inf` bucket. A lock-free read of a live Ruby
 *   writer sees them between the increments of one observe() (`_count`, `+Inf`, then the buckets
 *   in order), so leaving them out would make live histograms flicker; Prometheus takes them
 *   (histogram_quantile enforces monotonicity itself), prometheus_client's parser does not;
 * - families never collide through suffixes: counter `x` (sample `x_total`) beside a family
 *   `x_total`, histogram `h` beside `h_bucket`… The family whose name sorts first keeps the name;
 *   the other is left out. Decided from the set of families, so it is stable across scrapes;
 * - no two series of a family render the same line.
 *
 * Cost: a family's structure is re-checked only when its sample list changes (new or vanished
 * series); in a steady state a scrape costs one WeakMap lookup per family plus one comparison
 * per counter, histogram and summary sample, and allocates only for what it leaves out.
 * Collisions are re-computed only when the family list changes.
 */
import { HEARTBEAT_METRIC, SELF_PREFIX } from '../format/reserved.js';
import type { MetricFamily, Sample } from '../merge/model.js';
import { samplePrefix } from './sample-prefix.js';

import { escapeLabelValue } from './escape.js';
import { formatValue } from './number.js';

export type RejectReason =
  | 'bad_metric_name'
  | 'reserved_metric_name'
  | 'bad_label_name'
  | 'reserved_label_name'
  | 'duplicate_label_name'
  | 'bad_sample_name'
  | 'bad_bucket_bound'
  | 'missing_inf_bucket'
  | 'bad_quantile'
  | 'bad_counter_value'
  | 'bad_bucket_value'
  | 'bad_count_or_sum'
  | 'duplicate_series'
  | 'name_collision';

export interface Rejection {
  readonly reason: RejectReason;
  /** The family left out, or the family of the series left out. */
  readonly family: string;
  /** The series left out (`name{labels}`; a histogram's label set: `family{labels}`), or undefined when the whole family is. */
  readonly series: string | undefined;
  /** What is wrong and what happens next, for the log. */
  readonly message: string;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** A finite decimal both Go's strconv.ParseFloat and Python's float() read. */
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Series Prometheus writes itself for every target (with `--enable-feature=extra-scrape-metrics`
 * the last three): a scraped sample of that name and the target's labels is stored in place of
 * Prometheus' own (`up` reads 0.5), so they are closed to merged families.
 */
const PROMETHEUS_OWN: ReadonlySet<string> = new Set([
  'up',
  'scrape_duration_seconds',
  'scrape_samples_scraped',
  'scrape_samples_post_metric_relabeling',
  'scrape_series_added',
  'scrape_timeout_seconds',
  'scrape_sample_limit',
  'scrape_body_size_bytes',
]);

/** What a value must be, checked on every scrape (OpenMetrics 1.0; prometheus_client's parser enforces it). */
const enum Rule {
  /** Counter-like (`_total`, `_sum`): neither NaN nor negative. */
  CounterLike,
  /** A count (`_count`): a whole number ≥ 0. */
  Whole,
  /** A quantile: NaN or ≥ 0. */
  Quantile,
}

/** One label set of a histogram whose values are checked together. Indices are into the admitted samples. */
interface HistogramGroup {
  /** `family{labels}` without `le`, for messages. */
  readonly series: string;
  /** Buckets in output order (increasing bounds; the last is +Inf). */
  readonly buckets: readonly number[];
  /** `_count` and `_sum`, both or neither (-1). */
  readonly count: number;
  readonly sum: number;
}

interface ValuePlan {
  /** Samples checked one by one: index, rule, and the reason when the rule fails. */
  readonly single: readonly number[];
  readonly rules: readonly Rule[];
  readonly reasons: readonly RejectReason[];
  readonly groups: readonly HistogramGroup[];
}

interface FamilyMemo {
  /** The sample list this decision was made for (families replace it when series change). */
  readonly samples: readonly Sample[];
  /** What to render if every value passes: the family itself, a view with fewer samples, or null (left out). */
  readonly admitted: MetricFamily | null;
  readonly rejections: readonly Rejection[];
  /** The value checks of every scrape over `admitted.samples`; null when there are none (gauges). */
  readonly plan: ValuePlan | null;
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
   * a new list without what fails. Families must be sorted by name (the merge's order). Values
   * are read now: call it once per scrape, after the merge has set them.
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
        if (admitted !== null && m.plan !== null) {
          const v = checkValues(family, admitted, m.plan);
          if (v !== null) {
            admitted = v.admitted;
            (rejections ??= []).push(...v.rejections);
          }
        }
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

/** A view of the family with fewer samples; name, type and help stay the family's own (help may change). */
function view(family: MetricFamily, samples: readonly Sample[]): MetricFamily | null {
  if (samples.length === 0) return null;
  const v = Object.create(family) as MetricFamily & { samples: readonly Sample[] };
  Object.defineProperty(v, 'samples', { value: samples, enumerable: true });
  return v;
}

function checkFamily(family: MetricFamily, reservedPrefix: string, allowed: ReadonlySet<string>): FamilyMemo {
  const samples = family.samples;
  const whole = (reason: RejectReason, why: string): FamilyMemo => ({
    samples,
    admitted: null,
    rejections: [{ reason, family: family.name, series: undefined, message: `${family.type} family ${JSON.stringify(family.name)} ${why}; left out, other families served` }],
    plan: null,
  });
  if (!METRIC_NAME.test(family.name)) return whole('bad_metric_name', 'has an invalid metric name');
  const reserved = allowed.has(family.name) ? undefined : claimedNames(family).find((n) => n.startsWith(reservedPrefix));
  if (reserved !== undefined) return whole('reserved_metric_name', `would expose ${reserved}, in the daemon's own ${reservedPrefix}* namespace`);

  // 1. Series one by one: names, labels, duplicates.
  const total = `${family.name}_total`;
  const hasTotal = family.type === 'counter' && samples.some((s) => s.name === total);
  let kept: Sample[] | null = null;
  const rejections: Rejection[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < samples.length; i++) {
    const sample = samples[i]!;
    let problem = checkSample(family, sample, hasTotal);
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
  let list: readonly Sample[] = kept ?? samples;

  // 2. Histograms: each label set as a whole.
  let groups: HistogramGroup[] = [];
  if (family.type === 'histogram') {
    const checked = checkHistograms(family, list);
    rejections.push(...checked.rejections);
    list = checked.samples;
    groups = checked.groups;
  }

  // 3. What the values must be on every scrape.
  const single: number[] = [];
  const rules: Rule[] = [];
  const reasons: RejectReason[] = [];
  const rule = (i: number, r: Rule, reason: RejectReason): void => {
    single.push(i);
    rules.push(r);
    reasons.push(reason);
  };
  for (let i = 0; i < list.length; i++) {
    const s = list[i]!.name;
    if (family.type === 'counter' && s === total) rule(i, Rule.CounterLike, 'bad_counter_value');
    else if (family.type === 'summary') {
      if (s === family.name) rule(i, Rule.Quantile, 'bad_quantile');
      else if (s === `${family.name}_count`) rule(i, Rule.Whole, 'bad_count_or_sum');
      else rule(i, Rule.CounterLike, 'bad_count_or_sum');
    }
  }
  const plan = single.length > 0 || groups.length > 0 ? { single, rules, reasons, groups } : null;
  return { samples, admitted: list === samples ? family : view(family, list), rejections, plan };
}

function checkSample(family: MetricFamily, sample: Sample, hasTotal: boolean): [RejectReason, string] | null {
  const labels = sample.labels;
  for (let i = 0; i < labels.length; i++) {
    const name = labels[i]![0];
    if (!LABEL_NAME.test(name)) return ['bad_label_name', `has an invalid label name ${JSON.stringify(name)}`];
    if (name.startsWith('__')) return ['reserved_label_name', `has the reserved label name ${name} (names starting with __ are Prometheus' own)`];
    for (let j = 0; j < i; j++) if (labels[j]![0] === name) return ['duplicate_label_name', `has the label ${name} twice`];
  }
  const n = family.name;
  const s = sample.name;
  if (PROMETHEUS_OWN.has(s)) return ['reserved_metric_name', `is named like the series Prometheus writes for every target (it would be stored in place of Prometheus' own)`];
  switch (family.type) {
    case 'counter':
      if (s === n && hasTotal) return ['bad_sample_name', `is named ${n} while other series of the family are named ${n}_total (parsers would split the family)`];
      if (s !== `${n}_total` && s !== n) return ['bad_sample_name', `is not named ${n}_total`];
      break;
    case 'histogram':
      if (s === `${n}_bucket`) {
        const le = labels.find((l) => l[0] === 'le');
        if (le === undefined) return ['bad_bucket_bound', 'has no le label'];
        if (bucketBound(le[1]) === undefined) return ['bad_bucket_bound', `has le=${JSON.stringify(le[1])}, ${boundProblem(le[1])}`];
      } else if (s !== `${n}_count` && s !== `${n}_sum`) {
        return ['bad_sample_name', `is not named ${n}_bucket, ${n}_count or ${n}_sum`];
      }
      break;
    case 'summary':
      if (s === n) {
        const q = labels.find((l) => l[0] === 'quantile');
        if (q === undefined) return ['bad_quantile', 'has no quantile label'];
        const v = DECIMAL.test(q[1]) ? Number(q[1]) : NaN;
        if (!(v >= 0 && v <= 1)) return ['bad_quantile', `has quantile=${JSON.stringify(q[1])}, not a number from 0 to 1`];
      } else if (s !== `${n}_count` && s !== `${n}_sum`) {
        return ['bad_sample_name', `is not named ${n}, ${n}_count or ${n}_sum`];
      }
      break;
    default:
      if (s !== n) return ['bad_sample_name', `is not named ${n}`];
  }
  return null;
}

/** The bound of a bucket's `le`, or undefined unless every parser reads it as one: `+Inf`/`-Inf` or a finite decimal. */
function bucketBound(le: string): number | undefined {
  if (le === '+Inf') return Infinity;
  if (le === '-Inf') return -Infinity;
  if (!DECIMAL.test(le)) return undefined;
  const v = Number(le);
  return Number.isFinite(v) ? v : undefined;
}

function boundProblem(le: string): string {
  if (le === 'NaN') return 'which bounds no bucket';
  if (/^[+-]?(?:Inf|inf|Infinity)$/.test(le) || (DECIMAL.test(le) && !Number.isFinite(Number(le)))) return 'an infinite bound must be written "+Inf" or "-Inf"';
  return 'not a number';
}

/**
 * Per label set (the labels without `le`): a `+Inf` bucket, bounds increasing in output order,
 * `_count` and `_sum` both or neither, and no `_sum` beside a bucket below zero. Returns the
 * samples that stay and the value checks of each label set, indexed into them.
 */
function checkHistograms(family: MetricFamily, samples: readonly Sample[]): { samples: readonly Sample[]; rejections: Rejection[]; groups: HistogramGroup[] } {
  interface Raw {
    readonly labels: readonly (readonly [string, string])[];
    readonly buckets: number[];
    count: number;
    sum: number;
  }
  const raw = new Map<string, Raw>();
  const n = family.name;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i]!;
    const labels = s.labels.filter((l) => l[0] !== 'le');
    const key = labels.map((l) => `${l[0]}\u0001${l[1]}`).join('\u0000');
    let g = raw.get(key);
    if (g === undefined) raw.set(key, (g = { labels, buckets: [], count: -1, sum: -1 }));
    if (s.name === `${n}_bucket`) g.buckets.push(i);
    else if (s.name === `${n}_count`) g.count = i;
    else g.sum = i;
  }
  const drop = new Set<number>();
  const rejections: Rejection[] = [];
  const kept: Raw[] = [];
  for (const g of raw.values()) {
    const series = labelSetText(n, g.labels);
    const reject = (reason: RejectReason, why: string, indices: readonly number[], next: string): void => {
      for (const i of indices) drop.add(i);
      rejections.push({ reason, family: n, series, message: `histogram ${series} ${why}; ${next}` });
    };
    const all = [...g.buckets, ...(g.count >= 0 ? [g.count] : []), ...(g.sum >= 0 ? [g.sum] : [])];
    const bounds = g.buckets.map((i) => bucketBound(samples[i]!.labels.find((l) => l[0] === 'le')![1])!);
    if (bounds.some((b, j) => j > 0 && !(b > bounds[j - 1]!))) {
      reject('bad_bucket_bound', 'has bucket bounds out of order or twice', all, 'its buckets, _count and _sum left out, other label sets served');
      continue;
    }
    if (bounds.length === 0 || bounds[bounds.length - 1] !== Infinity) {
      reject('missing_inf_bucket', 'has no le="+Inf" bucket', all, 'its buckets, _count and _sum left out, other label sets served');
      continue;
    }
    const pair = g.count >= 0 && g.sum >= 0 ? [g.count, g.sum] : [];
    if ((g.count >= 0) !== (g.sum >= 0)) {
      reject('bad_count_or_sum', g.count >= 0 ? 'has _count but no _sum' : 'has _sum but no _count', [g.count, g.sum].filter((i) => i >= 0), 'left out, its buckets served');
      g.count = g.sum = -1;
    } else if (pair.length > 0 && bounds[0]! < 0) {
      reject('bad_count_or_sum', 'has buckets below zero, where OpenMetrics allows no _sum', pair, 'its _count and _sum left out, its buckets served');
      g.count = g.sum = -1;
    }
    kept.push(g);
  }
  if (drop.size === 0) return { samples, rejections, groups: kept.map((g) => ({ series: labelSetText(n, g.labels), buckets: g.buckets, count: g.count, sum: g.sum })) };
  const index = new Int32Array(samples.length).fill(-1);
  const out: Sample[] = [];
  for (let i = 0; i < samples.length; i++) {
    if (drop.has(i)) continue;
    index[i] = out.length;
    out.push(samples[i]!);
  }
  const groups = kept.map((g) => ({
    series: labelSetText(n, g.labels),
    buckets: g.buckets.map((i) => index[i]!),
    count: g.count < 0 ? -1 : index[g.count]!,
    sum: g.sum < 0 ? -1 : index[g.sum]!,
  }));
  return { samples: out, rejections, groups };
}

function labelSetText(name: string, labels: readonly (readonly [string, string])[]): string {
  return labels.length === 0 ? name : `${name}{${labels.map((l) => `${l[0]}="${escapeLabelValue(l[1])}"`).join(',')}}`;
}

function passes(rule: Rule, v: number): boolean {
  switch (rule) {
    case Rule.CounterLike:
      return v >= 0; // false for NaN
    case Rule.Whole:
      return Number.isInteger(v) && v >= 0;
    case Rule.Quantile:
      return !(v < 0);
  }
}

/**
 * This scrape's values against the plan: null when all pass (the common case, no allocation),
 * else what to render instead and what was left out.
 */
function checkValues(family: MetricFamily, admitted: MetricFamily, plan: ValuePlan): { admitted: MetricFamily | null; rejections: Rejection[] } | null {
  const samples = admitted.samples;
  let drop: Set<number> | null = null;
  const rejections: Rejection[] = [];
  const { single, rules, reasons, groups } = plan;
  for (let k = 0; k < single.length; k++) {
    const at = single[k]!;
    const v = samples[at]!.value;
    if (passes(rules[k]!, v)) continue;
    (drop ??= new Set()).add(at);
    const series = samplePrefix(samples[at]!).trimEnd();
    const why = rules[k] === Rule.Whole ? 'is not a whole number' : 'is negative or NaN';
    rejections.push({ reason: reasons[k]!, family: family.name, series, message: `series ${series} of ${family.type} family ${family.name} has the value ${formatValue(v)}, which ${why}; left out while it lasts, other series served` });
  }
  for (let k = 0; k < groups.length; k++) {
    const g = groups[k]!;
    let why: string | null = null;
    for (let j = 0; j < g.buckets.length && why === null; j++) {
      const v = samples[g.buckets[j]!]!.value;
      if (!passes(Rule.Whole, v)) why = `has a bucket value ${formatValue(v)}, not a whole number`;
    }
    if (why !== null) {
      drop ??= new Set();
      for (const i of g.buckets) drop.add(i);
      if (g.count >= 0) drop.add(g.count).add(g.sum);
      rejections.push({ reason: 'bad_bucket_value', family: family.name, series: g.series, message: `histogram ${g.series} ${why}; its buckets, _count and _sum left out while it lasts, other label sets served` });
      continue;
    }
    if (g.count < 0) continue;
    const count = samples[g.count]!.value;
    const sum = samples[g.sum]!.value;
    if (!passes(Rule.Whole, count)) why = `has _count ${formatValue(count)}, not a whole number`;
    else if (!passes(Rule.CounterLike, sum)) why = `has _sum ${formatValue(sum)}, negative or NaN`;
    if (why !== null) {
      (drop ??= new Set()).add(g.count).add(g.sum);
      rejections.push({ reason: 'bad_count_or_sum', family: family.name, series: g.series, message: `histogram ${g.series} ${why}; its _count and _sum left out while it lasts, its buckets served` });
    }
  }
  if (drop === null) return null;
  const out: Sample[] = [];
  for (let i = 0; i < samples.length; i++) if (!drop.has(i)) out.push(samples[i]!);
  return { admitted: view(family, out), rejections };
}
