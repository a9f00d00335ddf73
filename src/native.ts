/**
 * Typed loader for the optional native addon (native/mmap.cc). Two builds of it can be there:
 *
 * - compiled: native/build/Release/multiproc_mmap.node, built by native/build.mjs (the npm
 *   "install" script) in a checkout, or when the package has no prebuilt one that fits;
 * - prebuilt: prebuilds/<platform>-<arch>/multiproc_mmap.napi.<libc>.node, shipped in the npm
 *   package (native/prebuild.mjs makes it when the package is packed).
 *
 * The compiled one is tried first (in a checkout it is the one built from the sources you edit),
 * then the prebuilt one. MULTIPROC_EXPORTER_NATIVE_ADDON names one file instead (reported as
 * compiled: the sanitizer build of `npm run test:native-asan` is loaded this way).
 *
 * The reader uses the addon when available and falls back to plain reads otherwise; the writer
 * requires it.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NativeBinding {
  /**
   * mmap(NULL, length, PROT_READ[|PROT_WRITE], MAP_SHARED, fd, 0) as an external
   * ArrayBuffer; unmapped by munmap() or when garbage-collected. Throws
   * (e.g. "mmap failed: EACCES (fd 12, length 65536)") on failure or length 0.
   * Every argument is checked first: a length that is not an integer in
   * [1, maxLength()] is a TypeError/RangeError, never a crash.
   * Caution: writing into a read-only map, or touching pages of a writable map
   * beyond the end of the file, kills the process (SIGSEGV/SIGBUS).
   */
  mmap(fd: number, length: number, writable: boolean): ArrayBuffer;
  /**
   * Detaches `buf` (all views over it become length 0) and unmaps it.
   * Idempotent; TypeError if `buf` did not come from mmap().
   */
  munmap(buf: ArrayBuffer): void;
  /** msync over the whole mapping: MS_SYNC if `sync`, else MS_ASYNC. */
  msync(buf: ArrayBuffer, sync: boolean): void;
  madvise(buf: ArrayBuffer, advice: 'normal' | 'random' | 'sequential' | 'willneed' | 'dontneed'): void;
  /** flock(2). False only when `nonblocking` and the lock is held elsewhere. */
  flock(fd: number, op: 'sh' | 'ex' | 'un', nonblocking: boolean): boolean;
  /** fstat(fd).st_size */
  fileSize(fd: number): number;
  pageSize(): number;
  /**
   * SIGBUS faults absorbed so far. A read-only mapping of a file that another process shrank
   * raises SIGBUS on pages past the new end; the addon maps a zero page there instead (the
   * access reads zeros) and counts it. A reader that sees the count change remaps its files.
   */
  faultCount(): number;
  /**
   * The largest length mmap() accepts: what a buffer can hold in this Node.js
   * (buffer.constants.MAX_LENGTH: 4 GiB on Node 20), capped by what the platform maps.
   */
  maxLength(): number;
}

const EXPORTS = ['mmap', 'munmap', 'msync', 'madvise', 'flock', 'fileSize', 'pageSize', 'faultCount', 'maxLength'] as const;

/** Where the loaded addon came from (build_info's `native` label; 'none' when nothing loaded). */
export type NativeSource = 'prebuilt' | 'compiled';

interface Candidate {
  readonly source: NativeSource;
  readonly path: string;
  /** Said when the file does not exist. */
  readonly missing: string;
}

// src/native.ts and dist/native.js are both one level below the package root.
const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));
const COMPILED_PATH = path.join(PACKAGE_ROOT, 'native', 'build', 'Release', 'multiproc_mmap.node');

/** 'glibc' or 'musl' on Linux (Node's report names the glibc it runs on; musl has none), else null. */
function hostLibc(): 'glibc' | 'musl' | null {
  if (process.platform !== 'linux') return null;
  const header = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
  return header?.glibcVersionRuntime ? 'glibc' : 'musl';
}

/** The files to try, in order (the names native/addon.mjs gives them); libc is looked up only if needed. */
function* candidates(): Generator<Candidate> {
  const explicit = process.env.MULTIPROC_EXPORTER_NATIVE_ADDON;
  if (explicit) {
    yield { source: 'compiled', path: explicit, missing: `MULTIPROC_EXPORTER_NATIVE_ADDON=${explicit} does not exist` };
    return;
  }
  yield { source: 'compiled', path: COMPILED_PATH, missing: `not built (${COMPILED_PATH} missing; run \`node native/build.mjs\`)` };
  const libc = hostLibc();
  const platform = `${process.platform}-${process.arch}`;
  const prebuilt = path.join(PACKAGE_ROOT, 'prebuilds', platform, `multiproc_mmap.napi${libc ? `.${libc}` : ''}.node`);
  yield { source: 'prebuilt', path: prebuilt, missing: `not prebuilt for ${[platform, libc].filter(Boolean).join(' ')} (${prebuilt} missing)` };
}

let loaded: { binding: NativeBinding; source: NativeSource; path: string } | null = null;
let loadFailure: string | null = null;
let tried = false;
let lastError: string | null = null;

/** The binding in the candidate's file, or why not. */
function load(c: Candidate): NativeBinding | string {
  try {
    const mod = createRequire(import.meta.url)(c.path) as Record<string, unknown>;
    const missing = EXPORTS.filter((name) => typeof mod[name] !== 'function');
    if (missing.length > 0) return `${c.path} lacks ${missing.join(', ')} (stale build? run \`node native/build.mjs\`)`;
    return mod as unknown as NativeBinding;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | null)?.code;
    return code === 'MODULE_NOT_FOUND' && !existsSync(c.path) ? c.missing : `${c.path} failed to load: ${err instanceof Error ? err.message : String(err)}`;
  }
}

function tryLoad(): void {
  tried = true;
  const reasons: string[] = [];
  for (const c of candidates()) {
    const result = load(c);
    if (typeof result !== 'string') {
      loaded = { binding: result, source: c.source, path: c.path };
      return;
    }
    reasons.push(result);
  }
  loadFailure = `native addon ${reasons.join('; and ')}`;
}

/** The addon, or null if it could not be loaded; never throws. Loaded once, lazily. */
export function loadNative(): NativeBinding | null {
  // Checked on every call (not cached) so tests can toggle the fallback path.
  if (process.env.MULTIPROC_EXPORTER_NO_NATIVE === '1') {
    lastError = 'disabled by MULTIPROC_EXPORTER_NO_NATIVE';
    return null;
  }
  if (!tried) tryLoad();
  lastError = loadFailure;
  return loaded?.binding ?? null;
}

/** Which addon loadNative() uses (its source and file), or null if none (or disabled). */
export function nativeAddon(): { readonly source: NativeSource; readonly path: string } | null {
  if (loadNative() === null || loaded === null) return null;
  return { source: loaded.source, path: loaded.path };
}

/** Why loading failed (for one log line), or null if loaded / not tried. */
export function nativeLoadError(): string | null {
  return lastError;
}
