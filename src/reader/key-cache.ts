/**
 * Decoded keys shared across files: every worker writes the same keys, so a directory of N
 * processes × S series holds only ~S distinct keys. Parsing each distinct key once (and sharing
 * the decoded object) is what makes a cold scan of a large directory cheap.
 */
import { keyText, parseKey, type DecodedKey } from '../format/key.js';

/** Node's native UTF-8 slice of any Uint8Array (replaces invalid bytes with U+FFFD). */
const utf8Slice = (Buffer.prototype as unknown as { utf8Slice: (this: Uint8Array, start: number, end: number) => string }).utf8Slice;

export class KeyCache {
  private readonly keys = new Map<string, DecodedKey>();

  /** `limit` bounds memory when series churn; the cache simply starts over when it is full. */
  constructor(private readonly limit = 100_000) {}

  get size(): number {
    return this.keys.size;
  }

  /**
   * The decoded key of `bytes[start, end)`; throws FormatError for an invalid key (never cached).
   * Lookups use Node's lenient UTF-8 slice (about half the cost of a strict decode); a key is
   * decoded strictly once, on a miss, so only valid keys are ever in the cache.
   */
  decode(bytes: Uint8Array, start: number, end: number): DecodedKey {
    const lenient = utf8Slice.call(bytes, start, end);
    let key = lenient.includes('\uFFFD') ? undefined : this.keys.get(lenient);
    if (key === undefined) {
      const text = keyText(bytes.subarray(start, end), start);
      key = parseKey(text, start);
      if (this.keys.size >= this.limit) this.keys.clear();
      this.keys.set(text, key);
    }
    return key;
  }
}
