/**
 * Typed loader for the optional native addon (native/mmap.cc), built by
 * native/build.mjs into <package root>/native/build/Release/multiproc_mmap.node.
 *
 * The reader uses it when available and falls back to plain reads otherwise;
 * the writer requires it.
 */
import { createRequire } from 'node:module';
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

// src/native.ts and dist/native.js are both one level below the package root.
const BUILT_ADDON_PATH = fileURLToPath(new URL('../native/build/Release/multiproc_mmap.node', import.meta.url));

/**
 * The addon file loaded: the built one, or MULTIPROC_EXPORTER_NATIVE_ADDON (an absolute path; the
 * sanitizer test build, `npm run test:native-asan`, is loaded this way).
 */
export const ADDON_PATH = process.env.MULTIPROC_EXPORTER_NATIVE_ADDON || BUILT_ADDON_PATH;

let loaded: NativeBinding | null = null;
let loadFailure: string | null = null;
let tried = false;
let lastError: string | null = null;

function tryLoad(): void {
  tried = true;
  try {
    const mod = createRequire(import.meta.url)(ADDON_PATH) as Record<string, unknown>;
    const missing = EXPORTS.filter((name) => typeof mod[name] !== 'function');
    if (missing.length > 0) {
      loadFailure = `native addon ${ADDON_PATH} lacks ${missing.join(', ')} (stale build? run \`node native/build.mjs\`)`;
      return;
    }
    loaded = mod as unknown as NativeBinding;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | null)?.code;
    loadFailure =
      code === 'MODULE_NOT_FOUND'
        ? `native addon not built (${ADDON_PATH} missing; run \`node native/build.mjs\`)`
        : `native addon ${ADDON_PATH} failed to load: ${err instanceof Error ? err.message : String(err)}`;
  }
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
  return loaded;
}

/** Why loading failed (for one log line), or null if loaded / not tried. */
export function nativeLoadError(): string | null {
  return lastError;
}
