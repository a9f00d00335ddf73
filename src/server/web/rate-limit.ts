/**
 * The `rate_limit` section and the token bucket that applies it, as exporter-toolkit does with
 * golang.org/x/time/rate: one bucket per listener holding up to `burst` requests, full at start,
 * refilled with one request every `interval`; a request that finds it empty is answered 429
 * before anything else is done for it (authentication included). No section, or interval 0: no limit.
 */
import { isNull, type ConfigFile, type Entry } from './config-file.js';

export interface RateLimitSettings {
  /** One more request is allowed every this many milliseconds (> 0). */
  readonly intervalMs: number;
  /** Requests allowed at once when the bucket is full (≥ 1). */
  readonly burst: number;
}

/** The `rate_limit` section: null when absent or when interval is 0 (exporter-toolkit's "disabled"). */
export function parseRateLimit(file: ConfigFile, section: Entry | undefined): RateLimitSettings | null {
  if (section === undefined || isNull(section.value)) return null;
  const w = 'rate_limit';
  const r = file.map(section.value, w);
  file.checkKeys(r, w, ['interval', 'burst'], {});
  const intervalEntry = r.get('interval');
  const burstEntry = r.get('burst');
  const intervalMs = file.durationMs(intervalEntry?.value, `${w}.interval`) ?? 0;
  const burst = file.integer(burstEntry?.value, `${w}.burst`) ?? 0;
  if (intervalMs < 0) file.fail(`${w}.interval`, 'must not be negative (0 turns rate limiting off)', intervalEntry?.value ?? section.key);
  if (burst < 0) file.fail(`${w}.burst`, 'must not be negative', burstEntry?.value ?? section.key);
  if (intervalMs === 0) return null;
  if (burst === 0) {
    file.fail(
      `${w}.burst`,
      'must be at least 1 when interval is set: with burst 0 every request would be refused (exporter-toolkit answers 429 to all of them)',
      burstEntry?.value ?? burstEntry?.key ?? section.key,
    );
  }
  return { intervalMs, burst };
}

/**
 * A token bucket on a monotonic clock (ms; `now` is a parameter so tests can drive it). The
 * content is kept as milliseconds of credit (a token = intervalMs), so refilling adds elapsed time
 * and never divides: 999 ms and then 1 ms more make exactly one token.
 */
export class TokenBucket {
  readonly settings: RateLimitSettings;
  readonly #capacityMs: number;
  #creditMs: number;
  #last: number;

  constructor(settings: RateLimitSettings, now: number = performance.now()) {
    this.settings = settings;
    this.#capacityMs = settings.burst * settings.intervalMs;
    this.#creditMs = this.#capacityMs; // full at start, as x/time/rate
    this.#last = now;
  }

  /** Takes one request's token: true if there was one, false (nothing taken) if not. */
  take(now: number = performance.now()): boolean {
    this.#refill(now);
    if (this.#creditMs < this.settings.intervalMs) return false;
    this.#creditMs -= this.settings.intervalMs;
    return true;
  }

  /** Milliseconds until take() would succeed (0: now). */
  waitMs(now: number = performance.now()): number {
    this.#refill(now);
    return Math.max(0, this.settings.intervalMs - this.#creditMs);
  }

  #refill(now: number): void {
    if (now <= this.#last) return; // a clock that goes back adds nothing
    this.#creditMs = Math.min(this.#capacityMs, this.#creditMs + (now - this.#last));
    this.#last = now;
  }
}
