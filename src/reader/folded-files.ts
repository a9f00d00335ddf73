/**
 * The dead-writer lifecycle of a Directory's files. A file whose writer died is folded into the
 * merge once, then unmapped and kept only as a record (`foldedRecord`): a scan does no work for
 * it. `FoldedFiles` lists those files (to fold them again from scratch), maps one again on
 * request, probes a few at a time, off the scrape path, for a writer that came back (then the
 * file is served again from the next scan), and says which of them compaction may absorb.
 */
import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { ParsedFileName } from '../format/filename.js';
import type { KeyCache } from './key-cache.js';
import type { LivenessProbe } from './liveness.js';
import { dialectOf, FileProblem, MappedFile } from './mapped-file.js';
import { UNOPENED, type FileEntry, type FoldedFile, type FoldedRecord } from './file-entry.js';

/** A dead writer's file that compaction may absorb. */
export interface CompactionCandidate {
  readonly fileName: string;
  readonly parsed: ParsedFileName;
  readonly dialect: string;
  readonly ino: number;
  /** Its writer held a lock: lock it while absorbing. */
  readonly locks: boolean;
}

const PROBE_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** What is kept of a file once its values are folded (read while it is still mapped). */
export function foldedRecord(file: MappedFile): FoldedRecord {
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

/** The folded entries of one directory's entry map (which the Directory owns and changes). */
export class FoldedFiles {
  /** Names of the folded entries, sorted (the probe's round robin); null = to be rebuilt. */
  private names: string[] | null = null;
  /** Where probe() goes on from. */
  private cursor = '';

  constructor(
    private readonly path: string,
    private readonly entries: ReadonlyMap<string, FileEntry>,
    private readonly liveness: LivenessProbe,
    private readonly keyCache: KeyCache,
    /** Called when a folded entry became unopened again (the directory's sums and lists are stale). */
    private readonly unfolded: () => void,
  ) {}

  /** Some entry may have been folded, unfolded or removed: the names are rebuilt when next needed. */
  invalidate(): void {
    this.names = null;
  }

  get count(): number {
    return this.sortedNames().length;
  }

  /** The folded files, sorted by name. */
  list(): FoldedFile[] {
    const out: FoldedFile[] = [];
    for (const name of this.sortedNames()) {
      const s = this.entries.get(name)?.state;
      if (s?.kind === 'folded') out.push(s.record);
    }
    return out;
  }

  /**
   * Map a folded file again to re-read its (unchanging) values, e.g. to rebuild the folded sums;
   * the caller closes it. Null if it is no longer the same file (the next scan sorts that out).
   */
  open(f: FoldedFile): MappedFile | null {
    const e = this.entries.get(f.fileName);
    if (e === undefined || e.state.kind !== 'folded') return null;
    const record = e.state.record;
    let file: MappedFile;
    try {
      file = MappedFile.open(join(this.path, f.fileName), f.fileName, record.parsed, this.keyCache);
      if (file.ino !== record.ino || file.dev !== record.dev) {
        file.close();
        this.unfold(e);
        return null;
      }
      file.updateIndex(fstatSync(file.probed().fd).size);
    } catch (err) {
      if (!(err instanceof FileProblem) && (err as NodeJS.ErrnoException).code === undefined) throw err;
      this.unfold(e);
      return null;
    }
    return file;
  }

  /**
   * Check up to `limit` folded files (round robin) for a writer that came back (a restarted
   * worker with a stable id, a reused pid) or a file replaced under the same name. Returns true
   * if one did: the next scan serves it again and reports `foldedChanged`.
   */
  probe(limit: number): boolean {
    const names = this.sortedNames();
    if (names.length === 0) return false;
    let start = names.findIndex((n) => n > this.cursor);
    if (start < 0) start = 0;
    this.liveness.beginRound();
    let changed = false;
    for (let i = 0; i < Math.min(limit, names.length); i++) {
      const name = names[(start + i) % names.length]!;
      this.cursor = name;
      const e = this.entries.get(name);
      if (e === undefined || e.state.kind !== 'folded') continue;
      const f = e.state.record;
      let fd = -1;
      try {
        fd = openSync(join(this.path, name), PROBE_FLAGS);
        const st = fstatSync(fd);
        const same = st.ino === f.ino && st.dev === f.dev;
        const state = same ? this.liveness.check({ fd, dev: f.dev, ino: f.ino, processId: f.processId, lockingName: f.lockingName, writerless: f.parsed.archive }, e.memo, !e.memo.pidNamed) : 'live';
        if (!same || state === 'live') {
          this.unfold(e);
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

  /** Folded files compaction may absorb: writers that were seen dead for sure (lock, or pid-named). */
  compactionCandidates(): CompactionCandidate[] {
    const out: CompactionCandidate[] = [];
    for (const name of this.sortedNames()) {
      const e = this.entries.get(name);
      if (e === undefined || e.state.kind !== 'folded') continue;
      const f = e.state.record;
      if (f.parsed.archive) continue;
      const locks = f.lockingName || e.memo.lockSeen;
      if (!locks && !e.memo.pidNamed) continue; // a Python file under a custom id: it may be reopened any time
      out.push({ fileName: f.fileName, parsed: f.parsed, dialect: f.dialect, ino: f.ino, locks });
    }
    return out;
  }

  private sortedNames(): string[] {
    if (this.names === null) {
      const names: string[] = [];
      for (const [name, e] of this.entries) if (e.state.kind === 'folded') names.push(name);
      this.names = names.sort();
    }
    return this.names;
  }

  /** A folded file is served again from the next scan on (revived, or replaced by a new file). */
  private unfold(e: FileEntry): void {
    if (e.state.kind !== 'folded') return;
    e.state = UNOPENED;
    this.unfolded();
  }
}
