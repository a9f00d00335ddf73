/** src/format/names.ts: the one definition of metric and label names (keys, writer, `--label`). */
import { describe, expect, it } from 'vitest';
import { isLabelName, isMetricName, isUserLabelName } from '../../src/format/names.js';

describe('isMetricName', () => {
  it.each(['a', 'http_requests_total', '_x', ':', 'ns:sub:name_1', 'A9', '__internal'])('accepts %j', (name) => {
    expect(isMetricName(name)).toBe(true);
  });
  it.each(['', '9a', 'a-b', 'a b', 'a.b', 'é', 'a\n', '{}'])('rejects %j', (name) => {
    expect(isMetricName(name)).toBe(false);
  });
});

describe('isLabelName', () => {
  it.each(['a', 'le', '_x', '__name__', 'Code9'])('accepts %j', (name) => {
    expect(isLabelName(name)).toBe(true);
  });
  it.each(['', '9a', 'a:b', 'a-b', 'é', ' a'])('rejects %j (a colon is a metric-name character only)', (name) => {
    expect(isLabelName(name)).toBe(false);
  });
});

describe('isUserLabelName', () => {
  it('is a label name that does not start with "__"', () => {
    expect(['a', '_x', 'a__b', 'pid', '__', '__name__', '9a', 'a:b'].map(isUserLabelName)).toEqual([true, true, true, true, false, false, false, false]);
  });
});
