/**
 * Compaction archives as a reader sees them. `readArchive` is the one place an archive's bytes
 * are read, by the directory (for its manifest) and by compaction (to merge into it);
 * `ArchiveManifests` keeps the manifest of every archive present, so that a file a crashed
 * compaction absorbed but did not delete is not counted twice (format/archive.ts has the bytes).
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { decodeTrailer, type AbsorbedFile } from '../format/archive.js';
import { parseFileName } from '../format/filename.js';
import { FormatError, HEADER_SIZE, readUsed } from '../format/layout.js';
import type { MappedFile } from './mapped-file.js';

/** What reading an archive found. */
export type ArchiveRead =
  | { readonly kind: 'absent' }
  | { readonly kind: 'unopenable'; readonly message: string }
  /** Its `used` is outside 8..size: not an archive of ours. */
  | { readonly kind: 'invalid'; readonly used: number; readonly size: number }
  | { readonly kind: 'archive'; readonly bytes: Uint8Array; readonly used: number; readonly absorbed: readonly AbsorbedFile[] };

const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** Read a whole archive file (symlinks not followed); throws FormatError if it shrinks while read. */
export function readArchive(path: string): ArchiveRead {
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    return { kind: 'unopenable', message: (e as Error).message };
  }
  try {
    const bytes = new Uint8Array(fstatSync(fd).size);
    readFully(fd, bytes);
    const used = bytes.length >= HEADER_SIZE ? readUsed(new DataView(bytes.buffer)) : -1;
    if (used < HEADER_SIZE || used > bytes.length) return { kind: 'invalid', used, size: bytes.length };
    return { kind: 'archive', bytes, used, absorbed: decodeTrailer(bytes, used) };
  } finally {
    closeSync(fd);
  }
}

/** Fill `into` from the start of the file; throws FormatError if the file ends first (it shrank). */
export function readFully(fd: number, into: Uint8Array): void {
  let got = 0;
  while (got < into.length) {
    const n = readSync(fd, into, got, into.length - got, got);
    if (n === 0) throw new FormatError('used_out_of_range', `file shrank while read (${got} of ${into.length} bytes)`, got);
    got += n;
  }
}

/** The manifests of the compaction archives in one directory: archive file name → its inode and absorbed files. */
export class ArchiveManifests {
  private readonly byArchive = new Map<string, { ino: number; absorbed: readonly AbsorbedFile[] }>();

  constructor(private readonly dir: string) {}

  /** Read the manifest of every archive among `names` (again when one was replaced); forget the ones gone. */
  update(names: readonly string[]): void {
    const present = new Set<string>();
    for (const name of names) {
      if (!name.endsWith('.db')) continue;
      const parsed = parseFileName(name);
      if (!parsed.ok || !parsed.name.archive) continue;
      present.add(name);
      const path = join(this.dir, name);
      const st = lstatSync(path, { throwIfNoEntry: false });
      if (st === undefined || !st.isFile()) continue;
      if (this.byArchive.get(name)?.ino === st.ino) continue;
      try {
        const r = readArchive(path);
        if (r.kind === 'archive') this.byArchive.set(name, { ino: st.ino, absorbed: r.absorbed });
        else if (r.kind === 'invalid') this.byArchive.set(name, { ino: st.ino, absorbed: [] });
        else this.byArchive.delete(name);
      } catch {
        this.byArchive.delete(name);
      }
    }
    for (const name of [...this.byArchive.keys()]) if (!present.has(name)) this.byArchive.delete(name);
  }

  /** The manifest of an archive just written (its inode as opened). */
  set(archive: string, ino: number, absorbed: readonly AbsorbedFile[]): void {
    this.byArchive.set(archive, { ino, absorbed });
  }

  /** Whether `archive` is still present and its manifest lists `fileName`. */
  lists(archive: string, fileName: string): boolean {
    return this.byArchive.get(archive)?.absorbed.some((a) => a.name === fileName) === true;
  }

  /** The archive that already holds this very file (same name, inode and content), or null. */
  absorbing(file: MappedFile): string | null {
    for (const [archive, m] of this.byArchive) {
      for (const a of m.absorbed) {
        if (a.name === file.fileName && a.ino === file.ino && file.contentHash(a.used) === a.sha1) return archive;
      }
    }
    return null;
  }
}
