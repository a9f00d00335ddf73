/**
 * Is a file's writer still alive? Our writer and the Ruby gem hold an exclusive flock on their
 * files while they live; Python holds none, but every live Python writer keeps its files mapped,
 * so a Python file is alive while a process maps it — when this daemon can see the writers'
 * processes at all (a shared pid namespace).
 *
 *   live     the lock is held, or a process maps the file
 *   dead     a locking writer's lock is free; or no process maps the file while writers are visible
 *   unknown  cannot tell (writers in another pid namespace, no native addon): treated as live
 *
 * Modes (`--liveness`): `auto` as above; `lock` = an unlocked file is dead (all writers lock);
 * `pid` = writers are visible from the start (a shared pid namespace is promised); `off` = never
 * dead (the libraries' semantics: a file counts until it is deleted).
 */
import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import type { NativeBinding } from '../native.js';

export const LIVENESS_MODES = ['auto', 'lock', 'pid', 'off'] as const;
export type LivenessMode = (typeof LIVENESS_MODES)[number];
export type WriterState = 'live' | 'dead' | 'unknown';

/** What the probe remembers about one file between checks. */
export interface LivenessMemo {
  /** Its lock was seen held: the writer locks, so a free lock means it died. */
  lockSeen: boolean;
  /** A process last seen mapping the file (checked first next time), or 0. */
  mapper: number;
  /** The process named in the file name was seen mapping it: a pid-named Python file. */
  pidNamed: boolean;
  /** Until then (performance.now() ms) a file without a lock is not looked at as closely again. */
  recheckAt: number;
  /** When (performance.now() ms) the daemon first saw the file: a walk from before it cannot judge it. */
  seenAt: number;
}

/** `seenAt`: when the listing that found the file was read (default: now). */
export function newMemo(seenAt = performance.now()): LivenessMemo {
  return { lockSeen: false, mapper: 0, pidNamed: false, recheckAt: 0, seenAt };
}

/** A mapper seen reading /proc/<pid>/maps is trusted while its process exists, re-read this often. */
const MAPPER_RECHECK_MS = 10_000;
/** A file no process was seen mapping (writers not visible) is looked at again this often. */
const UNKNOWN_RECHECK_MS = 1_000;

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
/** A walk over every process's maps (to find a file's mapper) at most this often… */
const PROC_WALK_INTERVAL_MS = 1000;
/** …and, while no writer has ever been seen (another pid namespace), backing off to this. */
const PROC_WALK_MAX_INTERVAL_MS = 30_000;

export class LivenessProbe {
  /** Some process was seen mapping a metrics file: an unmapped file now means a dead writer. */
  private writersVisible: boolean;
  /** Per pid, the `dev ino` of what it maps; read at most once per pid per round. */
  private maps = new Map<number, MapsSet | null>();
  /**
   * `dev ino` → every pid mapping it, from the last walk over all processes. Kept for the walk
   * interval and shared by scans and the background probe of folded files (whoever walks first),
   * so neither starves the other; its pids are re-read (fresh per round) before they count.
   */
  private mappers: Map<string, number[]> | null = null;
  private lastWalk = -Infinity;
  private walkInterval = PROC_WALK_INTERVAL_MS;
  /** The metrics directory's real path: a walk that finds a process mapping one of its `.db` files sees writers. */
  private readonly dirPrefix: string | null;

  constructor(
    readonly mode: LivenessMode,
    private readonly native: NativeBinding | null,
    dir?: string,
  ) {
    this.writersVisible = mode === 'pid';
    let prefix: string | null = null;
    if (dir !== undefined) {
      try {
        prefix = realpathSync(dir).replace(/\/$/, '') + '/';
      } catch {
        prefix = null;
      }
    }
    this.dirPrefix = prefix;
  }

  /** Start a round of checks (a scan): process maps are read afresh, at most once per pid. */
  beginRound(): void {
    if (this.maps.size > 0) this.maps = new Map();
  }

  /**
   * `walk`: may look through every process for a mapper (rate-limited). A folded pid-named file
   * can only come back under its pid, so its background re-checks pass false.
   */
  check(f: ProbedFile, memo: LivenessMemo, walk = true): WriterState {
    if (this.mode === 'off') return 'unknown';
    if (f.writerless === true) return 'dead';
    const held = this.lockHeld(f.fd);
    if (held === true) {
      memo.lockSeen = true;
      return 'live';
    }
    if (held === false && (this.mode === 'lock' || f.lockingName || memo.lockSeen)) return 'dead';
    const now = performance.now();
    // Cheap answers between close looks: the mapper seen last still exists (one kill(pid, 0))…
    if (memo.mapper > 0 && now < memo.recheckAt && processExists(memo.mapper)) return 'live';
    // …or nothing was seen mapping it and no writer is visible: still unknown.
    if (memo.mapper === 0 && !this.writersVisible && now < memo.recheckAt) return 'unknown';
    const key = mapsKey(f.dev, f.ino);
    // The likely mappers first: the one seen last time, then the pid in the name.
    const named = PID.test(f.processId) ? Number(f.processId) : 0;
    for (const pid of memo.mapper === named ? [named] : [memo.mapper, named]) {
      if (pid > 0 && this.processMaps(pid)?.has(key) === true) {
        memo.mapper = pid;
        memo.recheckAt = now + MAPPER_RECHECK_MS;
        if (pid === named) memo.pidNamed = true;
        this.sawWriter();
        return 'live';
      }
    }
    memo.recheckAt = now + UNKNOWN_RECHECK_MS;
    // Then every process (rate-limited, the last walk shared): a custom id, or a writer that died.
    const mappers = walk ? this.walk() : this.mappers;
    if (mappers === null) return 'unknown';
    for (const pid of mappers.get(key) ?? []) {
      if (this.processMaps(pid)?.has(key) !== true) continue; // it died (or unmapped) since the walk
      memo.mapper = pid;
      memo.recheckAt = now + MAPPER_RECHECK_MS;
      this.sawWriter();
      return 'live';
    }
    // A walk from before the file was first seen cannot say no one maps it.
    if (!mappers.has(key) && this.lastWalk < memo.seenAt) return 'unknown';
    memo.mapper = 0;
    // A process by that pid whose maps we may not read (another user): give it the benefit of the doubt.
    if (named > 0 && this.processMaps(named) === null && processExists(named)) return 'unknown';
    return this.writersVisible ? 'dead' : 'unknown';
  }

  /** Some process was seen mapping a metrics file (or `--liveness pid` promises writers are visible). */
  get seesWriters(): boolean {
    return this.writersVisible;
  }

  private sawWriter(): void {
    this.writersVisible = true;
    this.walkInterval = PROC_WALK_INTERVAL_MS;
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

  private processMaps(pid: number): MapsSet | null {
    let m = this.maps.get(pid);
    if (m === undefined) {
      m = readMaps(pid);
      this.maps.set(pid, m);
    }
    return m;
  }

  /** Who maps what, over every visible process: the last walk while it is recent, else walked afresh. */
  private walk(): Map<string, number[]> | null {
    const now = performance.now();
    if (now - this.lastWalk < this.walkInterval) return this.mappers;
    this.lastWalk = now;
    const mappers = new Map<string, number[]>();
    let visible = false;
    let pids: string[] = [];
    try {
      pids = readdirSync('/proc').filter((n) => PID.test(n));
    } catch {
      // no /proc: nothing is visible
    }
    for (const p of pids) {
      const pid = Number(p);
      if (pid === process.pid) continue;
      const m = this.processMaps(pid);
      if (m === null) continue;
      if (this.dirPrefix !== null && m.dbPaths.some((p) => p.startsWith(this.dirPrefix!))) visible = true;
      for (const k of m) {
        const l = mappers.get(k);
        if (l === undefined) mappers.set(k, [pid]);
        else l.push(pid);
      }
    }
    if (visible) this.sawWriter();
    // No writer seen yet (another pid namespace?): walk less often; the first one seen resets it.
    if (!this.writersVisible) this.walkInterval = Math.min(this.walkInterval * 2, PROC_WALK_MAX_INTERVAL_MS);
    this.mappers = mappers;
    return mappers;
  }
}

/** The `dev ino` of every file a process maps, and the paths of the `.db` files among them. */
type MapsSet = Set<string> & { dbPaths: string[] };

/** The `dev ino` of every file the process maps, as /proc/<pid>/maps prints them; null if unreadable. */
function readMaps(pid: number): MapsSet | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/maps`, 'latin1');
  } catch {
    return null;
  }
  const out = Object.assign(new Set<string>(), { dbPaths: [] as string[] });
  for (const line of text.split('\n')) {
    // address perms offset dev inode [path]
    const parts = line.split(/\s+/, 5);
    if (parts.length === 5 && parts[4] !== '0') {
      out.add(`${parts[3]} ${parts[4]}`);
      if (line.endsWith('.db')) out.dbPaths.push(line.slice(line.indexOf('/')));
    }
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

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
