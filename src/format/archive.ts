/**
 * Compaction archives: ordinary `.db` files (any reader sums them like another process's file)
 * whose bytes past `used` — which every reader ignores (docs/FORMAT.md §2, §9) — record the files the
 * archive absorbed, so that a crash between writing the archive and deleting those files never
 * counts them twice:
 *
 *   used … used+8     "MPEARCH1"
 *   used+8 … +12      uint32 LE  n, length of the manifest
 *   used+12 …         n bytes    manifest: UTF-8 JSON { "absorbed": [AbsorbedFile, …] }
 *   then zero padding to a multiple of 8
 */
import { createHash } from 'node:crypto';
import type { Dialect } from './dialect.js';
import { ARCHIVE_ID_PREFIX } from './reserved.js';

const MAGIC = 'MPEARCH1';

/** A file folded into an archive: by name, inode and content (a reused name or inode differs in content). */
export interface AbsorbedFile {
  readonly name: string;
  readonly ino: number;
  readonly used: number;
  /** sha1 of the file's first `used` bytes, hex. */
  readonly sha1: string;
}

export function archiveFileName(prefix: string, dialect: Dialect): string {
  return `${prefix}_${ARCHIVE_ID_PREFIX}${dialect}.db`;
}

export function contentHash(bytes: Uint8Array, used: number): string {
  return createHash('sha1').update(bytes.subarray(0, used)).digest('hex');
}

export function encodeTrailer(absorbed: readonly AbsorbedFile[]): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify({ absorbed }));
  const size = 12 + json.length;
  const out = new Uint8Array(size + ((8 - (size % 8)) % 8));
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(8, json.length, true);
  out.set(json, 12);
  return out;
}

/** The absorbed files an archive records; [] when there is no (valid) trailer. */
export function decodeTrailer(bytes: Uint8Array, used: number): AbsorbedFile[] {
  if (used < 8 || used + 12 > bytes.length) return [];
  if (new TextDecoder().decode(bytes.subarray(used, used + 8)) !== MAGIC) return [];
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(used + 8, true);
  if (used + 12 + n > bytes.length) return [];
  try {
    const parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(used + 12, used + 12 + n))) as { absorbed?: unknown };
    if (!Array.isArray(parsed.absorbed)) return [];
    return parsed.absorbed.filter(
      (a: unknown): a is AbsorbedFile => {
        if (typeof a !== 'object' || a === null) return false;
        const f = a as Record<string, unknown>;
        return typeof f.name === 'string' && typeof f.ino === 'number' && typeof f.used === 'number' && typeof f.sha1 === 'string';
      },
    );
  } catch {
    return [];
  }
}
