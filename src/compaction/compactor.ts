/**
 * `--compaction`: fold dead writers' files into one archive file per (type/mode, dialect) and
 * delete them, so the directory stops growing with worker churn. Crash-safe at every step:
 *
 *   1. lock each dead file (exclusive flock: a writer coming back now gets a new file instead)
 *   2. write the new archive — the old archive's entries plus the dead files', and a manifest of
 *      the files absorbed — to `<archive>.tmp` (not `*.db`: no reader sees it), fsync
 *   3. rename it over the archive, fsync the directory          (the switch: one atomic step)
 *   4. delete the absorbed files, fsync the directory
 *
 * A crash before 3 leaves the old state (plus a temp file, removed next time); after 3 the
 * manifest makes every reader of ours ignore the absorbed files still present (docs/FORMAT.md §2, §9: bytes
 * past `used` are read by no library), and the next run deletes them. Gauges in live* modes of a
 * dead writer count for nothing and are just deleted; gauges in `all` mode are per process and are
 * never compacted. The only code that writes to the metrics directory.
 */
import { closeSync, constants, fstatSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { archiveFileName, contentHash, encodeTrailer, type AbsorbedFile } from '../format/archive.js';
import type { GaugeMode } from '../format/filename.js';
import { keyText } from '../format/key.js';
import { entryBounds, entrySize, HEADER_SIZE, paddingLength, readUsed, type SlotWidth } from '../format/layout.js';
import { Accumulator, Op } from '../merge/accumulator.js';
import { ARCHIVE_ID_PREFIX } from '../format/reserved.js';
import type { NativeBinding } from '../native.js';
import { readArchive, readFully } from '../reader/archive-manifests.js';
import type { CompactionCandidate } from '../reader/folded-files.js';

export type { CompactionCandidate };

export interface ArchiveWritten {
  readonly fileName: string;
  readonly absorbed: readonly AbsorbedFile[];
}

export interface CompactionResult {
  readonly archives: readonly ArchiveWritten[];
  /** Absorbed into an archive and deleted. */
  readonly deleted: readonly string[];
  /** Absorbed, but deleting failed: the archive's manifest keeps them from counting twice. */
  readonly absorbedNotDeleted: readonly string[];
  /** Dead writers' live* gauge files, deleted (they count for nothing). */
  readonly droppedLive: readonly string[];
  /** What could not be done, with where and why (logged; the rest went ahead). */
  readonly problems: readonly string[];
}

/** Test hook: the step after which to SIGKILL ourselves (crash-safety tests only). */
export type CrashPoint = 'temp-written' | 'temp-synced' | 'renamed' | 'deleted-one' | 'deleted-all';

type MutableResult = { -readonly [K in keyof CompactionResult]: CompactionResult[K] extends readonly (infer T)[] ? T[] : never };

const STALE_TEMP = new RegExp(`_${ARCHIVE_ID_PREFIX}[a-z-]+\\.db\\.tmp$`);

const OP_BY_MODE: Partial<Record<GaugeMode, Op>> = { min: Op.Min, max: Op.Max, sum: Op.Sum, mostrecent: Op.MostRecent };

interface Locked {
  readonly c: CompactionCandidate;
  readonly fd: number;
  readonly bytes: Uint8Array;
  readonly used: number;
}

export class Compactor {
  constructor(
    readonly dir: string,
    private readonly native: NativeBinding,
    private readonly crashAt: CrashPoint | undefined = undefined,
  ) {}

  /** `leftovers`: files a manifest lists that are still on disk (a crash after step 3). */
  run(candidates: readonly CompactionCandidate[], leftovers: readonly string[]): CompactionResult {
    const result: MutableResult = { archives: [], deleted: [], absorbedNotDeleted: [], droppedLive: [], problems: [] };
    this.removeStaleTemps();
    for (const name of leftovers) this.unlink(name, result.deleted, result.absorbedNotDeleted, result.problems);

    const groups = new Map<string, CompactionCandidate[]>();
    for (const c of candidates) {
      if (c.parsed.archive) continue;
      const mode = c.parsed.mode;
      if (mode !== undefined && mode.startsWith('live')) {
        this.dropLive(c, result);
        continue;
      }
      if (mode !== undefined && OP_BY_MODE[mode] === undefined) continue; // `all`: per process, kept
      if (c.dialect !== 'python' && c.dialect !== 'python-legacy' && c.dialect !== 'ruby') continue;
      const prefix = mode === undefined ? c.parsed.type : `gauge_${mode}`;
      const archive = archiveFileName(prefix, c.dialect);
      let g = groups.get(archive);
      if (g === undefined) groups.set(archive, (g = []));
      g.push(c);
    }
    for (const [archive, group] of [...groups].sort(([a], [b]) => (a < b ? -1 : 1))) {
      group.sort((a, b) => (a.fileName < b.fileName ? -1 : 1));
      this.compactGroup(archive, group, result);
    }
    return result;
  }

  private compactGroup(archive: string, group: readonly CompactionCandidate[], result: MutableResult): void {
    const locked: Locked[] = [];
    try {
      for (const c of group) {
        const l = this.lockAndRead(c, result.problems);
        if (l !== null) locked.push(l);
      }
      if (locked.length === 0) return;
      const slot: SlotWidth = group[0]!.dialect === 'python' ? 16 : 8;
      const mode = group[0]!.parsed.mode;
      const op = mode === undefined ? Op.Sum : OP_BY_MODE[mode]!;

      // The old archive's entries first, then each file's in name order: a stable order.
      const merged = new Map<string, Accumulator>();
      const addEntries = (bytes: Uint8Array, used: number): void => {
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        for (let pos = HEADER_SIZE; pos < used; ) {
          const n = entryBounds(bytes, view, pos, used, slot);
          const key = keyText(bytes.subarray(pos + 4, pos + 4 + n), pos + 4);
          const end = pos + entrySize(n, slot);
          let s = merged.get(key);
          if (s === undefined) merged.set(key, (s = new Accumulator(op)));
          const at = end - slot;
          s.add(view.getFloat64(at, true), slot === 16 ? view.getFloat64(at + 8, true) : 0);
          pos = end;
        }
      };
      const path = join(this.dir, archive);
      const old = readArchive(path);
      // An unreadable archive: leave everything as it is.
      if (old.kind === 'unopenable') {
        result.problems.push(`${path}: cannot be opened (${old.message}); its group is not compacted`);
        return;
      }
      if (old.kind === 'invalid') {
        result.problems.push(`${path}: not a valid archive (used=${old.used}, ${old.size} bytes); its group is not compacted`);
        return;
      }
      const keep: AbsorbedFile[] = [];
      if (old.kind === 'archive') {
        addEntries(old.bytes, old.used);
        for (const a of old.absorbed) if (this.stillPresent(a)) keep.push(a);
      }
      const absorbed: AbsorbedFile[] = [...keep];
      for (const l of locked) {
        try {
          addEntries(l.bytes, l.used);
          absorbed.push({ name: l.c.fileName, ino: l.c.ino, used: l.used, sha1: contentHash(l.bytes, l.used) });
        } catch (e) {
          result.problems.push(`${join(this.dir, l.c.fileName)}: ${(e as Error).message}; not compacted`);
          return; // a bad file would make a bad archive: give this group up, nothing was written
        }
      }

      const bytes = encodeArchive(merged, slot, absorbed);
      const temp = `${path}.tmp`;
      rmSync(temp, { force: true }); // a temp file of a crashed run
      const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
      try {
        writeAll(fd, bytes);
        this.crash('temp-written');
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      this.crash('temp-synced');
      renameSync(temp, path);
      this.syncDir();
      this.crash('renamed');
      result.archives.push({ fileName: archive, absorbed });
      for (const l of locked) {
        this.unlink(l.c.fileName, result.deleted, result.absorbedNotDeleted, result.problems);
        this.crash('deleted-one');
      }
      this.syncDir();
      this.crash('deleted-all');
    } finally {
      for (const l of locked) closeSync(l.fd);
    }
  }

  /** Open, lock (if its writer locks) and read a dead file; null (with a problem) if it came back or changed. */
  private lockAndRead(c: CompactionCandidate, problems: string[]): Locked | null {
    const path = join(this.dir, c.fileName);
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch {
      return null; // vanished: nothing to do
    }
    try {
      if (c.locks && !this.native.flock(fd, 'ex', true)) {
        closeSync(fd);
        return null; // its writer is back: it stays a live file
      }
      const st = fstatSync(fd);
      if (st.ino !== c.ino || !st.isFile()) {
        closeSync(fd);
        return null;
      }
      const bytes = new Uint8Array(st.size);
      readFully(fd, bytes);
      const used = readUsed(new DataView(bytes.buffer));
      if (used > bytes.length || used % 8 !== 0) {
        problems.push(`${path}: used=${used} does not fit its ${bytes.length} bytes; not compacted`);
        closeSync(fd);
        return null;
      }
      return { c, fd, bytes, used };
    } catch (e) {
      closeSync(fd);
      problems.push(`${path}: ${(e as Error).message}; not compacted`);
      return null;
    }
  }

  /** A file an older manifest lists that is still on disk, unchanged (not yet deleted after a crash). */
  private stillPresent(a: AbsorbedFile): boolean {
    let fd: number;
    try {
      fd = openSync(join(this.dir, a.name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch {
      return false;
    }
    try {
      const st = fstatSync(fd);
      if (st.ino !== a.ino || st.size < a.used) return false;
      const bytes = new Uint8Array(a.used);
      readFully(fd, bytes);
      return contentHash(bytes, a.used) === a.sha1;
    } finally {
      closeSync(fd);
    }
  }

  private dropLive(c: CompactionCandidate, result: MutableResult): void {
    const path = join(this.dir, c.fileName);
    let fd = -1;
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      if (fstatSync(fd).ino !== c.ino) return;
      if (c.locks && !this.native.flock(fd, 'ex', true)) return; // back to life
      unlinkSync(path);
      result.droppedLive.push(c.fileName);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') result.problems.push(`${path}: cannot be deleted (${(e as Error).message})`);
    } finally {
      if (fd >= 0) closeSync(fd);
    }
  }

  private unlink(name: string, deleted: string[], notDeleted: string[], problems: string[]): void {
    try {
      unlinkSync(join(this.dir, name));
      deleted.push(name);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      notDeleted.push(name);
      problems.push(`${join(this.dir, name)}: absorbed but cannot be deleted (${(e as Error).message}); ignored while the archive lists it`);
    }
  }

  /** Temp archives of a run that crashed before its rename: never read by anyone, removed. */
  private removeStaleTemps(): void {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return;
    }
    for (const n of names) if (STALE_TEMP.test(n)) rmSync(join(this.dir, n), { force: true });
  }

  private syncDir(): void {
    const fd = openSync(this.dir, constants.O_RDONLY);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  private crash(point: CrashPoint): void {
    if (this.crashAt === point) process.kill(process.pid, 'SIGKILL');
  }
}

/** The archive's bytes: header, one entry per distinct key (its merged value), then the manifest. */
function encodeArchive(merged: ReadonlyMap<string, Accumulator>, slot: SlotWidth, absorbed: readonly AbsorbedFile[]): Uint8Array {
  const utf8 = new TextEncoder();
  const keys = [...merged.keys()].map((k) => utf8.encode(k));
  const used = keys.reduce((n, k) => n + entrySize(k.length, slot), HEADER_SIZE);
  const trailer = encodeTrailer(absorbed);
  const bytes = new Uint8Array(used + trailer.length);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, used, true);
  let pos = HEADER_SIZE;
  let i = 0;
  for (const s of merged.values()) {
    const k = keys[i++]!;
    s.finish();
    view.setUint32(pos, k.length, true);
    bytes.set(k, pos + 4);
    bytes.fill(0x20, pos + 4 + k.length, pos + 4 + k.length + paddingLength(k.length));
    const at = pos + entrySize(k.length, slot) - slot;
    view.setFloat64(at, s.value, true);
    if (slot === 16) view.setFloat64(at + 8, s.op === Op.MostRecent ? s.ts : 0, true);
    pos += entrySize(k.length, slot);
  }
  bytes.set(trailer, used);
  return bytes;
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
}
