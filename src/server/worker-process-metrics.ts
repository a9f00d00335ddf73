/**
 * Per-worker process metrics (`--collector.worker-process`): for every served file whose writer's
 * process this daemon can see, that process's CPU time, memory, fds, threads and start time, with
 * the names and units of client_golang's process collector under the daemon's own namespace:
 *
 *   multiproc_exporter_worker_process_cpu_seconds_total{pid="4242",worker="w1"} 12.5
 *
 * Why not `process_*`: an application may write `process_*` families into its files (they are
 * merged and served), and the daemon's name must never double one; the exposition gate closes
 * `multiproc_exporter_*` to merged families, so these names are ours alone (docs/daemon.md).
 *
 * A file's process: the pid holding its lock (our writer, the Ruby gem; /proc/locks), else the
 * pid in its name if that process maps it (Python). The pid is checked once, then trusted while
 * its start time is not later than when it was found (a later one is a reused pid). One series
 * per pid; a process that cannot be read is left out. Read once per scan (scrapes in flight
 * share a scan), what does not change cached per pid.
 */
import { ConfigError, type WorkerProcessMode } from '../config.js';
import type { Logger } from '../logger.js';
import type { MetricFamily, MetricType, Sample } from '../merge/model.js';
import { mapsKey } from '../reader/liveness.js';
import { bootTimeSeconds, pageSize, ProcessFiles, readLockHolders, readMappedFiles, readMaxFds, readProcessStat, startTimeSeconds, uptimeTicks, USER_HZ } from '../reader/process-stats.js';
import { SELF_PREFIX } from '../format/reserved.js';

export const WORKER_PROCESS_PREFIX = `${SELF_PREFIX}worker_process_`;

/** What a served file tells about its writer (a MappedFile has it). */
export interface ServedFile {
  readonly fileName: string;
  readonly dev: number;
  readonly ino: number;
  /** The id in its name: the worker id the files use (the `worker` label). */
  readonly processId: string;
  readonly parsed: { readonly archive: boolean };
}

/**
 * A file whose process was not found is looked for again after 1 s (it may have been caught
 * between its creation and its writer's lock), then twice as late each time, up to once a minute
 * (a writer in another pid namespace is never found: this bounds the /proc/locks reads).
 */
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 60_000;
/**
 * A scan that answers no scrape (an fs.watch hint, a readiness check: they come in bursts when
 * workers churn) re-reads a process only if its last read is older than this; scrapes always read.
 */
export const UNSCRAPED_MAX_AGE_MS = 1_000;
/** `Max open files` can be changed (prlimit) while a process runs: re-read this often. */
const LIMITS_MAX_AGE_MS = 60_000;
/** No live worker's process readable for this long: logged once (another pid namespace?). */
const INVISIBLE_REPORT_MS = 5_000;

const PID = /^[1-9]\d{0,9}$/;

/** The families, in output order; `sample` is the sample name. Help texts are client_golang's, saying whose. */
const FAMILIES: readonly { readonly name: string; readonly sample: string; readonly type: MetricType; readonly help: string }[] = [
  { name: 'cpu_seconds', sample: 'cpu_seconds_total', type: 'counter', help: 'Total user and system CPU time spent in seconds.' },
  { name: 'max_fds', sample: 'max_fds', type: 'gauge', help: 'Maximum number of open file descriptors.' },
  { name: 'open_fds', sample: 'open_fds', type: 'gauge', help: 'Number of open file descriptors.' },
  { name: 'resident_memory_bytes', sample: 'resident_memory_bytes', type: 'gauge', help: 'Resident memory size in bytes.' },
  { name: 'start_time_seconds', sample: 'start_time_seconds', type: 'gauge', help: 'Start time of the process since unix epoch in seconds.' },
  { name: 'threads', sample: 'threads', type: 'gauge', help: 'Number of OS threads in the process.' },
  { name: 'virtual_memory_bytes', sample: 'virtual_memory_bytes', type: 'gauge', help: 'Virtual memory size in bytes.' },
].map((f) => ({
  name: WORKER_PROCESS_PREFIX + f.name,
  sample: WORKER_PROCESS_PREFIX + f.sample,
  type: f.type as MetricType,
  help: `${f.help} Of each live worker process (worker: the process id in its files).`,
}));
const CPU = 0;
const MAX_FDS = 1;
const OPEN_FDS = 2;
const RSS = 3;
const START = 4;
const THREADS = 5;
const VSIZE = 6;

/** One file of a worker, by name: which pid was found writing it. */
interface Sighting {
  readonly dev: number;
  readonly ino: number;
  /** 0 = not found (yet). */
  pid: number;
  /** Not looked for again before this (performance.now() ms). */
  retryAt: number;
  /** Looks that found nothing in a row. */
  misses: number;
  seen: number;
}

/** One worker process being read. */
interface Watched {
  readonly pid: number;
  /** Its /proc files, kept open while it is watched; null until the first read. */
  files: ProcessFiles | null;
  /** Uptime (USER_HZ ticks) just before it was found holding or mapping a file: it started no later. */
  readonly sightedTicks: number;
  startTicks: number;
  maxFds: number | null;
  limitsReadAt: number;
  /** When its stat was last read (performance.now() ms). */
  readAt: number;
  worker: string;
  /** One sample per family (FAMILIES order), long-lived so exposition memoises their label text. */
  samples: Sample[];
  seen: number;
}

export class WorkerProcessMetrics {
  private readonly sightings = new Map<string, Sighting>();
  private readonly processes = new Map<number, Watched>();
  private scanCount = 0;
  private invisibleSince: number | null = null;
  private reportedInvisible = false;

  constructor(
    readonly mode: 'auto' | 'on',
    private readonly bootTime: number,
    private readonly logger?: Logger,
  ) {}

  /** Closes the /proc files kept open (two per watched process); the next scan opens them again. */
  close(): void {
    for (const w of this.processes.values()) {
      w.files?.close();
      w.files = null;
    }
  }

  /** Pids read so far (tests, status). */
  get pids(): number[] {
    return [...this.processes.keys()].sort((a, b) => a - b);
  }

  /**
   * The families for this scan's served files (live or unknown writers); [] when no worker process
   * is readable. A process read less than `maxAgeMs` ago keeps its values (see UNSCRAPED_MAX_AGE_MS).
   */
  families(files: readonly ServedFile[], maxAgeMs = 0): MetricFamily[] {
    const scan = ++this.scanCount;
    const now = performance.now();
    const workerOf = new Map<number, string>();
    let pending: [ServedFile, Sighting][] | null = null;
    let candidates = 0;
    for (let i = 0; i < files.length; i++) {
      const f = files[i]!;
      if (f.parsed.archive) continue;
      candidates++;
      let s = this.sightings.get(f.fileName);
      if (s === undefined || s.ino !== f.ino || s.dev !== f.dev) {
        s = { dev: f.dev, ino: f.ino, pid: 0, retryAt: 0, misses: 0, seen: scan };
        this.sightings.set(f.fileName, s);
      }
      s.seen = scan;
      if (s.pid > 0) addWorker(workerOf, s.pid, f.processId);
      else if (now >= s.retryAt) (pending ??= []).push([f, s]);
    }
    if (pending !== null) this.find(pending, now, workerOf);
    if (this.sightings.size > candidates) {
      for (const [name, s] of this.sightings) if (s.seen !== scan) this.sightings.delete(name);
    }

    const pids = [...workerOf.keys()].sort((a, b) => a - b);
    const read: Watched[] = [];
    for (const pid of pids) {
      const w = this.processes.get(pid);
      if (w === undefined) continue;
      if (now - w.readAt < maxAgeMs && w.worker === workerOf.get(pid)) {
        w.seen = scan;
        read.push(w);
        continue;
      }
      w.files ??= ProcessFiles.open(pid);
      const st = w.files?.stat() ?? null;
      // Gone, a zombie, or a reused pid (started after it was found writing): left out, looked for again.
      if (st === null || st.startTicks > w.sightedTicks || (w.startTicks >= 0 && st.startTicks !== w.startTicks)) {
        this.forget(pid);
        continue;
      }
      const worker = workerOf.get(pid)!;
      if (w.startTicks < 0 || w.worker !== worker) {
        w.startTicks = st.startTicks;
        w.worker = worker;
        w.samples = samplesFor(pid, worker);
        w.samples[START]!.value = startTimeSeconds(this.bootTime, st.startTicks);
      }
      if (w.maxFds === null || now - w.limitsReadAt >= LIMITS_MAX_AGE_MS) {
        w.maxFds = readMaxFds(pid);
        w.limitsReadAt = now;
      }
      const samples = w.samples;
      samples[CPU]!.value = st.cpuTicks / USER_HZ;
      samples[RSS]!.value = st.residentPages * pageSize();
      samples[VSIZE]!.value = st.virtualBytes;
      samples[THREADS]!.value = st.threads;
      const open = w.files!.openFds();
      samples[OPEN_FDS]!.value = open ?? NaN;
      samples[MAX_FDS]!.value = w.maxFds ?? NaN;
      w.readAt = now;
      w.seen = scan;
      read.push(w);
    }
    for (const [pid, w] of this.processes) {
      if (w.seen === scan) continue;
      w.files?.close();
      this.processes.delete(pid);
    }
    this.noteVisibility(candidates, read.length, now);
    if (read.length === 0) return [];

    return FAMILIES.map((f, k) => {
      const samples: Sample[] = [];
      for (const w of read) {
        const s = w.samples[k]!;
        if (!Number.isNaN(s.value)) samples.push(s);
      }
      return { name: f.name, type: f.type, help: f.help, samples };
    }).filter((f) => f.samples.length > 0);
  }

  /** Look for the process of each file: its lock's holder, else the pid in its name if that maps it. */
  private find(pending: readonly [ServedFile, Sighting][], now: number, workerOf: Map<number, string>): void {
    // Taken before the look: a process found now started no later than this.
    const ticks = uptimeTicks();
    if (ticks === null) return;
    const holders = readLockHolders();
    const maps = new Map<number, Set<string> | null>();
    for (const [f, s] of pending) {
      const key = mapsKey(f.dev, f.ino);
      let pid = holders?.get(key) ?? 0;
      if (pid === 0 && PID.test(f.processId)) {
        const named = Number(f.processId);
        let m = maps.get(named);
        if (m === undefined) maps.set(named, (m = readMappedFiles(named)));
        if (m?.has(key) === true) pid = named;
      }
      if (pid === 0 || pid === process.pid) {
        s.retryAt = now + Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** s.misses);
        s.misses = Math.min(s.misses + 1, 16);
        continue;
      }
      s.pid = pid;
      s.misses = 0;
      if (!this.processes.has(pid)) {
        this.processes.set(pid, { pid, files: null, sightedTicks: ticks, startTicks: -1, maxFds: null, limitsReadAt: 0, readAt: -Infinity, worker: '', samples: [], seen: 0 });
      }
      addWorker(workerOf, pid, f.processId);
    }
  }

  /** The pid is gone or reused: its files are looked for afresh at the next scan. */
  private forget(pid: number): void {
    this.processes.get(pid)?.files?.close();
    this.processes.delete(pid);
    for (const s of this.sightings.values()) {
      if (s.pid === pid) {
        s.pid = 0;
        s.retryAt = 0;
      }
    }
  }

  /** One log line when live workers exist but none's process can be read for a while, one when they can again. */
  private noteVisibility(candidates: number, read: number, now: number): void {
    if (read > 0 || candidates === 0) {
      if (this.reportedInvisible && read > 0) this.logger?.info({ workers: read }, 'worker process metrics: workers’ processes can be read again');
      this.invisibleSince = null;
      this.reportedInvisible = false;
      return;
    }
    this.invisibleSince ??= now;
    if (!this.reportedInvisible && now - this.invisibleSince >= INVISIBLE_REPORT_MS) {
      this.reportedInvisible = true;
      const message =
        'worker process metrics: no live worker’s process can be read (another pid namespace, /proc mounted with hidepid, or another user): ' +
        `${WORKER_PROCESS_PREFIX}* absent until one can (--collector.worker-process ${this.mode})`;
      if (this.mode === 'on') this.logger?.warn({ files: candidates }, message);
      else this.logger?.info({ files: candidates }, message);
    }
  }
}

/** Several ids in one process (rare): the first in sort order names it, so each pid is one series. */
function addWorker(workerOf: Map<number, string>, pid: number, id: string): void {
  const cur = workerOf.get(pid);
  if (cur === undefined || id < cur) workerOf.set(pid, id);
}

function samplesFor(pid: number, worker: string): Sample[] {
  const labels = [['pid', String(pid)], ['worker', worker]] as const;
  return FAMILIES.map((f) => ({ name: f.sample, labels, value: NaN }));
}

/**
 * The collector for `--collector.worker-process`: null when off, or when `auto` finds no /proc to
 * read (one log line); `on` without /proc is a ConfigError.
 */
export function createWorkerProcessMetrics(mode: WorkerProcessMode, logger?: Logger): WorkerProcessMetrics | null {
  if (mode === 'off') return null;
  const bootTime = bootTimeSeconds();
  const usable = bootTime !== null && readProcessStat(process.pid) !== null && uptimeTicks() !== null;
  if (!usable) {
    const why = '/proc/stat, /proc/uptime or /proc/self/stat cannot be read (worker process metrics need Linux /proc)';
    if (mode === 'on') throw new ConfigError(`--collector.worker-process on: ${why}; use auto or off`);
    logger?.info(`worker process metrics off: ${why} (--collector.worker-process auto)`);
    return null;
  }
  return new WorkerProcessMetrics(mode, bootTime!, logger);
}
