/**
 * Is a file's writer still alive? Our writer and the Ruby gem hold an exclusive flock on their
 * files while they live; Python holds none, so its files are judged by the process id in the name
 * (FORMAT.md §1) when this daemon can see the writers' processes.
 *
 *   live     the lock is held, or the named process exists (and maps the file, when checkable)
 *   dead     a locking writer's lock is free, or the named process is gone (pids visible)
 *   unknown  cannot tell (Python file, writers in another pid namespace): treated as live
 *
 * Modes (`--liveness`): `auto` as above; `lock` = an unlocked file is dead (all writers lock);
 * `pid` = trust process ids (the daemon shares the writers' pid namespace); `off` = never dead
 * (the libraries' semantics: a file counts until it is deleted).
 */
import { readFileSync } from 'node:fs';
import type { NativeBinding } from '../native.js';

export const LIVENESS_MODES = ['auto', 'lock', 'pid', 'off'] as const;
export type LivenessMode = (typeof LIVENESS_MODES)[number];
export type WriterState = 'live' | 'dead' | 'unknown';

/** What the probe remembers about one file between checks. */
export interface LivenessMemo {
  /** Its lock was seen held: the writer locks, so a free lock means it died. */
  lockSeen: boolean;
  /** The named process was seen mapping the file (a Python writer, seen directly). */
  pidVerified: boolean;
}

export interface ProbedFile {
  readonly fd: number;
  readonly dev: number;
  readonly ino: number;
  /** The id in the file name, as its dialect names files. */
  readonly processId: string;
  /** Ruby-style name (`-<n>.db`): written by a writer that locks. */
  readonly lockingName: boolean;
  /** A file of ours with no writer at all (a compaction archive). */
  readonly writerless?: boolean;
}

const PID = /^[1-9]\d{0,9}$/;

export class LivenessProbe {
  /** Some writer process was seen directly: a vanished pid now means a dead writer. */
  private pidsVisible: boolean;
  /** /proc/<pid>/maps as `dev ino` sets, read at most once per pid per round. */
  private maps = new Map<number, Set<string> | 'unreadable' | 'gone'>();

  constructor(
    readonly mode: LivenessMode,
    private readonly native: NativeBinding | null,
  ) {
    this.pidsVisible = mode === 'pid';
  }

  /** Start a round of checks (a scan): /proc/<pid>/maps is read again at most once per pid. */
  beginRound(): void {
    if (this.maps.size > 0) this.maps = new Map();
  }

  check(f: ProbedFile, memo: LivenessMemo): WriterState {
    if (this.mode === 'off') return 'unknown';
    if (f.writerless === true) return 'dead';
    const held = this.lockHeld(f.fd);
    if (held === true) {
      memo.lockSeen = true;
      return 'live';
    }
    if (held === false && (this.mode === 'lock' || f.lockingName || memo.lockSeen)) return 'dead';
    if (!PID.test(f.processId)) return 'unknown';
    const pid = Number(f.processId);
    if (!processExists(pid)) return this.pidsVisible ? 'dead' : 'unknown';
    if (memo.pidVerified) return 'live';
    const mapped = this.mappedBy(pid);
    if (mapped === 'unreadable') return 'live'; // it exists; we may not look closer (another user)
    if (mapped === 'gone') return this.pidsVisible ? 'dead' : 'unknown';
    if (mapped.has(mapsKey(f.dev, f.ino))) {
      memo.pidVerified = true;
      this.pidsVisible = true;
      return 'live';
    }
    // The pid belongs to a process that does not map the file: a reused pid, or another namespace.
    return this.pidsVisible ? 'dead' : 'unknown';
  }

  /** true = held by another process, false = free, null = cannot tell (no native addon). */
  private lockHeld(fd: number): boolean | null {
    if (this.native === null) return null;
    try {
      if (!this.native.flock(fd, 'sh', true)) return true;
      this.native.flock(fd, 'un', false);
      return false;
    } catch {
      return null;
    }
  }

  private mappedBy(pid: number): Set<string> | 'unreadable' | 'gone' {
    let m = this.maps.get(pid);
    if (m === undefined) {
      m = readMaps(pid);
      this.maps.set(pid, m);
    }
    return m;
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The `dev ino` of every file the process maps, as /proc/<pid>/maps prints them (`fd:01 1234`). */
function readMaps(pid: number): Set<string> | 'unreadable' | 'gone' {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/maps`, 'latin1');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ESRCH' ? 'gone' : 'unreadable';
  }
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    // address perms offset dev inode [path]
    const parts = line.split(/\s+/, 5);
    if (parts.length === 5 && parts[4] !== '0') out.add(`${parts[3]} ${parts[4]}`);
  }
  return out;
}

/** st_dev (glibc encoding) and inode as /proc/<pid>/maps shows them: `%02x:%02x %lu`. */
export function mapsKey(dev: number, ino: number): string {
  const major = Math.floor(dev / 256) & 0xfff;
  const minor = (dev & 0xff) | (Math.floor(dev / 4096) & 0xfff00);
  const hex = (n: number): string => n.toString(16).padStart(2, '0');
  return `${hex(major)}:${hex(minor)} ${ino}`;
}
