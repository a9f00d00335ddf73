/**
 * One directory → merged metric families: a Directory (reader) feeding a Merger (merge). Keeps
 * both between collections, so a long-lived process re-reads only what changed.
 */
import { Directory, type SkippedFile } from './reader/directory.js';
import type { MappedFile } from './reader/mapped-file.js';
import { Merger, type MergeProblem } from './merge/merger.js';
import type { Label, MetricFamily } from './merge/model.js';

export interface Collection {
  readonly families: readonly MetricFamily[];
  /** Files not served in this collection, with why. */
  readonly skipped: readonly SkippedFile[];
  /** Entries of served files that could not be merged. */
  readonly problems: readonly MergeProblem[];
  readonly filesServed: number;
  /** The files served, sorted by name (valid until the next collection). */
  readonly files: readonly MappedFile[];
}

export interface CollectorOptions {
  /** Constant labels added to every merged series that lacks them (sorted by name). */
  readonly constLabels?: readonly Label[];
}

export class Collector {
  readonly directory: Directory;
  private readonly merger: Merger;

  constructor(dir: string, options: CollectorOptions = {}) {
    this.directory = new Directory(dir);
    this.merger = new Merger(options.constLabels ?? []);
  }

  /** Throws DirectoryError when the directory itself is unusable. */
  collect(): Collection {
    const scan = this.directory.scan();
    const families = this.merger.merge(scan.files);
    return { families, skipped: scan.skipped, problems: this.merger.problems(), filesServed: scan.files.length, files: scan.files };
  }

  get seriesCount(): number {
    return this.merger.seriesCount;
  }

  close(): void {
    this.directory.close();
  }
}
