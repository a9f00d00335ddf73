/**
 * What kind of filesystem holds the metrics directory. Writers map their files shared and write
 * through the mapping; on a disk filesystem the kernel writes those dirty pages back and
 * write-protects them again, so every writer pays page faults that tmpfs/ramfs do not have.
 */
import { statfsSync } from 'node:fs';

/** `statfs` f_type magic numbers (linux/magic.h) of the filesystems worth naming in a log line. */
const NAMES: ReadonlyMap<number, string> = new Map([
  [0x01021994, 'tmpfs'],
  [0x858458f6, 'ramfs'],
  [0xef53, 'ext2/3/4'],
  [0x58465342, 'xfs'],
  [0x9123683e, 'btrfs'],
  [0x794c7630, 'overlayfs'],
  [0x6969, 'nfs'],
  [0x65735546, 'fuse'],
  [0x2fc12fc1, 'zfs'],
]);

export interface DirectoryFilesystem {
  /** tmpfs or ramfs: pages live in memory only, no write-back. */
  readonly inMemory: boolean;
  /** A readable name (`ext2/3/4`) or the magic number in hex. */
  readonly name: string;
}

/** The filesystem of `dir`, or null when it cannot be told (the directory is missing, or statfs fails). */
export function directoryFilesystem(dir: string): DirectoryFilesystem | null {
  let type: number;
  try {
    type = statfsSync(dir).type;
  } catch {
    return null;
  }
  const name = NAMES.get(type) ?? `0x${type.toString(16)}`;
  return { inMemory: name === 'tmpfs' || name === 'ramfs', name };
}
