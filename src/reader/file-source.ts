/**
 * How a file's bytes reach the reader: a shared read-only mapping (native addon), or — when the
 * addon cannot load — plain reads of the used bytes on every index update. Same results, slower.
 */
import { readSync } from 'node:fs';
import { loadNative, type NativeBinding } from '../native.js';

export interface FileSource {
  /** Make `bytes`/`view`/`f64` show the file's first `size` bytes, at most 2^31 (`size` from a fresh stat). */
  load(size: number): void;
  /** After load(): narrow a plain-read source to `used` bytes (a mapping already shows them all). */
  readUsed(used: number): void;
  bytes: Uint8Array;
  view: DataView;
  f64: Float64Array;
  /** Bytes currently mapped (0 for plain reads). */
  readonly mappedBytes: number;
  close(): void;
}

const EMPTY = new ArrayBuffer(0);

abstract class BaseSource {
  bytes = new Uint8Array(EMPTY);
  view = new DataView(EMPTY);
  f64 = new Float64Array(EMPTY);

  protected show(buf: ArrayBuffer, length: number): void {
    this.bytes = new Uint8Array(buf, 0, length);
    this.view = new DataView(buf, 0, length);
    this.f64 = new Float64Array(buf, 0, Math.floor(length / 8));
  }
}

/**
 * Keeps one mapping of the file's current size (at most its first 2 GiB); remaps when the size changes, and after
 * a SIGBUS was absorbed (a page of some mapping may now read as zeros: see faultCount()).
 */
export class MappedSource extends BaseSource implements FileSource {
  private mapping: ArrayBuffer | null = null;
  private length = 0;
  private faultsAtMap = 0;

  constructor(
    private readonly native: NativeBinding,
    private readonly fd: number,
  ) {
    super();
  }

  get mappedBytes(): number {
    return this.length;
  }

  load(size: number): void {
    // `used` is an int32: a file's first 2^31 bytes hold everything a reader can see, so a larger
    // file maps only that prefix (and a buffer can hold no more than maxLength() anyway).
    const length = Math.min(size, 2 ** 31, this.native.maxLength());
    // Remap on shrink too: the pages past the new end would raise SIGBUS if touched.
    if (length === this.length && this.mapping !== null && this.native.faultCount() === this.faultsAtMap) return;
    this.unmap();
    if (length === 0) return;
    this.faultsAtMap = this.native.faultCount();
    const mapping = this.native.mmap(this.fd, length, false);
    this.mapping = mapping;
    this.length = length;
    this.show(mapping, length);
  }

  readUsed(): void {}

  close(): void {
    this.unmap();
  }

  private unmap(): void {
    if (this.mapping !== null) this.native.munmap(this.mapping);
    this.mapping = null;
    this.length = 0;
    this.show(EMPTY, 0);
  }
}

/** Fallback without the addon: read the header, then the used bytes, on every index update. */
export class ReadSource extends BaseSource implements FileSource {
  private buffer = new ArrayBuffer(0);
  private size = 0;
  readonly mappedBytes = 0;

  constructor(private readonly fd: number) {
    super();
  }

  load(size: number): void {
    this.size = size;
    this.fill(Math.min(size, 8));
  }

  readUsed(used: number): void {
    this.fill(Math.min(used, this.size));
  }

  close(): void {
    this.buffer = new ArrayBuffer(0);
    this.show(this.buffer, 0);
  }

  private fill(length: number): void {
    if (this.buffer.byteLength < length) this.buffer = new ArrayBuffer(Math.max(length, this.buffer.byteLength * 2));
    const target = new Uint8Array(this.buffer, 0, length);
    let got = 0;
    while (got < length) {
      const n = readSync(this.fd, target, got, length - got, got);
      if (n === 0) break; // shrank since the stat: show what is there
      got += n;
    }
    this.show(this.buffer, got);
  }
}

export function openSource(fd: number, native: NativeBinding | null = loadNative()): FileSource {
  return native === null ? new ReadSource(fd) : new MappedSource(native, fd);
}
