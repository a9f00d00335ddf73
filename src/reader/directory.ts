/**
 * The set of `.db` files in one directory, reconciled with `readdir` on every scan: new files
 * are opened and indexed, vanished or replaced ones dropped, every served file refreshed and its
 * writer's liveness checked. Files whose writer died are handed to the caller once (`dying`) to be
 * folded into the merge, then unmapped and only remembered (`folded`): a scan does no work for
 * them, and a background probe (`probeFolded`) notices when one comes back to life. Read-only.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseFileName, type ParsedFileName } from '../format/filename.js';
import type { KeyShape } from '../format/key.js';
import type { SlotWidth } from '../format/layout.js';
import { loadNative } from '../native.js';
import { KeyCache } from './key-cache.js';
import { LivenessProbe, newMemo, type LivenessMemo, type LivenessMode, type WriterState } from './liveness.js';
import { dialectOf, FileProblem, MappedFile, type SkipReason } from './mapped-file.js';

export interface SkippedFile {
  readonly fileName: string;
  readonly reason: SkipReason;
  /** What is wrong, where, and what happens next; starts with the file's path. */
  readonly message: string;
  /** True on the scan where the file was first skipped for this reason (log once). */
  readonly isNew: boolean;
}

/** A file whose writer died: folded into the merge, unmapped, remembered by identity. */
export interface FoldedFile {
  readonly fileName: string;
  readonly name: ParsedFileName;
  readonly processId: string;
  readonly dialect: string;
  readonly entries: number;
  readonly size: number;
  /** Last heartbeat the writer stored (UNIX seconds), if it kept one. */
  readonly heartbeat: number | undefined;
}

export interface ScanResult {
  /** Files served in this scan, sorted by file name (the merge order, independent of readdir). */
  readonly files: readonly MappedFile[];
  /** Served files whose writer was found dead this scan: fold them, then `retire()` each. */
  readonly dying: readonly MappedFile[];
  /** A folded file vanished, was replaced or came back to life: rebuild from `folded()`. */
  readonly foldedChanged: boolean;
  readonly skipped: readonly SkippedFile[];
}

/** One file as the status page shows it. */
export interface FileStatus {
  readonly fileName: string;
  readonly type: string | null;
  readonly mode: string | null;
  readonly processId: string | null;
  readonly dialect: string;
  /** live/unknown: served from its mapping; dead: folded and unmapped; skipped: see `error`. */
  readonly state: WriterState | 'skipped';
  readonly entries: number;
  readonly bytes: number;
  readonly mappedBytes: number;
  readonly heartbeat: number | undefined;
  readonly error: string | null;
}

/** The directory itself is unusable (missing, not a directory, unreadable). */
export class DirectoryError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface DirectoryOptions {
  readonly liveness?: LivenessMode;
}

interface Folded extends FoldedFile {
  readonly dev: number;
  readonly ino: number;
  readonly lockingName: boolean;
  readonly shape: KeyShape | null;
  readonly slot: SlotWidth | null;
}

interface Tracked {
  file: MappedFile | null;
  problem: FileProblem | null;
  /** Scan number of the last sighting in readdir. */
  seen: number;
  memo: LivenessMemo;
  state: WriterState;
  folded: Folded | null;
}

/** A listing is reused only if the directory's mtime is older than this when it was taken. */
const LISTING_MTIME_MARGIN_NS = 1_000_000_000n;
const PROBE_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

export class Directory {
  private readonly tracked = new Map<string, Tracked>();
  private readonly keyCache = new KeyCache();
  private readonly probe: LivenessProbe;
  private scanCount = 0;
  private sorted: MappedFile[] = [];
  private sortedDirty = true;
  private foldedChanged = false;
  /** Entries parsed by files no longer tracked (so `entriesParsed` never goes back). */
  private retiredEntriesParsed = 0;
  private listing: string[] | null = null;
  private listingMtime = -1n;
  private listingTakenAt = -1n;
  /** Where probeFolded() goes on from (round robin over the folded files). */
  private probeCursor = '';

  /** Inode of the directory at the last scan (changes when it is removed and recreated). */
  inode = -1;

  constructor(
    readonly path: string,
    options: DirectoryOptions = {},
  ) {
    this.probe = new LivenessProbe(options.liveness ?? 'auto', loadNative());
  }

  get livenessMode(): LivenessMode {
    return this.probe.mode;
  }

  /** Total entries parsed since creation: proves that unchanged entries are never re-parsed. */
  get entriesParsed(): number {
    let n = this.retiredEntriesParsed;
    for (const t of this.tracked.values()) n += t.file?.entriesParsed ?? 0;
    return n;
  }

  get foldedCount(): number {
    let n = 0;
    for (const t of this.tracked.values()) if (t.folded !== null) n++;
    return n;
  }

  scan(): ScanResult {
    const scan = ++this.scanCount;
    const names = this.list();
    this.probe.beginRound();
    const files: MappedFile[] = [];
    const dying: MappedFile[] = [];
    const skipped: SkippedFile[] = [];
    for (const fileName of names) {
      if (!fileName.endsWith('.db')) continue;
      let t = this.tracked.get(fileName);
      if (t === undefined) {
        t = { file: null, problem: null, seen: scan, memo: newMemo(), state: 'unknown', folded: null };
        this.tracked.set(fileName, t);
      }
      t.seen = scan;
      if (t.folded !== null) continue; // dead and folded: nothing to do until probeFolded() says otherwise
      const wasServed = t.file !== null && t.problem === null;
      const problem = this.refresh(fileName, t);
      if ((problem === null) !== wasServed) this.sortedDirty = true;
      if (problem === null) {
        t.problem = null;
        const file = t.file!;
        t.state = file.writerState = this.probe.check(file.probed(), t.memo);
        if (t.state === 'dead') {
          dying.push(file);
          this.sortedDirty = true;
        } else {
          files.push(file);
        }
        continue;
      }
      const isNew = t.problem === null || t.problem.reason !== problem.reason;
      t.problem = problem;
      skipped.push({
        fileName,
        reason: problem.reason,
        message: `${join(this.path, fileName)}: ${problem.message}; skipped, other files served`,
        isNew,
      });
    }
    for (const [fileName, t] of this.tracked) {
      if (t.seen !== scan) {
        if (t.file !== null && t.problem === null) this.sortedDirty = true;
        if (t.folded !== null) this.foldedChanged = true;
        this.drop(t);
        this.tracked.delete(fileName);
      }
    }
    if (this.sortedDirty) {
      this.sorted = files.sort((a, b) => (a.fileName < b.fileName ? -1 : a.fileName > b.fileName ? 1 : 0));
      this.sortedDirty = false;
    }
    skipped.sort((a, b) => (a.fileName < b.fileName ? -1 : 1));
    const foldedChanged = this.foldedChanged;
    this.foldedChanged = false;
    return { files: this.sorted, dying, foldedChanged, skipped };
  }

  /** After its values were folded: unmap a file of `dying`, remember it as folded. */
  retire(file: MappedFile): void {
    const t = this.tracked.get(file.fileName);
    if (t === undefined || t.file !== file) return;
    t.folded = {
      fileName: file.fileName,
      name: file.name,
      processId: file.processId,
      dialect: dialectOf(file),
      entries: file.entryCount,
      size: file.size,
      heartbeat: file.heartbeat(),
      dev: file.dev,
      ino: file.ino,
      lockingName: file.lockingName,
      shape: file.shape,
      slot: file.slot,
    };
    this.drop(t);
  }

  /** The folded files, sorted by name. */
  folded(): FoldedFile[] {
    const out: Folded[] = [];
    for (const t of this.tracked.values()) if (t.folded !== null) out.push(t.folded);
    return out.sort((a, b) => (a.fileName < b.fileName ? -1 : 1));
  }

  /**
   * Map a folded file again to re-read its (unchanging) values, e.g. to rebuild the folded sums;
   * the caller closes it. Null if it is no longer the same file (the next scan sorts that out).
   */
  openFolded(f: FoldedFile): MappedFile | null {
    const t = this.tracked.get(f.fileName);
    if (t?.folded == null) return null;
    let file: MappedFile;
    try {
      file = MappedFile.open(join(this.path, f.fileName), f.fileName, t.folded.name, this.keyCache);
      if (file.ino !== t.folded.ino || file.dev !== t.folded.dev) {
        file.close();
        this.unfold(t);
        return null;
      }
      file.refresh(fstatSync(file.probed().fd).size);
    } catch (e) {
      if (!(e instanceof FileProblem) && (e as NodeJS.ErrnoException).code === undefined) throw e;
      this.unfold(t);
      return null;
    }
    return file;
  }

  /**
   * Check up to `limit` folded files (round robin) for a writer that came back (a restarted
   * worker with a stable id, a reused pid) or a file replaced under the same name. Returns true
   * if one did: the next scan serves it again and reports `foldedChanged`.
   */
  probeFolded(limit: number): boolean {
    const names = [...this.tracked.keys()].filter((n) => this.tracked.get(n)!.folded !== null).sort();
    if (names.length === 0) return false;
    let start = names.findIndex((n) => n > this.probeCursor);
    if (start < 0) start = 0;
    this.probe.beginRound();
    let changed = false;
    for (let i = 0; i < Math.min(limit, names.length); i++) {
      const name = names[(start + i) % names.length]!;
      this.probeCursor = name;
      const t = this.tracked.get(name)!;
      const f = t.folded!;
      let fd = -1;
      try {
        fd = openSync(join(this.path, name), PROBE_FLAGS);
        const st = fstatSync(fd);
        const same = st.ino === f.ino && st.dev === f.dev;
        const state = same ? this.probe.check({ fd, dev: f.dev, ino: f.ino, processId: f.processId, lockingName: f.lockingName, writerless: f.name.archive }, t.memo) : 'live';
        if (!same || state === 'live') {
          this.unfold(t);
          changed = true;
        }
      } catch {
        // vanished: the next scan's readdir drops it
      } finally {
        if (fd >= 0) closeSync(fd);
      }
    }
    return changed;
  }

  status(): FileStatus[] {
    const out: FileStatus[] = [];
    for (const [fileName, t] of this.tracked) {
      const f = t.file;
      const d = t.folded;
      const parsed = f?.name ?? d?.name ?? null;
      out.push({
        fileName,
        type: parsed?.type ?? null,
        mode: parsed?.mode ?? null,
        processId: f?.processId ?? d?.processId ?? null,
        dialect: f !== null ? dialectOf(f) : (d?.dialect ?? 'unknown'),
        state: t.problem !== null ? 'skipped' : d !== null ? 'dead' : t.state,
        entries: f?.entryCount ?? d?.entries ?? 0,
        bytes: f?.size ?? d?.size ?? 0,
        mappedBytes: f?.mappedBytes ?? 0,
        heartbeat: f !== null ? f.heartbeat() : d?.heartbeat,
        error: t.problem?.message ?? null,
      });
    }
    return out.sort((a, b) => (a.fileName < b.fileName ? -1 : 1));
  }

  close(): void {
    for (const t of this.tracked.values()) this.drop(t);
    this.tracked.clear();
    this.sorted = [];
  }

  /**
   * The directory's names. `readdir` again unless the directory's mtime is unchanged and was
   * already older than the margin when the last listing was taken: any change since would have
   * moved the mtime past it, so the old listing is still exact.
   */
  private list(): string[] {
    let st;
    try {
      st = statSync(this.path, { bigint: true });
      if (!st.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      this.listing = null;
      throw new DirectoryError(err.code ?? 'EIO', `metrics directory ${this.path} cannot be read: ${err.message}`);
    }
    const ino = Number(st.ino);
    if (this.listing !== null && ino === this.inode && st.mtimeNs === this.listingMtime && this.listingTakenAt - st.mtimeNs > LISTING_MTIME_MARGIN_NS) {
      return this.listing;
    }
    const takenAt = BigInt(Date.now()) * 1_000_000n;
    let names: string[];
    try {
      names = readdirSync(this.path);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      this.listing = null;
      throw new DirectoryError(err.code ?? 'EIO', `metrics directory ${this.path} cannot be read: ${err.message}`);
    }
    this.inode = ino;
    this.listing = names;
    this.listingMtime = st.mtimeNs;
    this.listingTakenAt = takenAt;
    return names;
  }

  /** Returns the reason the file cannot be served this scan, or null when `t.file` is current. */
  private refresh(fileName: string, t: Tracked): FileProblem | null {
    const path = join(this.path, fileName);
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (st === undefined) {
      return new FileProblem('open_failed', 'vanished between listing and opening');
    }
    if (st.isSymbolicLink()) return new FileProblem('symlink', 'is a symbolic link (not followed)');
    if (!st.isFile()) return new FileProblem('not_regular_file', 'is not a regular file');
    if (t.file !== null && (t.file.ino !== st.ino || t.file.dev !== st.dev)) {
      this.drop(t); // replaced by another file under the same name: start over with the new one
      t.memo = newMemo();
      this.sortedDirty = true;
    }
    if (t.file === null) {
      const parsed = parseFileName(fileName);
      if (!parsed.ok) return new FileProblem('file_name', `file name ${parsed.message}`);
      try {
        t.file = MappedFile.open(path, fileName, parsed.name, this.keyCache);
      } catch (e) {
        if (e instanceof FileProblem) return e;
        throw e;
      }
      this.sortedDirty = true;
      if (t.file.ino !== st.ino || t.file.dev !== st.dev) {
        this.drop(t);
        return new FileProblem('open_failed', 'was replaced while being opened; retried on the next scan');
      }
    }
    try {
      t.file.refresh(st.size);
    } catch (e) {
      if (e instanceof FileProblem) return e;
      throw e;
    }
    return null;
  }

  /** A folded file is served again from the next scan on (revived, or replaced by a new file). */
  private unfold(t: Tracked): void {
    if (t.folded === null) return;
    t.folded = null;
    t.state = 'unknown';
    this.foldedChanged = true;
  }

  private drop(t: Tracked): void {
    if (t.file === null) return;
    this.retiredEntriesParsed += t.file.entriesParsed;
    t.file.close();
    t.file = null;
  }
}
