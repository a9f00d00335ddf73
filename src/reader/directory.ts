/**
 * The set of `.db` files in one directory, reconciled with `readdir` on every scan: new files
 * are opened and indexed, vanished or replaced ones dropped, every served file's index updated and its
 * writer's liveness checked. Files whose writer died are handed to the caller once (`toFold`) to be
 * folded into the merge, then unmapped and only remembered (`folded`): a scan does no work for
 * them, and a background probe (`probeFolded`) notices when one comes back to life. Read-only.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, statSync, type Stats } from 'node:fs';
import type { AbsorbedFile } from '../format/archive.js';
import { join } from 'node:path';
import { parseFileName, type ParsedFileName } from '../format/filename.js';
import type { KeyShape } from '../format/key.js';
import type { SlotWidth } from '../format/layout.js';
import { loadNative } from '../native.js';
import { ArchiveManifests } from './archive-manifests.js';
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
  readonly parsed: ParsedFileName;
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
  /** Served files whose writer was found dead this scan: fold them, then `markFolded()` each. */
  readonly toFold: readonly MappedFile[];
  /** A folded file vanished, was replaced or came back to life: rebuild from `foldedFiles()`. */
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
  /**
   * live/unknown: served from its mapping; dead: folded and unmapped; skipped: see `error`;
   * absorbed: already in a compaction archive (left over by a crash; not counted again).
   */
  readonly state: WriterState | 'skipped' | 'absorbed';
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
  /** The archive whose manifest lists this very file (name, inode, content): not counted. */
  absorbedBy: string | null;
  /** Opened since the manifests were last compared with it. */
  absorbCheck: boolean;
}

/** A dead writer's file that compaction may absorb. */
export interface CompactionCandidate {
  readonly fileName: string;
  readonly parsed: ParsedFileName;
  readonly dialect: string;
  readonly ino: number;
  /** Its writer held a lock: lock it while absorbing. */
  readonly locks: boolean;
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
  /** See activeNames(); null = to be rebuilt (a file was folded, unfolded, absorbed, added or removed). */
  private active: string[] | null = null;
  private foldedCached = 0;
  /** Names of the folded files, sorted (the background probe's round robin); with activeNames(). */
  private foldedSorted: string[] = [];
  /** Manifests of the compaction archives present. */
  private readonly manifests: ArchiveManifests;

  /** Inode of the directory at the last scan (changes when it is removed and recreated). */
  inode = -1;

  constructor(
    readonly path: string,
    options: DirectoryOptions = {},
  ) {
    this.probe = new LivenessProbe(options.liveness ?? 'auto', loadNative());
    this.manifests = new ArchiveManifests(path);
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
    this.activeNames();
    return this.foldedCached;
  }

  /** Tracked names that are neither folded nor absorbed: what a scan of an unchanged listing visits. */
  private activeNames(): string[] {
    if (this.active === null) {
      this.active = [];
      const folded: string[] = [];
      for (const [name, t] of this.tracked) {
        if (t.folded !== null) folded.push(name);
        else if (t.absorbedBy === null) this.active.push(name);
      }
      this.foldedSorted = folded.sort();
      this.foldedCached = folded.length;
    }
    return this.active;
  }

  scan(): ScanResult {
    const scan = ++this.scanCount;
    const listed = this.list();
    // An unchanged listing: only the files being served need a look (folded ones cost nothing).
    const names = listed.fresh ? listed.names : this.activeNames();
    if (listed.fresh) {
      this.manifests.update(names);
      this.active = null;
    }
    this.probe.beginRound();
    const files: MappedFile[] = [];
    const toFold: MappedFile[] = [];
    const skipped: SkippedFile[] = [];
    for (const fileName of names) {
      if (!fileName.endsWith('.db')) continue;
      let t = this.tracked.get(fileName);
      if (t === undefined) {
        t = { file: null, problem: null, seen: scan, memo: newMemo(), state: 'unknown', folded: null, absorbedBy: null, absorbCheck: true };
        this.tracked.set(fileName, t);
      }
      t.seen = scan;
      if (t.folded !== null) continue; // dead and folded: nothing to do until probeFolded() says otherwise
      if (t.absorbedBy !== null) {
        if (this.manifests.lists(t.absorbedBy, fileName)) continue;
        t.absorbedBy = null; // its archive is gone: the file counts again
        t.absorbCheck = true;
        this.active = null;
      }
      const wasServed = t.file !== null && t.problem === null;
      const problem = this.syncEntry(fileName, t);
      if ((problem === null) !== wasServed) this.sortedDirty = true;
      if (problem === null) {
        t.problem = null;
        const file = t.file!;
        if (t.absorbCheck) {
          t.absorbCheck = false;
          t.absorbedBy = this.manifests.absorbing(file);
          if (t.absorbedBy !== null) {
            this.active = null;
            this.drop(t);
            this.sortedDirty = true;
            continue;
          }
        }
        t.state = file.writerState = this.probe.check(file.probed(), t.memo);
        if (t.state === 'dead') {
          toFold.push(file);
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
    for (const [fileName, t] of listed.fresh ? this.tracked : []) {
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
    return { files: this.sorted, toFold, foldedChanged, skipped };
  }

  /** After its values were folded: unmap a file of `toFold`, remember it as folded. */
  markFolded(file: MappedFile): void {
    const t = this.tracked.get(file.fileName);
    if (t === undefined || t.file !== file) return;
    t.folded = this.foldedRecord(file);
    this.active = null;
    this.drop(t);
  }

  private foldedRecord(file: MappedFile): Folded {
    return {
      fileName: file.fileName,
      parsed: file.parsed,
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
  }

  /** The folded files, sorted by name. */
  foldedFiles(): FoldedFile[] {
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
      file = MappedFile.open(join(this.path, f.fileName), f.fileName, t.folded.parsed, this.keyCache);
      if (file.ino !== t.folded.ino || file.dev !== t.folded.dev) {
        file.close();
        this.unfold(t);
        return null;
      }
      file.updateIndex(fstatSync(file.probed().fd).size);
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
    this.activeNames(); // brings foldedSorted up to date (rebuilt only when the folded set changed)
    const names = this.foldedSorted;
    if (names.length === 0) return false;
    let start = names.findIndex((n) => n > this.probeCursor);
    if (start < 0) start = 0;
    this.probe.beginRound();
    let changed = false;
    for (let i = 0; i < Math.min(limit, names.length); i++) {
      const name = names[(start + i) % names.length]!;
      this.probeCursor = name;
      const t = this.tracked.get(name);
      const f = t?.folded;
      if (t === undefined || f == null) continue;
      let fd = -1;
      try {
        fd = openSync(join(this.path, name), PROBE_FLAGS);
        const st = fstatSync(fd);
        const same = st.ino === f.ino && st.dev === f.dev;
        const state = same ? this.probe.check({ fd, dev: f.dev, ino: f.ino, processId: f.processId, lockingName: f.lockingName, writerless: f.parsed.archive }, t.memo, !t.memo.pidNamed) : 'live';
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
      const parsed = f?.parsed ?? d?.parsed ?? null;
      out.push({
        fileName,
        type: parsed?.type ?? null,
        mode: parsed?.mode ?? null,
        processId: f?.processId ?? d?.processId ?? null,
        dialect: f !== null ? dialectOf(f) : (d?.dialect ?? 'unknown'),
        state: t.absorbedBy !== null ? 'absorbed' : t.problem !== null ? 'skipped' : d !== null ? 'dead' : t.state,
        entries: f?.entryCount ?? d?.entries ?? 0,
        bytes: f?.size ?? d?.size ?? 0,
        mappedBytes: f?.mappedBytes ?? 0,
        heartbeat: f !== null ? f.heartbeat() : d?.heartbeat,
        error: t.problem?.message ?? null,
      });
    }
    return out.sort((a, b) => (a.fileName < b.fileName ? -1 : 1));
  }

  /** Folded files compaction may absorb: writers that were seen dead for sure (lock, or pid-named). */
  compactionCandidates(): CompactionCandidate[] {
    const out: CompactionCandidate[] = [];
    for (const t of this.tracked.values()) {
      const f = t.folded;
      if (f === null || f.parsed.archive) continue;
      const locks = f.lockingName || t.memo.lockSeen;
      if (!locks && !t.memo.pidNamed) continue; // a Python file under a custom id: it may be reopened any time
      out.push({ fileName: f.fileName, parsed: f.parsed, dialect: f.dialect, ino: f.ino, locks });
    }
    return out.sort((a, b) => (a.fileName < b.fileName ? -1 : 1));
  }

  /** Files an archive's manifest lists that are still on disk (a crash between rename and delete). */
  absorbedLeftovers(): string[] {
    const out: string[] = [];
    for (const [name, t] of this.tracked) if (t.absorbedBy !== null) out.push(name);
    return out.sort();
  }

  /**
   * What a compaction did, applied at once: absorbed files are forgotten, each archive is the
   * folded file it now is; the folded sums are rebuilt at the next scan (`foldedChanged`).
   */
  afterCompaction(r: { archives: readonly { fileName: string; absorbed: readonly AbsorbedFile[] }[]; deleted: readonly string[]; absorbedNotDeleted: readonly string[]; droppedLive: readonly string[] }): void {
    for (const name of [...r.deleted, ...r.droppedLive]) {
      const t = this.tracked.get(name);
      if (t === undefined) continue;
      this.drop(t);
      this.tracked.delete(name);
    }
    for (const a of r.archives) {
      const path = join(this.path, a.fileName);
      const parsed = parseFileName(a.fileName);
      if (!parsed.ok) continue;
      let t = this.tracked.get(a.fileName);
      if (t === undefined) {
        t = { file: null, problem: null, seen: this.scanCount, memo: newMemo(), state: 'dead', folded: null, absorbedBy: null, absorbCheck: false };
        this.tracked.set(a.fileName, t);
      }
      this.drop(t);
      t.folded = null;
      t.problem = null;
      let file: MappedFile | null = null;
      try {
        file = MappedFile.open(path, a.fileName, parsed.name, this.keyCache);
        file.updateIndex(fstatSync(file.probed().fd).size);
        this.manifests.set(a.fileName, file.ino, a.absorbed);
        t.folded = this.foldedRecord(file);
      } catch {
        t.absorbCheck = true; // the next scan looks at it like any new file
      } finally {
        file?.close();
      }
    }
    for (const name of r.absorbedNotDeleted) {
      const t = this.tracked.get(name);
      if (t === undefined) continue;
      this.drop(t);
      t.folded = null;
      t.absorbedBy = r.archives.find((a) => a.absorbed.some((x) => x.name === name))?.fileName ?? null;
    }
    this.foldedChanged = true;
    this.listing = null; // names changed under us: list again
    this.active = null;
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
  private list(): { names: string[]; fresh: boolean } {
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
      return { names: this.listing, fresh: false };
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
    return { names, fresh: true };
  }

  /**
   * Bring one listed name in line with the file on disk: stat it, (re)open it if new or replaced,
   * update its index. Returns why it cannot be served this scan, or null when `t.file` is current.
   */
  private syncEntry(fileName: string, t: Tracked): FileProblem | null {
    const path = join(this.path, fileName);
    let st: Stats | undefined;
    try {
      st = lstatSync(path, { throwIfNoEntry: false });
    } catch (e) {
      return new FileProblem('open_failed', `cannot be stat'ed: ${(e as Error).message}`);
    }
    if (st === undefined) {
      // readdir decodes names as UTF-8: a name that is not UTF-8 is listed, but not found by its decoded form.
      if (fileName.includes('\uFFFD')) return new FileProblem('file_name', 'file name is not valid UTF-8');
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
      t.absorbCheck = true;
      this.sortedDirty = true;
      if (t.file.ino !== st.ino || t.file.dev !== st.dev) {
        this.drop(t);
        return new FileProblem('open_failed', 'was replaced while being opened; retried on the next scan');
      }
    }
    try {
      t.file.updateIndex(st.size);
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
    this.active = null;
  }

  private drop(t: Tracked): void {
    if (t.file === null) return;
    this.retiredEntriesParsed += t.file.entriesParsed;
    t.file.close();
    t.file = null;
  }
}
