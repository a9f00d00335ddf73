/**
 * When to try a failed push again: exponential backoff from `minMs` doubling up to `maxMs`, with
 * jitter (each delay drawn from its upper half) so many sidecars that lost the same receiver do
 * not return in step; a server's `Retry-After` wins, up to RETRY_AFTER_CAP_MS.
 */
export interface RetryOptions {
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
}

/** A Retry-After beyond this is taken as this (a receiver that asks for an hour is not waited on for an hour). */
export const RETRY_AFTER_CAP_MS = 5 * 60_000;

export class RetryDelay {
  private failures = 0;

  constructor(
    private readonly options: RetryOptions,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt; each call counts one more consecutive failure. */
  next(retryAfterMs: number | null): number {
    const ceiling = Math.min(this.options.maxBackoffMs, this.options.minBackoffMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    if (retryAfterMs !== null) return Math.min(retryAfterMs, RETRY_AFTER_CAP_MS);
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  reset(): void {
    this.failures = 0;
  }
}

export type Disposition = 'sent' | 'retry' | 'reject';

/** Remote write 1.0 and the rule for both protocols: 2xx sent; 429, 5xx and no answer retried; other statuses not. */
export function disposition(status: number): Disposition {
  if (status >= 200 && status < 300) return 'sent';
  if (status === 429 || status >= 500) return 'retry';
  return 'reject';
}
