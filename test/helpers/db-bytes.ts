/**
 * Builds the bytes of a multiprocess `.db` file exactly as docs/FORMAT.md §2–§3 describes, for tests
 * that need a file the reference writers never produced (or want one without Python/Ruby).
 *
 *   offset 0  int32 LE  used     bytes in use counted from offset 0 (8 for a file without entries)
 *   offset 4  4 bytes   zero
 *   offset 8  entries, each:
 *     +0        uint32 LE  n        UTF-8 byte length of the key
 *     +4        n bytes    key      the JSON text, UTF-8 encoded, written as given
 *     +4+n      p bytes    spaces   p = 8 - ((4 + n) % 8), i.e. 1..8 (never 0)
 *     +4+n+p    float64 LE value
 *     [+12+n+p  float64 LE timestamp]   only with slot 16 (Python ≥ 0.18)
 *   then zero bytes up to `size` (real files are 4 KiB·2^k for Ruby, 64 KiB·2^k for Python).
 *
 * The key is not validated: pass any text (including invalid JSON) to build corrupt files.
 * Little-endian is what every realistic writer produces (docs/FORMAT.md §2).
 */

export interface DbEntry {
  /** The key exactly as it should appear on disk (JSON text; encoded as UTF-8). */
  readonly key: string;
  readonly value: number;
  /** Timestamp (UNIX seconds) stored after the value; slot 16 only, default 0.0. */
  readonly ts?: number;
}

export interface DbOptions {
  /** 8 = value only (Python ≤ 0.17, Ruby); 16 = value + timestamp (Python ≥ 0.18). */
  readonly slot: 8 | 16;
  /** Total file size; bytes past `used` are zero. Default: exactly `used`. Must be ≥ `used`. */
  readonly size?: number;
}

/** Where one entry's parts ended up (absolute offsets in the file). */
export interface EntryLayout {
  /** Offset of the uint32 length. */
  readonly offset: number;
  readonly keyOffset: number;
  /** Key length in bytes (n). */
  readonly keyLength: number;
  /** Number of padding spaces (p, 1..8). */
  readonly padding: number;
  readonly valueOffset: number;
  /** Offset of the timestamp (slot 16), else undefined. */
  readonly tsOffset: number | undefined;
  /** Offset just past the entry (= next entry's offset). */
  readonly end: number;
}

export interface DbLayout {
  /** The header's `used`: 8 + the size of all entries. */
  readonly used: number;
  readonly entries: readonly EntryLayout[];
}

const utf8 = new TextEncoder();

/** docs/FORMAT.md §3: 1..8 spaces so that the value is 8-byte aligned. */
function padding(keyLength: number): number {
  return 8 - ((4 + keyLength) % 8);
}

/** The offsets `buildDb` uses for these entries, without building anything. */
export function dbLayout(entries: readonly DbEntry[], slot: 8 | 16): DbLayout {
  let pos = 8;
  const out: EntryLayout[] = [];
  for (const e of entries) {
    const keyLength = utf8.encode(e.key).length;
    const p = padding(keyLength);
    const valueOffset = pos + 4 + keyLength + p;
    const end = valueOffset + slot;
    out.push({
      offset: pos,
      keyOffset: pos + 4,
      keyLength,
      padding: p,
      valueOffset,
      tsOffset: slot === 16 ? valueOffset + 8 : undefined,
      end,
    });
    pos = end;
  }
  return { used: pos, entries: out };
}

/** The bytes of a `.db` file holding `entries` in order (see the file comment for the layout). */
export function buildDb(entries: readonly DbEntry[], options: DbOptions): Uint8Array {
  const { slot } = options;
  if (slot !== 8 && slot !== 16) throw new Error(`slot must be 8 or 16, got ${String(slot)}`);
  const layout = dbLayout(entries, slot);
  const size = options.size ?? layout.used;
  if (!Number.isInteger(size) || size < layout.used) {
    throw new Error(`size ${size} is smaller than used=${layout.used}`);
  }
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, layout.used, true);
  entries.forEach((e, i) => {
    const at = layout.entries[i]!;
    if (slot === 8 && e.ts !== undefined) {
      throw new Error(`entry ${i} has a timestamp, but slot 8 files have no room for one`);
    }
    view.setUint32(at.offset, at.keyLength, true);
    bytes.set(utf8.encode(e.key), at.keyOffset);
    bytes.fill(0x20, at.keyOffset + at.keyLength, at.valueOffset);
    view.setFloat64(at.valueOffset, e.value, true);
    if (at.tsOffset !== undefined) view.setFloat64(at.tsOffset, e.ts ?? 0, true);
  });
  return bytes;
}
