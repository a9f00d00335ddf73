/**
 * How the values of one series combine (docs/FORMAT.md §5). Each merged series is one, and so is
 * each key of a compaction archive: an archive holds exactly what the merge would have computed.
 */

/** How an entry's value is added to its series. */
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

export class Accumulator {
  /** The combined value, once finish() has run. */
  value = 0;
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

  constructor(readonly op: Op) {}

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

  /** Value after every contribution is added (histogram buckets are finished by their family). */
  finish(): void {
    if ((this.op === Op.Min || this.op === Op.Max) && this.nans === this.contributions) {
      this.value = NaN;
    } else {
      this.value = this.acc;
    }
  }
}
