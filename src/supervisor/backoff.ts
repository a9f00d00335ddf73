/**
 * Restart delays for a supervised process: `initialMs`, doubling on each consecutive failure up
 * to `maxMs`; `reset()` once the process has run stably, so the next crash waits `initialMs` again.
 */
export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
}

export class Backoff {
  private failures = 0;

  constructor(private readonly options: BackoffOptions) {}

  /** The delay before the next attempt; each call counts one more consecutive failure. */
  next(): number {
    const delay = Math.min(this.options.maxMs, this.options.initialMs * 2 ** this.failures);
    if (delay < this.options.maxMs) this.failures++;
    return delay;
  }

  reset(): void {
    this.failures = 0;
  }
}
