/**
 * An `fs.watch` hint on the metrics directory: when files appear or change size, `onChange`
 * runs (debounced) so new files are mapped and indexed before the next scrape needs them.
 * Only a hint: every scrape still reconciles with `readdir`, so a missed event loses nothing.
 */
import { watch, type FSWatcher } from 'node:fs';

export class DirectoryWatch {
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    readonly path: string,
    private readonly onChange: () => void,
    private readonly debounceMs = 25,
  ) {}

  get watching(): boolean {
    return this.watcher !== null;
  }

  /** Start watching if not already (the directory may not exist yet); returns whether it watches. */
  ensure(): boolean {
    if (this.watcher !== null || this.closed) return this.watcher !== null;
    try {
      const w = watch(this.path, { persistent: false }, () => this.schedule());
      // The directory was removed or became unreadable: stop; ensure() after the next good scan.
      w.on('error', () => this.stop());
      this.watcher = w;
    } catch {
      this.watcher = null;
    }
    return this.watcher !== null;
  }

  /** Watch afresh (the directory was removed and recreated: the old watch sees the old inode). */
  restart(): boolean {
    this.stop();
    return this.ensure();
  }

  /** Stop until the next ensure() (the directory is gone). */
  pause(): void {
    this.stop();
  }

  close(): void {
    this.closed = true;
    this.stop();
  }

  private stop(): void {
    this.watcher?.close();
    this.watcher = null;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.timer !== null || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.onChange();
    }, this.debounceMs);
    this.timer.unref();
  }
}
