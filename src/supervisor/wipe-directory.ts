/**
 * Empty a metrics directory before the daemon and the workers start (what GitLab does at boot):
 * only regular `*.db` files directly in it are removed; subdirectories, symlinks and other files
 * stay, and the directory itself is kept (created, with its parents, if missing).
 */
import { mkdirSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

export class WipeError extends Error {}

/** Removes the `.db` files of `dir`; returns the names removed, sorted. */
export function wipeMetricsDirectory(dir: string): string[] {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new WipeError(`cannot create the metrics directory ${dir}: ${(e as Error).message}`);
  }
  if (!statSync(dir).isDirectory()) throw new WipeError(`the metrics directory ${dir} is not a directory`);
  const removed: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.db')) continue;
    try {
      unlinkSync(join(dir, entry.name));
      removed.push(entry.name);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // gone meanwhile
      throw new WipeError(`cannot remove ${join(dir, entry.name)}: ${(e as Error).message}; the daemon was not started`);
    }
  }
  return removed.sort();
}
