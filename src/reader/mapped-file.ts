/**
 * One `.db` file: an incremental index of its entries plus a live view of its values.
 *
 * Entries never move (docs/FORMAT.md §6: append-only, `used` is stored after the entry), so each entry
 * is parsed once; an index update parses only the bytes between the last seen `used` and the
 * current one, and a scrape reads values in place through `values[valueIndex[i]]`.
 */
import { closeSync, constants, fstatSync, openSync, type Stats } from 'node:fs';
import {
  checkUsed,
  detectSlotWidth,
  entryBounds,
  entrySize,
  FormatError,
  HEADER_SIZE,
  readUsed,
  type SlotWidth,
} from '../format/layout.js';
import type { Dialect } from '../format/dialect.js';
import type { DecodedKey, KeyShape } from '../format/key.js';
import { KeyCache } from './key-cache.js';
import { processIdOf, type ParsedFileName } from '../format/filename.js';
import { openSource, type FileSource } from './file-source.js';
import { HEARTBEAT_METRIC } from '../format/reserved.js';
import { contentHash } from '../format/archive.js';
import type { ProbedFile, WriterState } from './liveness.js';

/** Why a file is not served right now. Stable codes (self-metric label values). */
export type SkipReason =
  | FormatError['reason']
  | 'empty_file'
  | 'not_regular_file'
  | 'symlink'
  | 'open_failed'
  | 'file_name'
  | 'type_conflict';

export class FileProblem extends Error {
  constructor(
    readonly reason: SkipReason,
    message: string,
  ) {
    super(message);
  }
}

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

export class MappedFile {
  /** Decoded keys of the entries indexed so far, in file order. */
  readonly keys: DecodedKey[] = [];
  /** For entry i, the index of its value in `values` (its timestamp, if any, is the next one). */
  valueIndex = new Int32Array(64);
  /** Slot width once known (the file has entries), else null. */
  slot: SlotWidth | null = null;
  /** Key shape of the file's entries once known: tells the dialect that wrote it. */
  shape: KeyShape | null = null;
  /** Bumped whenever the index is rebuilt from scratch (file rewritten in place). */
  generation = 0;
  /** Entries parsed by this file's lifetime (a test hook proving incremental parsing). */
  entriesParsed = 0;
  /** Index updates that looked at the entries and found a problem (a test hook: an unchanged skipped file costs none). */
  failedIndexUpdates = 0;
  /** The problem of the last index update, and what the file looked like then (size, used, mtime). */
  private lastProblem: { size: number; used: number; mtimeMs: number; problem: FileProblem } | null = null;

  /** File size at the last index update. */
  size = 0;
  /** Whether its writer was seen alive at the last scan (set by the Directory). */
  writerState: WriterState = 'unknown';

  private parsedUpTo = HEADER_SIZE;
  private readonly source: FileSource;
  /** Entry of the writer's heartbeat gauge, if it keeps one (-1: none). */
  private heartbeatEntry = -1;

  private constructor(
    readonly path: string,
    readonly fileName: string,
    /** What the file name says (type, gauge mode, process id). */
    readonly parsed: ParsedFileName,
    private fd: number,
    readonly dev: number,
    readonly ino: number,
    private readonly keyCache: KeyCache,
  ) {
    this.source = openSource(fd);
  }

  /** Open without following symlinks or blocking on FIFOs; throws FileProblem. */
  static open(path: string, fileName: string, parsed: ParsedFileName, keyCache = new KeyCache()): MappedFile {
    let fd: number;
    try {
      fd = openSync(path, OPEN_FLAGS);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') throw new FileProblem('symlink', 'is a symbolic link (not followed)');
      throw new FileProblem('open_failed', `cannot be opened: ${(e as Error).message}`);
    }
    let st: Stats;
    try {
      st = fstatSync(fd);
    } catch (e) {
      closeSync(fd);
      throw new FileProblem('open_failed', `cannot be stat'ed: ${(e as Error).message}`);
    }
    if (!st.isFile()) {
      closeSync(fd);
      throw new FileProblem('not_regular_file', 'is not a regular file');
    }
    return new MappedFile(path, fileName, parsed, fd, st.dev, st.ino, keyCache);
  }

  get isOpen(): boolean {
    return this.fd >= 0;
  }

  get entryCount(): number {
    return this.keys.length;
  }

  /** The values, valid until the next updateIndex(). */
  get values(): Float64Array {
    return this.source.f64;
  }

  get mappedBytes(): number {
    return this.source.mappedBytes;
  }

  /** The process id in the file name, read by the naming rules of the dialect that wrote it. */
  get processId(): string {
    return processIdOf(this.parsed, this.lockingName);
  }

  /** Named the Ruby way (`-<n>.db`): its writer holds a lock while it lives (docs/FORMAT.md §1.2, §1.3). */
  get lockingName(): boolean {
    return this.parsed.instance !== undefined && (this.shape === 'ruby' || this.shape === null);
  }

  /** What the liveness probe needs to know about this file. */
  probed(): ProbedFile {
    return { fd: this.fd, dev: this.dev, ino: this.ino, processId: this.processId, lockingName: this.lockingName, writerless: this.parsed.archive };
  }

  /** sha1 of the first `used` bytes (compaction manifests identify absorbed files by it). */
  contentHash(used: number): string | null {
    const bytes = this.source.bytes;
    return used <= bytes.length ? contentHash(bytes, used) : null;
  }

  /** The writer's last heartbeat (UNIX seconds), if it keeps one. */
  heartbeat(): number | undefined {
    if (this.heartbeatEntry < 0) return undefined;
    return this.values[this.valueIndex[this.heartbeatEntry]!];
  }

  /**
   * Bring the index up to date with the file's current `used`, given its current size (from a
   * stat of the same inode). Throws FileProblem when the file cannot be served now; entries
   * already indexed stay indexed.
   */
  updateIndex(size: number, mtimeMs = -1): void {
    if (size < HEADER_SIZE) {
      this.source.load(0);
      throw new FileProblem('empty_file', `has ${size} bytes, fewer than the 8-byte header (still being created?)`);
    }
    const src = this.source;
    this.load(size);
    let used = readUsed(src.view);
    if (used > size) {
      // A writer extends the file before it appends: it may have grown since the caller's stat.
      const now = this.currentSize();
      if (now > size) {
        size = now;
        this.load(size);
        used = readUsed(src.view);
      }
    }
    this.size = size;
    const last = this.lastProblem;
    // A skipped file is looked at again only once it changed: its cost per scan is this check.
    if (last !== null && last.size === size && last.used === used && last.mtimeMs === mtimeMs) throw last.problem;
    try {
      checkUsed(used, size);
      src.readUsed(used);
      if (used < this.parsedUpTo) this.resetIndex(); // rewritten in place: start over
      if (this.slot === null) this.slot = detectSlotWidth(src.bytes, src.view, used);
      if (this.slot !== null) this.parseEntries(used, this.slot);
      this.lastProblem = null;
    } catch (e) {
      if (e instanceof FormatError) {
        const problem = new FileProblem(e.reason, e.message);
        this.lastProblem = { size, used, mtimeMs, problem };
        this.failedIndexUpdates++;
        throw problem;
      }
      throw e;
    }
  }

  private load(size: number): void {
    try {
      this.source.load(size);
    } catch (e) {
      throw new FileProblem('open_failed', `cannot be mapped (${size} bytes): ${(e as Error).message}`);
    }
  }

  private currentSize(): number {
    try {
      return fstatSync(this.fd).size;
    } catch (e) {
      throw new FileProblem('open_failed', `cannot be stat'ed: ${(e as Error).message}`);
    }
  }

  close(): void {
    this.source.close();
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private parseEntries(used: number, slot: SlotWidth): void {
    const { bytes, view } = this.source;
    let pos = this.parsedUpTo;
    while (pos < used) {
      const n = entryBounds(bytes, view, pos, used, slot);
      const key = this.keyCache.decode(bytes, pos + 4, pos + 4 + n);
      const shape = key.shape === 'python-nohelp' ? 'python' : key.shape;
      const fileShape = this.shape === 'python-nohelp' ? 'python' : this.shape;
      if (fileShape !== null && fileShape !== shape) {
        throw new FormatError('mixed_key_shapes', `key at offset ${pos + 4} is ${key.shape}-shaped but earlier keys are ${this.shape}-shaped`, pos + 4);
      }
      this.shape ??= key.shape;
      const size = entrySize(n, slot);
      const i = this.keys.length;
      if (i === this.valueIndex.length) {
        const grown = new Int32Array(i * 2);
        grown.set(this.valueIndex);
        this.valueIndex = grown;
      }
      this.valueIndex[i] = (pos + size - slot) / 8;
      if (key.metric === HEARTBEAT_METRIC) this.heartbeatEntry = i;
      this.keys.push(key);
      this.entriesParsed++;
      pos += size;
      this.parsedUpTo = pos;
    }
  }

  private resetIndex(): void {
    this.keys.length = 0;
    this.heartbeatEntry = -1;
    this.slot = null;
    this.shape = null;
    this.parsedUpTo = HEADER_SIZE;
    this.generation++;
  }
}

/** The writer layout a file matches: python (≥ 0.18), python-legacy (≤ 0.17), ruby; unknown until it has entries. */
export function dialectOf(f: { readonly shape: KeyShape | null; readonly slot: SlotWidth | null }): Dialect | 'unknown' {
  if (f.shape === null) return 'unknown';
  if (f.shape === 'ruby') return 'ruby';
  return f.slot === 16 ? 'python' : 'python-legacy';
}
