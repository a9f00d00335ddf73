/**
 * A merged series: one output sample, with the accumulator its contributing entries are added to.
 */
import type { Label, Sample } from './model.js';

/** How an entry's value is added to its series (FORMAT.md §5). */
export const enum Op {
  /** counters, summaries, histogram `_sum`, Ruby cumulative buckets/`_count`, gauge sum/livesum */
  Sum,
  /** Python histogram buckets: per-bucket counts, made cumulative when the scrape is finished */
  BucketCount,
  /** gauge all/liveall: one series per process; a duplicate (labels, pid) → the last one wins */
  Last,
  /** gauge min/livemin: NaN ignored unless every value is NaN (independent of file order) */
  Min,
  /** gauge max/livemax: likewise */
  Max,
  /** gauge mostrecent/livemostrecent: the value with the newest timestamp; ties → first file */
  MostRecent,
}

export type SeriesRole = 'bucket' | 'count' | 'sum' | 'other';

export class Series implements Sample {
  value = 0;
  exposition?: string;

  /** Accumulator of this scrape. */
  acc = 0;
  /** Python per-bucket count of this scrape (Op.BucketCount) */
  bucketCount = 0;
  /** Best timestamp so far (Op.MostRecent). */
  ts = 0;
  /** Contributions this scrape; 0 → the series is not in the output. */
  contributions = 0;
  /** NaN contributions this scrape (Op.Min/Max). */
  nans = 0;
  /** Entries bound to this series across all files; 0 (and no folded ones) → the series is forgotten. */
  refs = 0;
  /** Entries of folded (dead) files that contributed to the folded state. */
  foldedRefs = 0;
  /** Value output by the last scrape (the monotonic guard of counters compares with it). */
  previous = NaN;

  // The folded contributions of dead writers' files: every scrape starts from them.
  private foldedAcc = 0;
  private foldedBucketCount = 0;
  private foldedTs = 0;
  private foldedContributions = 0;
  private foldedNans = 0;

  constructor(
    readonly name: string,
    readonly labels: readonly Label[],
    readonly op: Op,
    readonly role: SeriesRole,
    /** Labels without `le`, as text: the histogram group / sort key. */
    readonly groupKey: string,
    /** Numeric bucket bound (`le`), NaN for other samples. */
    readonly bound: number,
    /** Identity inside the family (see seriesKey). */
    readonly key: string,
  ) {}

  /** Start a scrape from the folded contributions (none: from zero). */
  reset(): void {
    this.acc = this.foldedAcc;
    this.bucketCount = this.foldedBucketCount;
    this.ts = this.foldedTs;
    this.contributions = this.foldedContributions;
    this.nans = this.foldedNans;
  }

  /** Fold a dead file's value into the folded state, once, exactly as add() would each scrape. */
  fold(v: number, ts: number): void {
    this.reset();
    this.add(v, ts);
    this.foldedAcc = this.acc;
    this.foldedBucketCount = this.bucketCount;
    this.foldedTs = this.ts;
    this.foldedContributions = this.contributions;
    this.foldedNans = this.nans;
    this.foldedRefs++;
  }

  /** Forget every folded contribution (they are about to be folded again from the files left). */
  clearFolded(): void {
    this.foldedAcc = 0;
    this.foldedBucketCount = 0;
    this.foldedTs = 0;
    this.foldedContributions = 0;
    this.foldedNans = 0;
    this.foldedRefs = 0;
  }

  /** Add one entry's value (and timestamp) to this scrape's accumulator. */
  add(v: number, ts: number): void {
    const first = this.contributions++ === 0;
    switch (this.op) {
      case Op.Sum:
        this.acc += v;
        break;
      case Op.BucketCount:
        this.bucketCount += v;
        break;
      case Op.Last:
        this.acc = v;
        break;
      case Op.Min:
        if (v !== v) this.nans++;
        else if (first || this.nans === this.contributions - 1 || v < this.acc) this.acc = v;
        break;
      case Op.Max:
        if (v !== v) this.nans++;
        else if (first || this.nans === this.contributions - 1 || v > this.acc) this.acc = v;
        break;
      case Op.MostRecent:
        if (first || ts > this.ts) {
          this.acc = v;
          this.ts = ts;
        }
        break;
    }
  }

  /** Value after every contribution of this scrape is added (buckets are finished by the family). */
  finish(): void {
    if ((this.op === Op.Min || this.op === Op.Max) && this.nans === this.contributions) {
      this.value = NaN;
    } else {
      this.value = this.acc;
    }
  }
}

/** Identity of a series inside its family: sample name + sorted labels. */
export function seriesKey(name: string, labels: readonly Label[]): string {
  let k = name;
  for (const [n, v] of labels) k += `\u0000${n}\u0001${v}`;
  return k;
}

