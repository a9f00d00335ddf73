/** src/format/dialect.ts: the three dialects and the value slot each writes. */
import { describe, expect, it } from 'vitest';
import { DIALECTS, slotWidthOf } from '../../src/format/dialect.js';

describe('dialects', () => {
  it('are python, python-legacy and ruby, in that order', () => {
    expect(DIALECTS).toEqual(['python', 'python-legacy', 'ruby']);
  });

  it('python writes 16-byte value slots, python-legacy and ruby 8-byte ones', () => {
    expect(DIALECTS.map(slotWidthOf)).toEqual([16, 8, 8]);
  });
});
