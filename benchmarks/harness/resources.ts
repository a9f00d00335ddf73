/**
 * Resources: every temp dir and child process a scenario makes is registered here and removed
 * or killed by cleanup(), which run.ts calls when the run ends, fails or is interrupted.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const tempDirs = new Set<string>();
const children = new Set<ChildProcess>();
const cleanupHooks: (() => void)[] = [];

/** A fresh directory under os.tmpdir(), removed by cleanup() (or earlier by removeTempDir). */
export function tempDir(purpose: string): string {
  const dir = mkdtempSync(join(tmpdir(), `mpe-bench-${purpose}-`));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** Registers a child process so cleanup() kills it if it is still running. */
export function track<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function cleanup(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
  for (const hook of cleanupHooks) hook();
}

/** Runs `hook` at every cleanup(), after the processes are killed and the directories removed. */
export function onCleanup(hook: () => void): void {
  cleanupHooks.push(hook);
}
