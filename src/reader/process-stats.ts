/**
 * What /proc says about one process, read as Prometheus' client_golang (through prometheus/procfs)
 * reads its own: `/proc/<pid>/stat` for CPU time, memory, threads and start time, `/proc/<pid>/fd`
 * for open fds, `/proc/<pid>/limits` for max fds. And, to find which process writes a file: who
 * holds a flock on it (`/proc/locks`) and whether a process maps it (`/proc/<pid>/maps`).
 *
 * Every reader returns null when it cannot tell (process gone or a zombie, in another pid
 * namespace, hidden by `hidepid`, no permission); callers leave that process out. A process read
 * on every scrape is read through descriptors kept open (`ProcessFiles`): no path lookup each
 * time, and a descriptor keeps naming the process it was opened for (a reused pid reads ESRCH).
 * `/proc/<pid>/status` says the same as `stat` (VmRSS = rss × page size, Threads) at several
 * times the kernel's cost, so it is not read.
 */
import { closeSync, constants, fstatSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { loadNative } from '../native.js';

/** USER_HZ: the unit of CPU times and start times in /proc; 100 on every Linux ABI (procfs assumes it too). */
export const USER_HZ = 100;

export interface ProcessStat {
  /** utime + stime (fields 14 and 15), in USER_HZ ticks. */
  readonly cpuTicks: number;
  /** num_threads (field 20). */
  readonly threads: number;
  /** starttime (field 22): when the process started, in USER_HZ ticks since boot. */
  readonly startTicks: number;
  /** vsize (field 23), bytes. */
  readonly virtualBytes: number;
  /** rss (field 24), pages. */
  readonly residentPages: number;
}

/** One buffer for the small /proc files (stat, limits): no allocation per read but the text. */
const SMALL = Buffer.allocUnsafe(8192);

/** Bytes read into SMALL from a /proc file, or -1 if it cannot be read. */
function readSmall(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return -1;
  }
  try {
    let n = 0;
    while (n < SMALL.length) {
      const r = readSync(fd, SMALL, n, SMALL.length - n, null);
      if (r === 0) break;
      n += r;
    }
    return n;
  } catch {
    return -1;
  } finally {
    closeSync(fd);
  }
}

const SPACE = 0x20;
const CLOSE_PAREN = 0x29;

/**
 * `/proc/<pid>/stat` of a live process; null when it cannot be read or the process is a zombie
 * (dead, not yet reaped: its files are closed). Parsed from the last `)`, as the command name in
 * parentheses may itself hold spaces and parentheses.
 */
export function readProcessStat(pid: number): ProcessStat | null {
  const n = readSmall(`/proc/${pid}/stat`);
  return n < 0 ? null : parseStat(SMALL, n);
}

/** The fields of a stat line in `bytes[0, length)`; null if it is not one or the process is a zombie. */
export function parseStat(bytes: Uint8Array, length: number): ProcessStat | null {
  let i = length - 1;
  while (i >= 0 && bytes[i] !== CLOSE_PAREN) i--;
  if (i < 0 || bytes[i + 1] !== SPACE) return null;
  const state = bytes[i + 2];
  // Z zombie, X dead (never seen by readers, but documented).
  if (state === 0x5a || state === 0x58) return null;
  // Fields after the state (field 3): read the numbers of fields 14, 15, 20, 22, 23, 24.
  let field = 3;
  let p = i + 3;
  let utime = -1;
  let stime = -1;
  let threads = -1;
  let start = -1;
  let vsize = -1;
  let rss = -1;
  while (p < length && field < 24) {
    if (bytes[p] !== SPACE) return null;
    p++;
    field++;
    let v = 0;
    let digits = 0;
    const negative = bytes[p] === 0x2d;
    if (negative) p++;
    while (p < length) {
      const c = bytes[p]! - 0x30;
      if (c < 0 || c > 9) break;
      v = v * 10 + c;
      digits++;
      p++;
    }
    if (digits === 0) return null;
    if (negative) v = -v;
    if (field === 14) utime = v;
    else if (field === 15) stime = v;
    else if (field === 20) threads = v;
    else if (field === 22) start = v;
    else if (field === 23) vsize = v;
    else if (field === 24) rss = v;
  }
  if (field < 24) return null;
  return { cpuTicks: utime + stime, threads, startTicks: start, virtualBytes: vsize, residentPages: rss };
}

/**
 * Open file descriptors: the size Linux 6.2+ reports for `/proc/<pid>/fd` (no listing), else the
 * number of its entries, as procfs counts them. null if the directory cannot be read.
 */
export function readOpenFds(pid: number): number | null {
  const dir = `/proc/${pid}/fd`;
  try {
    const st = statSync(dir, { throwIfNoEntry: false });
    if (st === undefined) return null;
    if (st.size > 0) return st.size;
    return readdirSync(dir).length;
  } catch {
    return null;
  }
}

/**
 * The /proc files of one process kept open: `stat` re-read with pread at offset 0, `fd` counted
 * with fstat — about a third of the kernel time of opening them by path every scrape. Two
 * descriptors per process until `close()`.
 */
export class ProcessFiles {
  private constructor(
    readonly pid: number,
    private statFd: number,
    private fdDirFd: number,
  ) {}

  /** null if the process's stat cannot be opened; its fd directory may be unreadable (another user): then no fd count. */
  static open(pid: number): ProcessFiles | null {
    let statFd: number;
    try {
      statFd = openSync(`/proc/${pid}/stat`, 'r');
    } catch {
      return null;
    }
    let fdDirFd = -1;
    try {
      fdDirFd = openSync(`/proc/${pid}/fd`, constants.O_RDONLY | constants.O_DIRECTORY);
    } catch {
      // no fd count for this one
    }
    return new ProcessFiles(pid, statFd, fdDirFd);
  }

  /** Its stat now; null once it has exited (ESRCH, even if the pid number was reused since) or is a zombie. */
  stat(): ProcessStat | null {
    if (this.statFd < 0) return null;
    let n: number;
    try {
      n = readSync(this.statFd, SMALL, 0, SMALL.length, 0);
    } catch {
      return null;
    }
    return parseStat(SMALL, n);
  }

  /** Open descriptors, as readOpenFds counts them; null if its fd directory cannot be read. */
  openFds(): number | null {
    if (this.fdDirFd < 0) return null;
    try {
      const size = fstatSync(this.fdDirFd).size;
      return size > 0 ? size : readdirSync(`/proc/${this.pid}/fd`).length;
    } catch {
      return null;
    }
  }

  close(): void {
    for (const fd of [this.statFd, this.fdDirFd]) if (fd >= 0) closeSync(fd);
    this.statFd = -1;
    this.fdDirFd = -1;
  }
}

/** The soft limit on open files (`Max open files` in `/proc/<pid>/limits`); unlimited as 2^64-1, as procfs reads it. */
export function readMaxFds(pid: number): number | null {
  const n = readSmall(`/proc/${pid}/limits`);
  return n < 0 ? null : parseMaxFds(SMALL.toString('latin1', 0, n));
}

export function parseMaxFds(limits: string): number | null {
  const m = /^Max open files +(\d+|unlimited) /m.exec(limits);
  if (m === null) return null;
  return m[1] === 'unlimited' ? 2 ** 64 - 1 : Number(m[1]);
}

/** Seconds since boot, in USER_HZ ticks (`/proc/uptime`, the clock start times count in); null without /proc. */
export function uptimeTicks(): number | null {
  const n = readSmall('/proc/uptime');
  if (n < 0) return null;
  const m = /^(\d+)\.(\d\d) /.exec(SMALL.toString('latin1', 0, n));
  return m === null ? null : Number(m[1]) * USER_HZ + Number(m[2]);
}

/** The boot time in UNIX seconds (`btime` in `/proc/stat`); start times are counted from it. */
export function bootTimeSeconds(): number | null {
  let text: string;
  try {
    text = readFileSync('/proc/stat', 'latin1');
  } catch {
    return null;
  }
  const m = /^btime (\d+)$/m.exec(text);
  return m === null ? null : Number(m[1]);
}

/** When a process started, in UNIX seconds: boot time + its start ticks, as procfs computes `process_start_time_seconds`. */
export function startTimeSeconds(bootTime: number, startTicks: number): number {
  return bootTime + startTicks / USER_HZ;
}

let pageBytes = 0;

/** The page size `rss` is counted in (the native addon's sysconf; 4096 without it). */
export function pageSize(): number {
  if (pageBytes === 0) pageBytes = loadNative()?.pageSize() ?? 4096;
  return pageBytes;
}

/**
 * Who holds a lock on what: `maj:min ino` (the form of `mapsKey` in liveness.ts, as
 * /proc/<pid>/maps shows files) → the pid holding a flock or POSIX lock on it. A lock whose
 * holder is not visible from this pid namespace shows pid 0 and is left out, and so are waiters
 * (`->` lines). null if /proc/locks cannot be read.
 */
export function readLockHolders(): Map<string, number> | null {
  let text: string;
  try {
    text = readFileSync('/proc/locks', 'latin1');
  } catch {
    return null;
  }
  return parseLocks(text);
}

export function parseLocks(text: string): Map<string, number> {
  const out = new Map<string, number>();
  // `1: FLOCK  ADVISORY  WRITE 1234 fe:00:2189611 0 EOF`
  const line = /^\d+: (?:FLOCK|POSIX) +\S+ +\S+ +(\d+) ([0-9a-f]+:[0-9a-f]+):(\d+) /gm;
  for (let m = line.exec(text); m !== null; m = line.exec(text)) {
    const pid = Number(m[1]);
    const key = `${m[2]} ${m[3]}`;
    if (pid > 0 && !out.has(key)) out.set(key, pid);
  }
  return out;
}

/** The `maj:min ino` of every file the process maps; null if its maps cannot be read. */
export function readMappedFiles(pid: number): Set<string> | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/maps`, 'latin1');
  } catch {
    return null;
  }
  const out = new Set<string>();
  // address perms offset dev inode [path]
  const line = /^\S+ \S+ \S+ ([0-9a-f]+:[0-9a-f]+) ([1-9]\d*)/gm;
  for (let m = line.exec(text); m !== null; m = line.exec(text)) out.add(`${m[1]} ${m[2]}`);
  return out;
}
