/** Restart delays of the supervision helper. */
import { expect, it } from 'vitest';
import { Backoff } from '../../src/supervisor/backoff.js';

it('doubles from the initial delay up to the cap, then stays at the cap', () => {
  const b = new Backoff({ initialMs: 100, maxMs: 30_000 });
  const delays = Array.from({ length: 12 }, () => b.next());
  expect(delays).toEqual([100, 200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000, 30_000]);
});

it('starts again from the initial delay after reset()', () => {
  const b = new Backoff({ initialMs: 100, maxMs: 30_000 });
  b.next();
  b.next();
  b.next();
  b.reset();
  expect([b.next(), b.next()]).toEqual([100, 200]);
});

it('never exceeds a cap below the initial delay', () => {
  const b = new Backoff({ initialMs: 500, maxMs: 300 });
  expect([b.next(), b.next()]).toEqual([300, 300]);
});
