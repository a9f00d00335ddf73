/**
 * Byte layout of a multiprocess `.db` file (docs/FORMAT.md §2–§3). Pure functions over bytes; no I/O.
 *
 *   offset 0  int32 used (bytes in use, from offset 0; 0 means "no entries")
 *   offset 8  entries: uint32 n | n bytes UTF-8 JSON key | 1..8 spaces | float64 value [| float64 ts]
 */

export const HEADER_SIZE = 8;

/** Value slot width: 8 = value only (Python ≤ 0.17, Ruby), 16 = value + timestamp (Python ≥ 0.18). */
export type SlotWidth = 8 | 16;

/** Python's initial file size (`_INITIAL_MMAP_SIZE`, since v0.16.0). */
export const PYTHON_INITIAL_SIZE = 1 << 16;

/** Padding after the key: never 0, 1..8 spaces so the value is 8-byte aligned (docs/FORMAT.md §3). */
export function paddingLength(keyLength: number): number {
  return 8 - ((4 + keyLength) % 8);
}

export function entrySize(keyLength: number, slot: SlotWidth): number {
  return 4 + keyLength + paddingLength(keyLength) + slot;
}

/** `used` as stored; 0 (a new Ruby file) reads as an empty file, as in every reference reader. */
export function readUsed(view: DataView): number {
  const used = view.getInt32(0, true);
  return used === 0 ? HEADER_SIZE : used;
}

/** Problem with one file's bytes, with the offset where it was found. */
export class FormatError extends Error {
  constructor(
    readonly reason: FormatErrorReason,
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'FormatError';
  }
}

/** Stable reason codes: used as a label value in self metrics, so keep them short and fixed. */
export type FormatErrorReason =
  | 'used_out_of_range'
  | 'bad_entry_length'
  | 'entry_crosses_used'
  | 'bad_padding'
  | 'ambiguous_slot_width'
  | 'bad_key_utf8'
  | 'bad_key_json'
  | 'bad_key_shape'
  | 'mixed_key_shapes'
  | 'key_too_long';

/**
 * Longest key the reader decodes (1 MiB). The format has no limit of its own, but a key is one
 * string: past ~512 MiB V8 cannot hold it (decoding throws ERR_STRING_TOO_LONG), and well before
 * that one corrupt length field in a sparse file would cost a scan hundreds of MiB. Real keys are
 * a metric name, its labels and its help text: kilobytes at most.
 */
export const MAX_KEY_LENGTH = 1 << 20;

export function checkUsed(used: number, size: number): void {
  if (used < HEADER_SIZE || used > size || used % 8 !== 0) {
    throw new FormatError(
      'used_out_of_range',
      `header says ${used} bytes are used, but the file has ${size} bytes ` +
        `(valid: 8..size, a multiple of 8)`,
      0,
    );
  }
}

const NO_ROOM = -1;
const BAD_LENGTH = -2;
const CROSSES_USED = -3;
const BAD_PADDING = -4;
const KEY_TOO_LONG = -5;

/** The key length of the entry at `pos`, or a negative code saying what is wrong (no throw: hot). */
function checkEntry(bytes: Uint8Array, view: DataView, pos: number, used: number, slot: SlotWidth): number {
  if (pos + 4 > used) return NO_ROOM;
  const n = view.getUint32(pos, true);
  if (n === 0 || n > 0x7fffffff) return BAD_LENGTH;
  const pad = paddingLength(n);
  if (pos + 4 + n + pad + slot > used) return CROSSES_USED;
  if (n > MAX_KEY_LENGTH) return KEY_TOO_LONG;
  for (let i = pos + 4 + n, e = i + pad; i < e; i++) if (bytes[i] !== 0x20) return BAD_PADDING;
  return n;
}

/** Bounds of one entry starting at `pos`, or a FormatError; checks everything but the key text. */
export function entryBounds(bytes: Uint8Array, view: DataView, pos: number, used: number, slot: SlotWidth): number {
  const n = checkEntry(bytes, view, pos, used, slot);
  if (n >= 0) return n;
  if (n === NO_ROOM) {
    throw new FormatError('entry_crosses_used', `entry at offset ${pos} has no room for its length before used=${used}`, pos);
  }
  const length = view.getUint32(pos, true);
  if (n === BAD_LENGTH) throw new FormatError('bad_entry_length', `entry at offset ${pos} has key length ${length}`, pos);
  if (n === CROSSES_USED) {
    const end = pos + 4 + length + paddingLength(length) + slot;
    throw new FormatError('entry_crosses_used', `entry at offset ${pos} (key length ${length}) ends at ${end}, past used=${used}`, pos);
  }
  if (n === KEY_TOO_LONG) {
    throw new FormatError('key_too_long', `entry at offset ${pos} has key length ${length}, more than the ${MAX_KEY_LENGTH} bytes a key may have`, pos);
  }
  let i = pos + 4 + length;
  while (bytes[i] === 0x20) i++;
  throw new FormatError('bad_padding', `entry at offset ${pos}: padding byte at ${i} is not a space`, i);
}

/**
 * Decide the slot width of a file from its entries (docs/FORMAT.md §3.1): walk with stride 8 and 16;
 * a walk is valid iff every entry is well-formed, its key looks like a JSON list, and it ends
 * exactly at `used`. Exactly one must be valid. Returns null when there are no entries yet.
 */
export function detectSlotWidth(bytes: Uint8Array, view: DataView, used: number): SlotWidth | null {
  if (used <= HEADER_SIZE) return null;
  const w8 = walkIsValid(bytes, view, used, 8);
  const w16 = walkIsValid(bytes, view, used, 16);
  if (w8 && !w16) return 8;
  if (w16 && !w8) return 16;
  if (w8 && w16) {
    throw new FormatError(
      'ambiguous_slot_width',
      'entries parse both as 8-byte (value) and 16-byte (value+timestamp) slots',
      HEADER_SIZE,
    );
  }
  // Neither stride works: report the error of the stride that got further (more useful message).
  return reportWalkError(bytes, view, used);
}

/** The walk of walk() without building errors: the common case, so it must be cheap. */
function walkIsValid(bytes: Uint8Array, view: DataView, used: number, slot: SlotWidth): boolean {
  let pos = HEADER_SIZE;
  while (pos < used) {
    const n = checkEntry(bytes, view, pos, used, slot);
    if (n < 0 || bytes[pos + 4] !== 0x5b /* [ */ || bytes[pos + 3 + n] !== 0x5d /* ] */) return false;
    pos += entrySize(n, slot);
  }
  return true;
}

interface Walk {
  /** Entries that parsed before the error. */
  entries: number;
  error: FormatError | null;
}

function walk(bytes: Uint8Array, view: DataView, used: number, slot: SlotWidth): Walk {
  let pos = HEADER_SIZE;
  let entries = 0;
  try {
    while (pos < used) {
      const n = entryBounds(bytes, view, pos, used, slot);
      if (bytes[pos + 4] !== 0x5b /* [ */ || bytes[pos + 3 + n] !== 0x5d /* ] */) {
        throw new FormatError('bad_key_json', `key at offset ${pos + 4} is not a JSON list`, pos + 4);
      }
      pos += entrySize(n, slot);
      entries++;
    }
  } catch (e) {
    if (e instanceof FormatError) return { entries, error: e };
    throw e;
  }
  return { entries, error: null };
}

/**
 * Neither stride gives a valid walk: report the more plausible failure, i.e. the stride that
 * parsed more entries, and on a tie the one that failed on a plausible entry (one that only
 * crosses `used` or has a bad key) rather than on garbage (a wrong stride lands on a timestamp).
 */
function reportWalkError(bytes: Uint8Array, view: DataView, used: number): never {
  const score = (w: Walk): number =>
    w.entries * 2 + (w.error !== null && w.error.reason !== 'bad_entry_length' && w.error.reason !== 'bad_padding' ? 1 : 0);
  const w8 = walk(bytes, view, used, 8);
  const w16 = walk(bytes, view, used, 16);
  throw (score(w16) > score(w8) ? w16.error : w8.error)!;
}
