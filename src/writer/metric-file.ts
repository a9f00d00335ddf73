/**
 * One `.db` file this process writes: created or continued, held with an exclusive flock while
 * the process lives, grown by doubling, entries appended (entry first, then `used`), values
 * stored in place through a writable shared mapping (docs/FORMAT.md §2, §3, §6, §7).
 */
import { closeSync, constants, ftruncateSync, openSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { slotWidthOf, type Dialect } from '../format/dialect.js';
import { keyText } from '../format/key.js';
import { detectSlotWidth, entryBounds, entrySize, HEADER_SIZE, paddingLength, PYTHON_INITIAL_SIZE, readUsed, type SlotWidth } from '../format/layout.js';
import { loadNative, nativeLoadError, type NativeBinding } from '../native.js';
import { WriterConfigError, type WriterSettings } from './settings.js';

/** Ruby 0.16.2's initial size (1.x uses the page size, 4096 on the usual machines). */
const RUBY_INITIAL_SIZE = 4096;
/** Other live processes with the same id before giving up on finding a free file name. */
const MAX_INSTANCES = 1000;

const encoder = new TextEncoder();

export class MetricFile {
  /** The values; replaced on growth, so always read it through the file. */
  f64 = new Float64Array(0);
  private bytes = new Uint8Array(0);
  private view = new DataView(new ArrayBuffer(0));
  private mapping: ArrayBuffer | null = null;
  private capacity = 0;
  private used = HEADER_SIZE;
  private readonly index = new Map<string, number>();

  private constructor(
    readonly path: string,
    private readonly fd: number,
    private readonly native: NativeBinding,
    private readonly layout: Dialect,
    readonly slot: SlotWidth,
  ) {}

  /**
   * Open the file for `prefix` (`counter`, `gauge_all`, …): the first name in the layout's naming
   * whose lock this process gets (a live process with the same id holds the others).
   */
  static open(prefix: string, s: WriterSettings): MetricFile {
    if (endianness() !== 'LE') throw new WriterConfigError('only little-endian machines are supported (the files are native-endian)');
    const native = loadNative();
    if (native === null) throw new WriterConfigError(`the native addon is needed to write metrics: ${nativeLoadError()}`);
    for (let n = 0; n < MAX_INSTANCES; n++) {
      const name = s.layout === 'ruby' ? `${prefix}_${s.processId}-${n}.db` : n === 0 ? `${prefix}_${s.processId}.db` : `${prefix}_${s.processId}-${n}.db`;
      const path = join(s.dir, name);
      let fd: number;
      try {
        fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o644);
      } catch (e) {
        throw new WriterConfigError(`cannot open ${path}: ${(e as Error).message}`);
      }
      if (!native.flock(fd, 'ex', true)) {
        closeSync(fd); // another live process with this id writes it
        continue;
      }
      const file = new MetricFile(path, fd, native, s.layout, slotWidthOf(s.layout));
      try {
        file.load();
        // A live* gauge belongs to one process lifetime: its lock was free, so the file's previous
        // writer is gone (died or exited), and its values must not count for this process.
        if (prefix.startsWith('gauge_live')) file.zeroValues();
      } catch (e) {
        file.close();
        throw e;
      }
      return file;
    }
    throw new WriterConfigError(`${MAX_INSTANCES} live processes already write ${prefix} files with process id ${s.processId}`);
  }

  /** Index in `f64` of the value of the entry with this key, appending the entry if new. */
  valueIndex(key: string): number {
    const known = this.index.get(key);
    if (known !== undefined) return known;
    return this.append(key);
  }

  /** Every entry's value (and timestamp) back to 0, as if this process had just created it. */
  private zeroValues(): void {
    for (const at of this.index.values()) {
      this.f64[at] = 0;
      if (this.slot === 16) this.f64[at + 1] = 0;
    }
  }

  close(): void {
    if (this.mapping !== null) this.native.munmap(this.mapping);
    this.mapping = null;
    closeSync(this.fd);
  }

  /** New file: size it and write the header. Existing file (restart, reused id): index its entries. */
  private load(): void {
    const size = this.native.fileSize(this.fd);
    if (size < HEADER_SIZE) {
      this.resize(this.layout === 'ruby' ? RUBY_INITIAL_SIZE : PYTHON_INITIAL_SIZE);
      this.view.setInt32(0, HEADER_SIZE, true);
      return;
    }
    this.map(size);
    const used = readUsed(this.view);
    if (used > size || used % 8 !== 0) throw new WriterConfigError(`${this.path} is corrupt (used=${used}, size ${size}): remove it`);
    const slot = detectSlotWidth(this.bytes, this.view, used);
    if (slot !== null && slot !== this.slot) {
      throw new WriterConfigError(
        `${this.path} has ${slot}-byte value slots but layout ${this.layout} writes ${this.slot}: files of another layout or library version are in the directory; wipe it`,
      );
    }
    let pos = HEADER_SIZE;
    while (pos < used) {
      const n = entryBounds(this.bytes, this.view, pos, used, this.slot);
      const size = entrySize(n, this.slot);
      this.index.set(keyText(this.bytes.subarray(pos + 4, pos + 4 + n), pos + 4), (pos + size - this.slot) / 8);
      pos += size;
    }
    this.used = used;
  }

  private append(key: string): number {
    const k = encoder.encode(key);
    const n = k.length;
    const size = entrySize(n, this.slot);
    let capacity = this.capacity;
    // Python grows while used + entry > capacity; Ruby keeps one spare byte (docs/FORMAT.md §2, §7).
    if (this.layout === 'ruby') while (capacity <= this.used + size) capacity *= 2;
    else while (this.used + size > capacity) capacity *= 2;
    if (capacity !== this.capacity) this.resize(capacity);

    const pos = this.used;
    this.view.setUint32(pos, n, true);
    this.bytes.set(k, pos + 4);
    this.bytes.fill(0x20, pos + 4 + n, pos + 4 + n + paddingLength(n));
    const at = (pos + size - this.slot) / 8;
    this.f64[at] = 0;
    if (this.slot === 16) this.f64[at + 1] = 0;
    // The entry is complete before `used` covers it: a reader never sees half an entry.
    this.used = pos + size;
    this.view.setInt32(0, this.used, true);
    this.index.set(key, at);
    return at;
  }

  private resize(capacity: number): void {
    ftruncateSync(this.fd, capacity);
    this.map(capacity);
  }

  private map(size: number): void {
    const previous = this.mapping;
    this.mapping = this.native.mmap(this.fd, size, true);
    if (previous !== null) this.native.munmap(previous);
    this.capacity = size;
    this.bytes = new Uint8Array(this.mapping);
    this.view = new DataView(this.mapping);
    this.f64 = new Float64Array(this.mapping);
  }
}

/** This process's files, one per (settings, prefix): settings change only in tests. */
const files = new Map<string, MetricFile>();

export function metricFile(prefix: string, s: WriterSettings): MetricFile {
  const id = `${s.dir}\u0000${s.layout}\u0000${s.processId}\u0000${prefix}`;
  let f = files.get(id);
  if (f === undefined) {
    f = MetricFile.open(prefix, s);
    files.set(id, f);
  }
  return f;
}
