/**
 * One directory → merged metric families: a Directory (reader) feeding a Merger (merge). Keeps
 * both between collections, so a long-lived process re-reads only what changed; folds each dead
 * writer's file into the merge once, folds them all again when one vanishes or comes back, and
 * applies what a compaction did.
 */
import { Directory, type SkippedFile } from './reader/directory.js';
import type { MappedFile } from './reader/mapped-file.js';
import { Merger, type MergeProblem } from './merge/merger.js';
import type { Label } from './format/label.js';
import type { MetricFamily } from './merge/model.js';
import type { LivenessMode } from './reader/liveness.js';
import type { CompactionResult, Compactor } from './compaction/compactor.js';

export interface Collection {
  readonly families: readonly MetricFamily[];
  /** Files not served in this collection, with why. */
  readonly skipped: readonly SkippedFile[];
  /** Entries of served files that could not be merged. */
  readonly problems: readonly MergeProblem[];
  readonly filesServed: number;
  /** The files served, sorted by name (valid until the next collection). */
  readonly files: readonly MappedFile[];
  /** Files of dead writers, folded and no longer read. */
  readonly folded: number;
}

export interface CollectorOptions {
  /** Constant labels added to every merged series that lacks them (sorted by name). */
  readonly constLabels?: readonly Label[];
  /** How a writer's death is detected (default auto); `off` never folds a file. */
  readonly liveness?: LivenessMode;
}

export class Collector {
  readonly directory: Directory;
  private readonly merger: Merger;

  constructor(dir: string, options: CollectorOptions = {}) {
    this.directory = new Directory(dir, { liveness: options.liveness ?? 'auto' });
    this.merger = new Merger(options.constLabels ?? []);
  }

  /** Throws DirectoryError when the directory itself is unusable. */
  collect(): Collection {
    const scan = this.directory.scan();
    if (scan.foldedChanged) this.refold();
    // Dead writers' files: fold their values once, then stop reading them.
    for (const file of scan.toFold) {
      this.merger.fold(file);
      this.directory.markFolded(file);
    }
    const families = this.merger.merge(scan.files);
    return { families, skipped: scan.skipped, problems: this.merger.problems(), filesServed: scan.files.length, files: scan.files, folded: this.directory.foldedCount };
  }

  /**
   * A folded file vanished or came back: the folded sums cannot subtract it exactly, so fold
   * the dead files that are left again, from their (unchanging) contents, in name order.
   */
  private refold(): void {
    this.merger.refold(() => {
      for (const f of this.directory.foldedFiles()) {
        const file = this.directory.openFolded(f);
        if (file === null) continue;
        this.merger.fold(file);
        file.close();
      }
    });
  }

  /**
   * Compact now (only with --compaction): the dead files the directory knows for sure go into
   * archives and are deleted; the directory's state follows at once, and the next collection
   * folds the archives instead of the files they absorbed.
   */
  compact(compactor: Compactor): CompactionResult {
    const r = compactor.run(this.directory.compactionCandidates(), this.directory.absorbedLeftovers());
    this.directory.afterCompaction(r);
    return r;
  }

  /**
   * Look at up to `limit` folded files (round robin) for a writer that came back; true if one
   * did (collect again: its values are served live from then on). Runs off the scrape path.
   */
  probeFolded(limit = 256): boolean {
    return this.directory.probeFolded(limit);
  }

  get seriesCount(): number {
    return this.merger.seriesCount;
  }

  close(): void {
    this.directory.close();
  }
}
