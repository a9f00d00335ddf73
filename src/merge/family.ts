/**
 * A merged metric family: its series, and their output order (docs/FORMAT.md §5.4 histogram rules, §5.5 order).
 */
import type { MetricFamily, MetricType } from './model.js';
import type { Op } from './accumulator.js';
import { Series, type SeriesRole } from './series.js';
import type { Label } from './model.js';

export const DEFAULT_HELP = 'Multiprocess metric';

const ROLE_RANK: Record<SeriesRole, number> = { bucket: 0, count: 1, sum: 2, other: 3 };

export class Family implements MetricFamily {
  help = DEFAULT_HELP;
  hasHelp = false;
  samples: Series[] = [];

  private readonly series = new Map<string, Series>();
  private ordered: Series[] = [];
  private orderDirty = false;

  constructor(
    readonly name: string,
    readonly type: MetricType,
  ) {}

  get size(): number {
    return this.series.size;
  }

  /** The series with identity `key`, created on first use with these labels (incl. `le`). */
  seriesFor(key: string, name: string, labels: readonly Label[], op: Op, role: SeriesRole, bound: number): Series {
    let s = this.series.get(key);
    if (s === undefined) {
        s = new Series(name, labels, op, role, groupKeyOf(labels), bound, key);
      this.series.set(key, s);
      this.orderDirty = true;
    }
    return s;
  }

  release(s: Series): void {
    s.refs--;
    this.forgetIfUnused(s);
  }

  /** Drop every folded contribution (series stay until forgetUnused()). */
  clearFolded(): void {
    for (const s of this.series.values()) s.clearFolded();
  }

  /** Forget the series that neither a served file nor a folded one contributes to any more. */
  forgetUnused(): void {
    for (const s of [...this.series.values()]) this.forgetIfUnused(s);
  }

  private forgetIfUnused(s: Series): void {
    if (s.refs > 0 || s.foldedRefs > 0) return;
    this.series.delete(s.key);
    this.orderDirty = true;
  }

  reset(): void {
    for (const s of this.series.values()) s.reset();
  }

  /** Called once per scrape after every value is added: final values + output list. */
  finish(): void {
    if (this.orderDirty) {
      this.ordered = [...this.series.values()].sort(compareSeries);
      this.orderDirty = false;
    }
    const ordered = this.ordered;
    for (let i = 0; i < ordered.length; i++) ordered[i]!.finish();
    if (this.type === 'histogram') this.finishHistograms(ordered);
    if (this.type !== 'gauge' && this.type !== 'unknown') holdRoundingNoise(ordered);
    let present = 0;
    for (let i = 0; i < ordered.length; i++) if (ordered[i]!.contributions > 0) present++;
    this.samples = present === ordered.length ? ordered : ordered.filter((s) => s.contributions > 0);
  }

  /**
   * Python stores per-bucket counts and no `_count`; Ruby stores cumulative buckets and `_count`.
   * Within each label set (ordered: buckets by bound, then `_count`): running sum of the Python
   * counts plus the Ruby cumulative value; `_count` = its own value + every Python count, and
   * is present whenever a bucket of its label set is (Python never writes `_count`).
   */
  private finishHistograms(ordered: readonly Series[]): void {
    let group: string | undefined;
    let running = 0;
    let bucketsPresent = false;
    for (let i = 0; i < ordered.length; i++) {
      const s = ordered[i]!;
      if (s.groupKey !== group) {
        group = s.groupKey;
        running = 0;
        bucketsPresent = false;
      }
      if (s.role === 'bucket') {
        running += s.bucketCount;
        s.value += running;
        if (s.contributions > 0) bucketsPresent = true;
      } else if (s.role === 'count') {
        s.value += running;
        if (bucketsPresent && s.contributions === 0) s.contributions = 1;
      }
    }
  }
}

function groupKeyOf(labels: readonly Label[]): string {
  let k = '';
  for (const [n, v] of labels) if (n !== 'le') k += `${n}\u0001${v}\u0000`;
  return k;
}

function compareSeries(a: Series, b: Series): number {
  if (a.groupKey !== b.groupKey) return a.groupKey < b.groupKey ? -1 : 1;
  const r = ROLE_RANK[a.role] - ROLE_RANK[b.role];
  if (r !== 0) return r;
  if (a.role === 'bucket' && a.bound !== b.bound) return a.bound < b.bound ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * Counters never go back because of how we sum: folding a dead file moves its value to the front
 * of the sum, and float addition is not associative, so a total may come out one ulp lower.
 * Such a drop (at most 1e-12 relative) is held at the previous value; a real drop — a file
 * deleted, a counter reset — passes through.
 */
function holdRoundingNoise(ordered: readonly Series[]): void {
  for (let i = 0; i < ordered.length; i++) {
    const s = ordered[i]!;
    const prev = s.previous;
    if (s.value < prev && prev - s.value <= 1e-12 * Math.abs(prev)) s.value = prev;
    s.previous = s.value;
  }
}
