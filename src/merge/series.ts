/**
 * A merged series: one output sample, the accumulator its contributing entries are added to each
 * scrape, and the folded contributions of dead writers' files that every scrape starts from.
 */
import { Accumulator, type Op } from './accumulator.js';
import type { Label, Sample } from './model.js';

export type SeriesRole = 'bucket' | 'count' | 'sum' | 'other';

export class Series extends Accumulator implements Sample {
  exposition?: string;

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
    op: Op,
    readonly role: SeriesRole,
    /** Labels without `le`, as text: the histogram group / sort key. */
    readonly groupKey: string,
    /** Numeric bucket bound (`le`), NaN for other samples. */
    readonly bound: number,
    /** Identity inside the family (see seriesKey). */
    readonly key: string,
  ) {
    super(op);
  }

  /** Start a scrape from the folded contributions (none: from zero). */
  reset(): void {
    this.acc = this.foldedAcc;
    this.bucketCount = this.foldedBucketCount;
    this.ts = this.foldedTs;
    this.contributions = this.foldedContributions;
    this.nans = this.foldedNans;
  }

  /**
   * Keep what this scrape's accumulator holds as the folded state: after reset() and the add() of
   * one entry of a dead writer's file, that entry is folded in, exactly as add() would each scrape.
   */
  keepFolded(): void {
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
}

/** Identity of a series inside its family: sample name + sorted labels. */
export function seriesKey(name: string, labels: readonly Label[]): string {
  let k = name;
  for (const [n, v] of labels) k += `\u0000${n}\u0001${v}`;
  return k;
}

