/**
 * A copy of the built package (bin/, dist/, the native addon, the production dependencies) that
 * another user can run. Tests that drop privileges cannot run the checkout itself: it may live
 * under a directory only its owner can enter (`mktemp -d` makes 0700 directories).
 */
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..', '..');

/**
 * Copies the runnable package into DIR, every directory 0755 and every file world-readable, and
 * returns the path of the copy's bin/multiproc-exporter. Throws if a directory above DIR is
 * closed to other users (then no copy there could help).
 */
export function copyPackageForOtherUsers(dir: string): string {
  for (let d = resolve(dir, '..'); ; d = dirname(d)) {
    const mode = statSync(d).mode & 0o777;
    if ((mode & 0o001) === 0) throw new Error(`${d} has mode ${mode.toString(8)}: other users cannot reach a copy of the package under ${dir}`);
    if (dirname(d) === d) break;
  }
  mkdirSync(dir, { recursive: true });
  const copy = (path: string): void => cpSync(path, join(dir, relative(ROOT, path)), { recursive: true });
  for (const part of ['package.json', 'bin', 'dist']) copy(join(ROOT, part));
  const addon = join(ROOT, 'native', 'build', 'Release', 'multiproc_mmap.node');
  if (existsSync(addon)) copy(addon); // the checkout without it falls back to plain reads; so does the copy
  for (const pkg of productionPackages()) copy(pkg);
  openToOthers(dir);
  return join(dir, 'bin', 'multiproc-exporter');
}

/** The directories of the package's dependencies, transitively (devDependencies left out). */
function productionPackages(): string[] {
  const found = new Set<string>();
  const visit = (from: string): void => {
    const manifest = JSON.parse(readFileSync(join(from, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
    for (const [name, optional] of [...Object.keys(manifest.dependencies ?? {}).map((n) => [n, false] as const), ...Object.keys(manifest.optionalDependencies ?? {}).map((n) => [n, true] as const)]) {
      const at = locate(name, from);
      if (at === undefined) {
        if (optional) continue;
        throw new Error(`${from}/package.json depends on ${name}, which is not installed (run npm ci)`);
      }
      if (found.has(at)) continue;
      found.add(at);
      visit(at);
    }
  };
  visit(ROOT);
  return [...found];
}

/** Node's lookup of NAME from the package at FROM: FROM/node_modules/NAME, then each parent's, up to ROOT. */
function locate(name: string, from: string): string | undefined {
  for (let d = from; ; d = dirname(d)) {
    const candidate = join(d, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (d === ROOT || dirname(d) === d) return undefined;
  }
}

/** The checkout may have been made under umask 077: give others read (and search) everywhere. */
function openToOthers(path: string): void {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return;
  if (st.isDirectory()) {
    chmodSync(path, 0o755);
    for (const entry of readdirSync(path)) openToOthers(join(path, entry));
  } else {
    chmodSync(path, (st.mode & 0o100) === 0 ? 0o644 : 0o755);
  }
}
