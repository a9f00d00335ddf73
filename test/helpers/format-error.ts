/** Assertions on src/format/ errors shared by the format tests. */
import { expect } from 'vitest';
import { FormatError, type FormatErrorReason } from '../../src/format/layout.js';

/** Run `fn`, require a FormatError with this reason (and offset, when given); return it. */
export function formatErrorOf(fn: () => unknown, reason: FormatErrorReason, offset?: number): FormatError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected a FormatError').toBeInstanceOf(FormatError);
  const err = caught as FormatError;
  expect(err.reason).toBe(reason);
  if (offset !== undefined) expect(err.offset).toBe(offset);
  return err;
}
