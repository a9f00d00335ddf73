/**
 * What the merge reads of one file. A MappedFile (reader/) is one; a test can build one from
 * arrays, without a file.
 */
import type { ParsedFileName } from '../format/filename.js';
import type { DecodedKey } from '../format/key.js';
import type { SlotWidth } from '../format/layout.js';

export interface MergeInput {
  readonly fileName: string;
  /** The file name's type and gauge mode: with the key, they decide an entry's series (rules.ts). */
  readonly parsed: Pick<ParsedFileName, 'type' | 'mode'>;
  /** The process id in the file name (the `pid` label of all/liveall gauges). */
  readonly processId: string;
  /** Decoded keys of the entries so far, in file order; entries are only ever appended. */
  readonly keys: readonly DecodedKey[];
  /** Entry i's value is `values[valueIndex[i]]`; with 16-byte slots its timestamp is the next one. */
  readonly values: Float64Array;
  readonly valueIndex: Int32Array;
  /** Slot width (16: value and timestamp); null while the file has no entries. */
  readonly slot: SlotWidth | null;
  /** Bumped when the entries were rebuilt from scratch: the merge binds them all again. */
  readonly generation: number;
  /** False once closed: the merge then forgets the file. */
  readonly isOpen: boolean;
}
