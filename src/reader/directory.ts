/**
 * The set of `.db` files in one directory, reconciled with `readdir` on every scan: new files
 * are opened and indexed, vanished or replaced ones dropped, every file refreshed. Read-only.
 */
import { lstatSync, readdirSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { parseFileName } from '../format/filename.js';
import { KeyCache } from './key-cache.js';
import { FileProblem, MappedFile, type SkipReason } from './mapped-file.js';

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
  readonly skipped: readonly SkippedFile[];
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

interface Tracked {
  file: MappedFile | null;
  problem: FileProblem | null;
  /** Scan number of the last sighting in readdir. */
  seen: number;
}

export class Directory {
  private readonly tracked = new Map<string, Tracked>();
  private readonly keyCache = new KeyCache();
  private scanCount = 0;
  private sorted: MappedFile[] = [];
  private sortedDirty = true;
  /** Entries parsed by files no longer tracked (so `entriesParsed` never goes back). */
  private retiredEntriesParsed = 0;

  /** Inode of the directory at the last scan (changes when it is removed and recreated). */
  inode = -1;

  constructor(readonly path: string) {}

  /** Total entries parsed since creation: proves that unchanged entries are never re-parsed. */
  get entriesParsed(): number {
    let n = this.retiredEntriesParsed;
    for (const t of this.tracked.values()) n += t.file?.entriesParsed ?? 0;
    return n;
  }

  scan(): ScanResult {
    const scan = ++this.scanCount;
    let names: string[];
    try {
      const st = statSync(this.path);
      if (!st.isDirectory()) {
        throw Object.assign(new Error(`not a directory`), { code: 'ENOTDIR' });
      }
      this.inode = st.ino;
      names = readdirSync(this.path);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new DirectoryError(err.code ?? 'EIO', `metrics directory ${this.path} cannot be read: ${err.message}`);
    }
    const files: MappedFile[] = [];
    const skipped: SkippedFile[] = [];
    for (const fileName of names) {
      if (!fileName.endsWith('.db')) continue;
      let t = this.tracked.get(fileName);
      if (t === undefined) {
        t = { file: null, problem: null, seen: scan };
        this.tracked.set(fileName, t);
      }
      t.seen = scan;
      const wasServed = t.file !== null && t.problem === null;
      const problem = this.refresh(fileName, t);
      if ((problem === null) !== wasServed) this.sortedDirty = true;
      if (problem === null) {
        t.problem = null;
        files.push(t.file!);
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
        this.drop(t);
        this.tracked.delete(fileName);
      }
    }
    if (this.sortedDirty) {
      this.sorted = files.sort((a, b) => (a.fileName < b.fileName ? -1 : a.fileName > b.fileName ? 1 : 0));
      this.sortedDirty = false;
    }
    skipped.sort((a, b) => (a.fileName < b.fileName ? -1 : 1));
    return { files: this.sorted, skipped };
  }

  close(): void {
    for (const t of this.tracked.values()) this.drop(t);
    this.tracked.clear();
    this.sorted = [];
  }

  /** Returns the reason the file cannot be served this scan, or null when `t.file` is current. */
  private refresh(fileName: string, t: Tracked): FileProblem | null {
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

  private drop(t: Tracked): void {
    if (t.file === null) return;
    this.retiredEntriesParsed += t.file.entriesParsed;
    t.file.close();
    t.file = null;
  }
}
