/**
 * `check`: one read of a metrics directory through the same Collector and exposition gate the
 * daemon uses, summed up as a report for "why is my scrape slow, empty or rejected": files by
 * dialect and state, skipped files with their reasons, families and their cardinality, size on
 * disk, the filesystem, whether the writers' processes are visible from here, what the gate left
 * out, and a verdict. Read-only: lstat, statfs and /proc only; never writes to the directory.
 */
import { lstatSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Collector } from '../collector.js';
import { ExpositionGate } from '../exposition/gate.js';
import type { MetricFamily } from '../merge/model.js';
import { loadNative } from '../native.js';
import { DirectoryError, type FileStatus } from '../reader/directory.js';
import { directoryFilesystem } from '../reader/filesystem.js';
import { type LivenessMode, mapsKey } from '../reader/liveness.js';
import type { MappedFile } from '../reader/mapped-file.js';
import { readLockHolders, readMappedFiles } from '../reader/process-stats.js';

/** Bumped when a field of the JSON report changes meaning or goes away (docs/check.md). */
export const REPORT_VERSION = 1;
/** Families listed by cardinality. */
export const TOP_FAMILIES = 10;

export const EXIT_OK = 0;
export const EXIT_PROBLEMS = 1;
export const EXIT_UNREADABLE = 2;

export type FileState = FileStatus['state'];
export const STATES: readonly FileState[] = ['live', 'unknown', 'dead', 'skipped', 'absorbed'];

export type StateCounts = Record<FileState, number> & { total: number };

export interface CheckReport {
  readonly version: number;
  readonly dir: string;
  readonly verdict: 'ok' | 'problems' | 'unreadable';
  readonly exitCode: number;
  /** What makes the verdict `problems` (or `unreadable`), one line each. */
  readonly problems: readonly string[];
  /** Worth knowing, not failing the check. */
  readonly warnings: readonly string[];
  /** Set only when the directory could not be read. */
  readonly error?: string;
  readonly liveness?: LivenessMode;
  readonly native?: boolean;
  readonly filesystem?: { readonly name: string; readonly tmpfs: boolean } | null;
  readonly size?: { readonly bytes: number; readonly allocatedBytes: number };
  readonly files?: {
    readonly byState: StateCounts;
    readonly byDialect: Record<string, StateCounts>;
    readonly skipped: readonly { readonly file: string; readonly reason: string; readonly message: string }[];
    readonly skippedByReason: Record<string, number>;
    /** Served files some of whose entries could not be merged (one name, two types). */
    readonly partlySkipped: readonly { readonly file: string; readonly message: string }[];
  };
  readonly writers?: {
    /** A served file's writer process was found in /proc; null when no file is served. */
    readonly visible: boolean | null;
    readonly processes: number;
    readonly filesWithProcess: number;
    readonly filesServed: number;
  };
  readonly families?: {
    readonly total: number;
    readonly series: number;
    readonly top: readonly { readonly name: string; readonly type: string; readonly series: number }[];
  };
  readonly gate?: {
    readonly rejections: number;
    readonly byReason: Record<string, number>;
    readonly rejected: readonly { readonly reason: string; readonly family: string; readonly series: string | null; readonly message: string }[];
  };
}

function zeroCounts(): StateCounts {
  return { live: 0, unknown: 0, dead: 0, skipped: 0, absorbed: 0, total: 0 };
}

function countBy<T>(items: readonly T[], key: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of items.map(key).sort()) out[k] = (out[k] ?? 0) + 1;
  return out;
}

/** Reads `dir` once and reports on it; never throws for a directory that cannot be read (verdict `unreadable`). */
export function checkDirectory(dir: string, liveness: LivenessMode = 'auto'): CheckReport {
  const path = resolve(dir);
  const collector = new Collector(path, { liveness });
  try {
    let collection;
    try {
      collection = collector.collect();
    } catch (e) {
      if (!(e instanceof DirectoryError)) throw e;
      return { version: REPORT_VERSION, dir: path, verdict: 'unreadable', exitCode: EXIT_UNREADABLE, problems: [e.message], warnings: [], error: e.message };
    }
    const statuses = collector.directory.status();
    const gate = new ExpositionGate();
    const admitted = gate.admit(collection.families);
    const writers = findWriters(collection.files);
    return summarise(path, liveness, statuses, collection.skipped, collection.problems, admitted, gate, writers);
  } finally {
    collector.close();
  }
}

function summarise(
  dir: string,
  liveness: LivenessMode,
  statuses: readonly FileStatus[],
  skipped: readonly { fileName: string; reason: string; message: string }[],
  merge: readonly { fileName: string; message: string }[],
  families: readonly MetricFamily[],
  gate: ExpositionGate,
  writers: NonNullable<CheckReport['writers']>,
): CheckReport {
  const byState = zeroCounts();
  const byDialect: Record<string, StateCounts> = {};
  for (const d of [...new Set(statuses.map((f) => f.dialect))].sort()) byDialect[d] = zeroCounts();
  for (const f of statuses) {
    byState[f.state]++;
    byState.total++;
    const d = byDialect[f.dialect]!;
    d[f.state]++;
    d.total++;
  }
  let bytes = 0;
  let allocatedBytes = 0;
  for (const f of statuses) {
    let st;
    try {
      st = lstatSync(join(dir, f.fileName), { throwIfNoEntry: false });
    } catch {
      continue; // unreadable: its skip reason says why
    }
    if (st === undefined || !st.isFile()) continue;
    bytes += st.size;
    allocatedBytes += st.blocks * 512;
  }
  const perFamily = families.map((f) => ({ name: f.name, type: f.type, series: f.samples.length }));
  const series = perFamily.reduce((n, f) => n + f.series, 0);
  const top = [...perFamily].sort((a, b) => b.series - a.series || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).slice(0, TOP_FAMILIES);
  const rejected = gate.rejections.map((r) => ({ reason: r.reason, family: r.family, series: r.series ?? null, message: r.message }));
  const fs = directoryFilesystem(dir);
  const native = loadNative() !== null;

  const problems: string[] = [];
  const warnings: string[] = [];
  if (skipped.length > 0) problems.push(`${skipped.length} file(s) skipped: their values are not served`);
  if (merge.length > 0) problems.push(`${merge.length} file(s) served only in part: some entries could not be merged`);
  if (rejected.length > 0) problems.push(`${rejected.length} family or series rejection(s) by the exposition gate: left out of every scrape`);
  if (byState.total === 0) warnings.push('no .db files: nothing to serve (is this the workers\' PROMETHEUS_MULTIPROC_DIR?)');
  if (fs !== null && !fs.inMemory) warnings.push(`on ${fs.name}, not tmpfs: every writer pays page write-back faults; put the directory on tmpfs`);
  if (writers.visible === false) warnings.push('no served file\'s writer process is visible from here (another pid namespace, hidepid, or no writer running): dead Python writers cannot be told from live ones');
  if (byState.unknown > 0) warnings.push(`${byState.unknown} file(s) with a writer neither seen alive nor dead: served as live`);
  if (byState.absorbed > 0) warnings.push(`${byState.absorbed} file(s) already in a compaction archive (left by an interrupted compaction): not counted again`);
  if (!native) warnings.push('native addon unavailable: plain reads, no lock checks (writers\' liveness mostly unknown)');
  const exitCode = problems.length > 0 ? EXIT_PROBLEMS : EXIT_OK;
  return {
    version: REPORT_VERSION,
    dir,
    verdict: exitCode === EXIT_OK ? 'ok' : 'problems',
    exitCode,
    problems,
    warnings,
    liveness,
    native,
    filesystem: fs === null ? null : { name: fs.name, tmpfs: fs.inMemory },
    size: { bytes, allocatedBytes },
    files: {
      byState,
      byDialect,
      skipped: skipped.map((s) => ({ file: s.fileName, reason: s.reason, message: s.message })),
      skippedByReason: countBy(skipped, (s) => s.reason),
      partlySkipped: merge.map((p) => ({ file: p.fileName, message: p.message })),
    },
    writers,
    families: { total: families.length, series, top },
    gate: { rejections: rejected.length, byReason: countBy(rejected, (r) => r.reason), rejected },
  };
}

/**
 * The writer process of each served file, as worker process metrics find it: the holder of its
 * lock (/proc/locks), else the pid in its name if that process maps it, else any process that
 * maps it (one walk over /proc, only if some file is still unmatched).
 */
function findWriters(files: readonly MappedFile[]): NonNullable<CheckReport['writers']> {
  const locks = readLockHolders() ?? new Map<string, number>();
  const pids = new Set<number>();
  const unmatched: string[] = [];
  for (const f of files) {
    const key = mapsKey(f.dev, f.ino);
    const holder = locks.get(key);
    if (holder !== undefined) {
      pids.add(holder);
      continue;
    }
    const named = /^[1-9]\d{0,9}$/.test(f.processId) ? Number(f.processId) : 0;
    if (named > 0 && readMappedFiles(named)?.has(key) === true) pids.add(named);
    else unmatched.push(key);
  }
  let matched = files.length - unmatched.length;
  if (unmatched.length > 0) matched += walkForMappers(unmatched, pids);
  return { visible: files.length === 0 ? null : pids.size > 0, processes: pids.size, filesWithProcess: matched, filesServed: files.length };
}

/** Every visible process's maps once: how many of `keys` some process maps (their pids added to `pids`). */
function walkForMappers(keys: readonly string[], pids: Set<number>): number {
  let names: string[];
  try {
    names = readdirProc();
  } catch {
    return 0;
  }
  const left = new Set(keys);
  let found = 0;
  for (const n of names) {
    if (left.size === 0) break;
    const pid = Number(n);
    if (pid === process.pid) continue;
    const maps = readMappedFiles(pid);
    if (maps === null) continue;
    for (const k of [...left]) {
      if (!maps.has(k)) continue;
      left.delete(k);
      pids.add(pid);
      found++;
    }
  }
  return found;
}

function readdirProc(): string[] {
  return readdirSync('/proc').filter((n) => /^[1-9]\d*$/.test(n));
}
