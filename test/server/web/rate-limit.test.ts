/**
 * `rate_limit` (src/server/web/rate-limit.ts): the section read as exporter-toolkit reads it (Go
 * durations, interval 0 = off, a burst that could never admit a request refused), Go's duration
 * syntax, and the token bucket driven by a test clock: full at start, one token per interval, never
 * more than burst.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { parseGoDuration } from '../../../src/server/web/config-file.js';
import { loadWebConfig } from '../../../src/server/web/config.js';
import { TokenBucket } from '../../../src/server/web/rate-limit.js';
import { configDir } from '../../helpers/web-config.js';

const cfg = configDir('mpe-webcfg-rate-');
afterAll(() => cfg.remove());
const rateLimit = (yaml: string): unknown => loadWebConfig(cfg.write(yaml)).rateLimit;

describe('rate_limit', () => {
  it('reads interval and burst', () => {
    expect(rateLimit('rate_limit:\n  interval: 1s\n  burst: 20\n')).toEqual({ intervalMs: 1000, burst: 20 });
    expect(rateLimit('rate_limit:\n  interval: "1m30s"\n  burst: 1\n')).toEqual({ intervalMs: 90_000, burst: 1 });
    expect(rateLimit('rate_limit:\n  burst: 3\n  interval: 250ms\n')).toEqual({ intervalMs: 250, burst: 3 });
  });

  it('is off without the section, with interval 0 (bare or with a unit) or without interval', () => {
    for (const yaml of ['', 'rate_limit:\n', 'rate_limit:\n  interval: 0\n  burst: 0\n', 'rate_limit:\n  interval: 0s\n  burst: 5\n', 'rate_limit:\n  burst: 5\n']) {
      expect([yaml, rateLimit(yaml)]).toEqual([yaml, null]);
    }
  });

  it('refuses what exporter-toolkit would read wrongly or as "refuse everything", with the file and line', () => {
    const a = cfg.loadError('rate_limit:\n  interval: 1\n  burst: 20\n');
    expect(a.message).toBe(
      `web config ${a.file}:2: rate_limit.interval: 1 has no unit (exporter-toolkit would read nanoseconds); write a duration such as 1s, 500ms or 1m`,
    );
    const b = cfg.loadError('rate_limit:\n  interval: 1sec\n  burst: 20\n');
    expect(b.message).toBe(
      `web config ${b.file}:2: rate_limit.interval: invalid duration "1sec"; write a number and a unit (ns, us, ms, s, m, h), e.g. 1s, 500ms or 1m30s`,
    );
    const c = cfg.loadError('rate_limit:\n  interval: 1s\n  burst: 0\n');
    expect(c.message).toBe(
      `web config ${c.file}:3: rate_limit.burst: must be at least 1 when interval is set: with burst 0 every request would be refused (exporter-toolkit answers 429 to all of them)`,
    );
    const d = cfg.loadError('rate_limit:\n  interval: 1s\n  burst: "20"\n');
    expect(d.message).toBe(`web config ${d.file}:3: rate_limit.burst: must be an integer`);
    const e = cfg.loadError('rate_limit:\n  interval: -5m\n  burst: 2\n');
    expect(e.message).toBe(`web config ${e.file}:2: rate_limit.interval: must not be negative (0 turns rate limiting off)`);
    const f = cfg.loadError('rate_limit: 10\n');
    expect(f.message).toBe(`web config ${f.file}:1: rate_limit: must be a mapping`);
  });
});

describe('parseGoDuration', () => {
  it("accepts what Go's time.ParseDuration accepts, in milliseconds", () => {
    const cases: Array<[string, number | null]> = [
      ['0', 0],
      ['1s', 1000],
      ['1.5s', 1500],
      ['.5s', 500],
      ['2.s', 2000],
      ['500ms', 500],
      ['1m30s', 90_000],
      ['1h', 3_600_000],
      ['1h2m3s4ms', 3_723_004],
      ['250us', 0.25],
      ['250µs', 0.25],
      ['250μs', 0.25],
      ['1000000ns', 1],
      ['+1s', 1000],
      ['-1s', -1000],
      ['', null],
      ['1', null],
      ['s', null],
      ['.s', null],
      ['1d', null],
      ['1s ', null],
      ['1 s', null],
      ['1sec', null],
    ];
    for (const [text, ms] of cases) expect([text, parseGoDuration(text)]).toEqual([text, ms]);
  });
});

describe('TokenBucket', () => {
  it('starts full, refills one token per interval, holds at most burst', () => {
    const bucket = new TokenBucket({ intervalMs: 1000, burst: 3 }, 0);
    expect([bucket.take(0), bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([true, true, true, false]);
    expect(bucket.waitMs(0)).toBe(1000);
    expect(bucket.take(999)).toBe(false);
    expect(bucket.waitMs(999)).toBe(1);
    expect(bucket.take(1000)).toBe(true);
    expect(bucket.take(1000)).toBe(false);
    // Idle for an hour: back to burst, not 3,600 tokens.
    expect([bucket.take(3_601_000), bucket.take(3_601_000), bucket.take(3_601_000), bucket.take(3_601_000)]).toEqual([true, true, true, false]);
    expect(bucket.waitMs(3_601_500)).toBe(500);
  });

  it('a refused request takes nothing; a clock that goes back adds nothing', () => {
    const bucket = new TokenBucket({ intervalMs: 100, burst: 1 }, 0);
    expect(bucket.take(0)).toBe(true);
    for (let t = 0; t < 100; t += 10) expect([t, bucket.take(t)]).toEqual([t, false]);
    expect(bucket.take(100)).toBe(true);
    expect(bucket.take(50)).toBe(false);
    expect(bucket.take(150)).toBe(false);
    expect(bucket.take(200)).toBe(true);
  });
});
