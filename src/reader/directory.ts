/**
 * The set of `.db` files in one directory, reconciled with `readdir` on every scan (the listing
 * itself is reused while the directory's mtime shows no change): new files are opened and
 * indexed, vanished or replaced ones dropped, every served file's index updated and its writer's
 * liveness checked. Files whose writer died are handed to the caller once (`toFold`) to be
 * folded into the merge; from then on folded-files.ts keeps them. Files a compaction archive
 * already holds are not counted (archive-manifests.ts). Read-only: never writes to the directory.
 */
import { fstatSync, lstatSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { AbsorbedFile } from '../format/archive.js';
import { parseFileName } from '../format/filename.js';
import { loadNative } from '../native.js';
import { ArchiveManifests } from './archive-manifests.js';
import { fileOf, statusOf, unopened, UNOPENED, type EntryState, type FileEntry, type FileStatus, type FoldedFile, type OpenState } from './file-entry.js';
import { foldedRecord, FoldedFiles, type CompactionCandidate } from './folded-files.js';
import { KeyCache } from './key-cache.js';
import { DirectoryListing } from './listing.js';
import { LivenessProbe, newMemo, type LivenessMode } from './liveness.js';
import { FileProblem, MappedFile, type SkipReason } from './mapped-file.js';

export { DirectoryError } from './listing.js';
export type { CompactionCandidate, FileStatus, FoldedFile };

export interface SkippedFile {
  readonly fileName: string;
  readonly reason: SkipReason;
  /** What is wrong, where, and what happens next; starts with the file's path. */
  readonly message: string;
  /** True on the scan where the file was first skipped for this reason (log once). */
  readonly isNew: boolean;
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

export interface DirectoryOptions {
  readonly liveness?: LivenessMode;
}

/** What syncEntry returns for a listed name that no longer exists. */
const GONE = Symbol('gone');

export class Directory {
  private readonly entries = new Map<string, FileEntry>();
  private readonly keyCache = new KeyCache();
  private readonly probe: LivenessProbe;
  private readonly folded: FoldedFiles;
  /** Manifests of the compaction archives present. */
  private readonly manifests: ArchiveManifests;
  private scanCount = 0;
  private sorted: MappedFile[] = [];
  private sortedDirty = true;
  private foldedChanged = false;
  /** Entries parsed by files since closed (so `entriesParsed` never goes back). */
  private closedEntriesParsed = 0;
  private readonly listing: DirectoryListing;
  /** See activeNames(); null = to be rebuilt (a file was folded, unfolded, absorbed, added or removed). */
  private active: string[] | null = null;

  constructor(
    readonly path: string,
    options: DirectoryOptions = {},
  ) {
    this.probe = new LivenessProbe(options.liveness ?? 'auto', loadNative(), this.path);
    this.listing = new DirectoryListing(path);
    this.manifests = new ArchiveManifests(path);
    this.folded = new FoldedFiles(path, this.entries, this.probe, this.keyCache, () => {
      this.foldedChanged = true;
      this.changed();
    });
  }

  /** Inode of the directory at the last scan (changes when it is removed and recreated). */
  get inode(): number {
    return this.listing.inode;
  }

  get livenessMode(): LivenessMode {
    return this.probe.mode;
  }

  /** The liveness probe has seen a writer's process map a file here (see LivenessProbe.seesWriters). */
  get writersVisible(): boolean {
    return this.probe.seesWriters;
  }

  /** Total entries parsed since creation: proves that unchanged entries are never re-parsed. */
  get entriesParsed(): number {
    let n = this.closedEntriesParsed;
    for (const e of this.entries.values()) n += fileOf(e.state)?.entriesParsed ?? 0;
    return n;
  }

  /** Index updates of mapped files that read their entries and found a problem (a test hook). */
  get failedIndexUpdates(): number {
    let n = 0;
    for (const e of this.entries.values()) n += fileOf(e.state)?.failedIndexUpdates ?? 0;
    return n;
  }

  get foldedCount(): number {
    return this.folded.count;
  }

  scan(): ScanResult {
    const scan = ++this.scanCount;
    const listedAt = performance.now();
    const listed = this.listing.list();
    // An unchanged listing: only the files being served need a look (folded ones cost nothing).
    const names = listed.fresh ? listed.names : this.activeNames();
    if (listed.fresh) {
      this.manifests.update(names);
      this.changed();
    }
    this.probe.beginRound();
    const files: MappedFile[] = [];
    const toFold: MappedFile[] = [];
    const skipped: SkippedFile[] = [];
    for (const fileName of names) {
      if (!fileName.endsWith('.db')) continue;
      let e = this.entries.get(fileName);
      if (e === undefined) {
        e = { state: UNOPENED, seen: scan, memo: newMemo(listedAt), absorbCheck: true };
        this.entries.set(fileName, e);
      }
      e.seen = scan;
      const before = e.state;
      if (before.kind === 'folded') continue; // nothing to do until the probe of folded files says otherwise
      if (before.kind === 'absorbed') {
        if (this.manifests.lists(before.archive, fileName)) continue;
        e.state = UNOPENED; // its archive is gone: the file counts again
        e.absorbCheck = true;
        this.changed();
      }
      const wasServed = before.kind === 'open';
      const synced = this.syncEntry(fileName, e);
      if (synced === GONE) {
        // Deleted between the listing and its stat (a worker's files removed as it exits): it is
        // simply no longer there, as at the next listing; not a skipped file.
        if (wasServed) this.sortedDirty = true;
        this.forget(fileName, e);
        continue;
      }
      const served = !(synced instanceof FileProblem);
      if (served !== wasServed) this.sortedDirty = true;
      if (served) {
        const file = synced.file;
        if (e.absorbCheck) {
          e.absorbCheck = false;
          const archive = this.manifests.absorbing(file);
          if (archive !== null) {
            this.changed();
            this.drop(e, { kind: 'absorbed', archive });
            this.sortedDirty = true;
            continue;
          }
        }
        synced.writer = file.writerState = this.probe.check(file.probed(), e.memo);
        if (synced.writer === 'dead') {
          toFold.push(file);
          this.sortedDirty = true;
        } else {
          files.push(file);
        }
        continue;
      }
      const isNew = before.kind !== 'skipped' || before.problem.reason !== synced.reason;
      e.state = { kind: 'skipped', problem: synced, file: fileOf(e.state) };
      skipped.push({
        fileName,
        reason: synced.reason,
        message: `${join(this.path, fileName)}: ${synced.message}; skipped, other files served`,
        isNew,
      });
    }
    for (const [fileName, e] of listed.fresh ? this.entries : []) {
      if (e.seen !== scan) {
        if (e.state.kind === 'open') this.sortedDirty = true;
        if (e.state.kind === 'folded') this.foldedChanged = true;
        this.forget(fileName, e);
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
    const e = this.entries.get(file.fileName);
    if (e === undefined || fileOf(e.state) !== file) return;
    this.drop(e, { kind: 'folded', record: foldedRecord(file) });
    this.changed();
  }

  /** The folded files, sorted by name. */
  foldedFiles(): FoldedFile[] {
    return this.folded.list();
  }

  /** See FoldedFiles.open: a folded file mapped again, for the caller to read and close. */
  openFolded(f: FoldedFile): MappedFile | null {
    return this.folded.open(f);
  }

  /** See FoldedFiles.probe: true if a folded file's writer came back (scan again). */
  probeFolded(limit: number): boolean {
    return this.folded.probe(limit);
  }

  /** Folded files compaction may absorb: writers that were seen dead for sure (lock, or pid-named). */
  compactionCandidates(): CompactionCandidate[] {
    return this.folded.compactionCandidates();
  }

  status(): FileStatus[] {
    const out: FileStatus[] = [];
    for (const [fileName, e] of this.entries) out.push(statusOf(fileName, e.state));
    return out.sort((a, b) => (a.fileName < b.fileName ? -1 : 1));
  }

  /** Files an archive's manifest lists that are still on disk (a crash between rename and delete). */
  absorbedLeftovers(): string[] {
    const out: string[] = [];
    for (const [name, e] of this.entries) if (e.state.kind === 'absorbed') out.push(name);
    return out.sort();
  }

  /**
   * What a compaction did, applied at once: absorbed files are forgotten, each archive is the
   * folded file it now is; the folded sums are rebuilt at the next scan (`foldedChanged`).
   */
  afterCompaction(r: { archives: readonly { fileName: string; absorbed: readonly AbsorbedFile[] }[]; deleted: readonly string[]; absorbedNotDeleted: readonly string[]; droppedLive: readonly string[] }): void {
    for (const name of [...r.deleted, ...r.droppedLive]) {
      const e = this.entries.get(name);
      if (e !== undefined) this.forget(name, e);
    }
    for (const a of r.archives) {
      const parsed = parseFileName(a.fileName);
      if (!parsed.ok) continue;
      let e = this.entries.get(a.fileName);
      if (e === undefined) {
        e = { state: { kind: 'unopened', writer: 'dead' }, seen: this.scanCount, memo: newMemo(), absorbCheck: false };
        this.entries.set(a.fileName, e);
      }
      this.drop(e, unopened(e.state));
      let file: MappedFile | null = null;
      try {
        file = MappedFile.open(join(this.path, a.fileName), a.fileName, parsed.name, this.keyCache);
        file.updateIndex(fstatSync(file.probed().fd).size);
        this.manifests.set(a.fileName, file.ino, a.absorbed);
        e.state = { kind: 'folded', record: foldedRecord(file) };
      } catch {
        e.absorbCheck = true; // the next scan looks at it like any new file
      } finally {
        file?.close();
      }
    }
    for (const name of r.absorbedNotDeleted) {
      const e = this.entries.get(name);
      if (e === undefined) continue;
      const archive = r.archives.find((a) => a.absorbed.some((x) => x.name === name))?.fileName;
      this.drop(e, archive !== undefined ? { kind: 'absorbed', archive } : unopened(e.state));
    }
    this.foldedChanged = true;
    this.listing.invalidate(); // names changed under us: list again
    this.changed();
  }

  close(): void {
    for (const e of this.entries.values()) this.drop(e, UNOPENED);
    this.entries.clear();
    this.sorted = [];
  }

  /** Listed names that are neither folded nor absorbed: what a scan of an unchanged listing visits. */
  private activeNames(): string[] {
    if (this.active === null) {
      this.active = [];
      for (const [name, e] of this.entries) if (e.state.kind !== 'folded' && e.state.kind !== 'absorbed') this.active.push(name);
    }
    return this.active;
  }

  /** Which names are folded or active may have changed: both lists are rebuilt when next needed. */
  private changed(): void {
    this.active = null;
    this.folded.invalidate();
  }

  /**
   * Bring one listed name in line with the file on disk: stat it, (re)open it if new or replaced,
   * update its index. Returns its open state when it can be served this scan, else why not (the
   * entry then still holds the file it keeps mapped, if any).
   */
  private syncEntry(fileName: string, e: FileEntry): OpenState | FileProblem | typeof GONE {
    const path = join(this.path, fileName);
    let st: Stats | undefined;
    try {
      st = lstatSync(path, { throwIfNoEntry: false });
    } catch (err) {
      // The directory cannot be searched for a moment (a careless chmod): a file already mapped is
      // served from its mapping (its values stay current; entries it gains are indexed once it can be
      // stat'ed again), so a sum never drops for a scan and comes back as a phantom counter reset.
      if (e.state.kind === 'open') return e.state;
      return new FileProblem('open_failed', `cannot be stat'ed: ${(err as Error).message}`);
    }
    if (st === undefined) {
      // readdir decodes names as UTF-8: a name that is not UTF-8 is listed, but not found by its decoded form.
      if (fileName.includes('\uFFFD')) return new FileProblem('file_name', 'file name is not valid UTF-8');
      return GONE;
    }
    if (st.isSymbolicLink()) return new FileProblem('symlink', 'is a symbolic link (not followed)');
    if (!st.isFile()) return new FileProblem('not_regular_file', 'is not a regular file');
    let file = fileOf(e.state);
    if (file !== null && (file.ino !== st.ino || file.dev !== st.dev)) {
      this.drop(e, UNOPENED); // replaced by another file under the same name: start over with the new one
      e.memo = newMemo();
      this.sortedDirty = true;
      file = null;
    }
    if (file === null) {
      const parsed = parseFileName(fileName);
      if (!parsed.ok) return new FileProblem('file_name', `file name ${parsed.message}`);
      try {
        file = MappedFile.open(path, fileName, parsed.name, this.keyCache);
      } catch (err) {
        if (err instanceof FileProblem && err.reason === 'open_failed' && lstatSync(path, { throwIfNoEntry: false }) === undefined) return GONE;
        if (err instanceof FileProblem) return err;
        throw err;
      }
      e.state = { kind: 'open', file, writer: 'unknown' };
      e.absorbCheck = true;
      this.sortedDirty = true;
      if (file.ino !== st.ino || file.dev !== st.dev) {
        this.drop(e, UNOPENED);
        return new FileProblem('open_failed', 'was replaced while being opened; retried on the next scan');
      }
    }
    try {
      file.updateIndex(st.size, st.mtimeMs);
    } catch (err) {
      if (err instanceof FileProblem) return err;
      throw err;
    }
    if (e.state.kind !== 'open') e.state = { kind: 'open', file, writer: 'unknown' }; // a skipped file served again
    return e.state;
  }

  /** Unmap the entry's file, if it keeps one, and move it to `next`. */
  private drop(e: FileEntry, next: EntryState): void {
    const file = fileOf(e.state);
    if (file !== null) {
      this.closedEntriesParsed += file.entriesParsed;
      file.close();
    }
    e.state = next;
  }

  private forget(fileName: string, e: FileEntry): void {
    this.drop(e, UNOPENED);
    this.entries.delete(fileName);
    this.changed();
  }
}
