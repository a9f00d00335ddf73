/**
 * Decoded keys shared across files: every worker writes the same keys, so a directory of N
 * processes × S series holds only ~S distinct keys. Parsing each distinct key once (and sharing
 * the decoded object) is what makes a cold scan of a large directory cheap.
 */
import { keyText, parseKey, type DecodedKey } from '../format/key.js';

export class KeyCache {
  private readonly keys = new Map<string, DecodedKey>();

  /** `limit` bounds memory when series churn; the cache simply starts over when it is full. */
  constructor(private readonly limit = 100_000) {}

  get size(): number {
    return this.keys.size;
  }

  /** The decoded key for these bytes; throws FormatError for an invalid key (never cached). */
  decode(bytes: Uint8Array, offset: number): DecodedKey {
    const text = keyText(bytes, offset);
    let key = this.keys.get(text);
    if (key === undefined) {
      key = parseKey(text, offset);
      if (this.keys.size >= this.limit) this.keys.clear();
      this.keys.set(text, key);
    }
    return key;
  }
}
