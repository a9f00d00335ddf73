/**
 * The merged view that merge/ hands to exposition/: metric families of samples with final values.
 * Objects are long-lived: merge/ updates `value` in place on every scrape and only allocates when
 * a new series appears, so exposition/ may memoise per-sample text in `exposition`.
 */

import type { Label } from '../format/label.js';

export type { Label };

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'unknown';

export interface Sample {
  /** Full sample name, e.g. `http_requests_total`, `latency_seconds_bucket`. */
  readonly name: string;
  /** Sorted by label name (code point order), no empty values, no duplicate names. */
  readonly labels: readonly Label[];
  /** Final merged value for this scrape. */
  value: number;
  /** Memo owned by exposition/: the escaped `name{labels}` prefix. Merge never reads it. */
  exposition?: string;
}

export interface MetricFamily {
  /**
   * OpenMetrics family name. For a counter whose samples are `<name>_total` this is `<name>`;
   * a counter whose samples lack `_total` (Ruby allows it) has `name` equal to the sample name.
   */
  readonly name: string;
  readonly type: MetricType;
  /** Unescaped help text (`Multiprocess metric` when the files carry none). */
  readonly help: string;
  /** Samples in output order (histograms grouped per label set: buckets by bound, `_count`, `_sum`). */
  readonly samples: readonly Sample[];
}
