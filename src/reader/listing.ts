/**
 * A directory's names, cached: `readdir` runs again only when the directory's mtime says a name
 * may have changed, so a scan of an unchanged directory of 10,000 files lists nothing.
 */
import { readdirSync, statSync } from 'node:fs';

/** The directory itself is unusable (missing, not a directory, unreadable). */
export class DirectoryError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A listing is reused only if the directory's mtime is older than this when it was taken. */
const LISTING_MTIME_MARGIN_NS = 1_000_000_000n;

export class DirectoryListing {
  private names: string[] | null = null;
  private mtime = -1n;
  private takenAt = -1n;

  /** Inode of the directory at the last listing (changes when it is removed and recreated). */
  inode = -1;

  constructor(readonly path: string) {}

  /** The next list() reads the directory again (names changed under us). */
  invalidate(): void {
    this.names = null;
  }

  /**
   * The directory's names; `fresh` when read from the directory now. `readdir` again unless the
   * directory's mtime is unchanged and was already older than the margin when the last listing
   * was taken: any change since would have moved the mtime past it, so the old listing is still
   * exact. Throws DirectoryError.
   */
  list(): { names: string[]; fresh: boolean } {
    let st;
    try {
      st = statSync(this.path, { bigint: true });
      if (!st.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      this.names = null;
      throw new DirectoryError(err.code ?? 'EIO', `metrics directory ${this.path} cannot be read: ${err.message}`);
    }
    const ino = Number(st.ino);
    if (this.names !== null && ino === this.inode && st.mtimeNs === this.mtime && this.takenAt - st.mtimeNs > LISTING_MTIME_MARGIN_NS) {
      return { names: this.names, fresh: false };
    }
    const takenAt = BigInt(Date.now()) * 1_000_000n;
    let names: string[];
    try {
      names = readdirSync(this.path);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      this.names = null;
      throw new DirectoryError(err.code ?? 'EIO', `metrics directory ${this.path} cannot be read: ${err.message}`);
    }
    this.inode = ino;
    this.names = names;
    this.mtime = st.mtimeNs;
    this.takenAt = takenAt;
    return { names, fresh: true };
  }
}
