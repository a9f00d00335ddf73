/** src/format/label.ts: the order labels are kept in (by name, code unit order). */
import { describe, expect, it } from 'vitest';
import { compareLabelNames, type Label } from '../../src/format/label.js';

describe('compareLabelNames', () => {
  it('orders by name in code unit order (upper case and "_" before lower case), whatever the values', () => {
    const labels: Label[] = [['path', '/'], ['code', '200'], ['_x', 'a'], ['Z', 'b'], ['le', '+Inf'], ['a', 'z']];
    expect(labels.sort(compareLabelNames)).toEqual([['Z', 'b'], ['_x', 'a'], ['a', 'z'], ['code', '200'], ['le', '+Inf'], ['path', '/']]);
  });

  it('compares names only: -1, 0 (same name, other value) and 1', () => {
    expect(compareLabelNames(['a', 'x'], ['b', 'a'])).toBe(-1);
    expect(compareLabelNames(['a', 'x'], ['a', 'y'])).toBe(0);
    expect(compareLabelNames(['b', 'a'], ['a', 'x'])).toBe(1);
  });
});
