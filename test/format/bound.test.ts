/** src/format/bound.ts parseBound: reading an `le` value back, whichever library wrote it. */
import { describe, expect, it } from 'vitest';
import { parseBound, pythonBound, rubyBound } from '../../src/format/bound.js';

describe('parseBound', () => {
  it.each<[string, number]>([
    ['+Inf', Infinity],
    ['Inf', Infinity],
    ['inf', Infinity],
    ['-Inf', -Infinity],
    ['-inf', -Infinity],
    ['0.25', 0.25],
    ['1', 1],
    ['1.0', 1],
    ['1e+08', 1e8],
    ['1.2345678901e+010', 12345678901],
    ['1.0e-05', 0.00001],
    ['-2.5', -2.5],
  ])('%j is %d', (le, bound) => {
    expect(parseBound(le)).toBe(bound);
  });

  it.each(['', ' ', 'abc', 'NaN', '1,5'])('%j names no bound (NaN)', (le) => {
    expect(parseBound(le)).toBeNaN();
  });

  it('reads back every bound as Python (both exponent styles) and Ruby write it', () => {
    const bounds = [0.005, 0.01, 0.1, 1, 2.5, 10, 1e-7, 123456.5, 1e8, 12345678901, 1.5e20, -3, Infinity, -Infinity];
    for (const v of bounds) {
      expect([parseBound(pythonBound(v, false)), parseBound(pythonBound(v, true)), parseBound(rubyBound(v))]).toEqual([v, v, v]);
    }
  });
});
