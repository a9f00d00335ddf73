/**
 * Shared benchmark plumbing: timed loops, medians over interleaved rounds, machine facts, temp
 * dirs and child processes (always cleaned up), the large directories written by the real
 * libraries, the daemon and HTTP scrapes, /proc readings, profiles and SVG charts.
 * Scenarios live one per file beside this one; programs they run in other processes in drivers/.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Dialect } from '../src/format/dialect.js';

export interface Case {
  readonly name: string;
  /** Run the operation `n` times; return nothing (the harness times it). */
  readonly run: (n: number) => void;
}

export interface Measured {
  readonly name: string;
  /** Median nanoseconds per operation over the rounds. */
  readonly nsPerOp: number;
  readonly rounds: readonly number[];
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Time every case for `rounds` rounds, interleaved (round 1 runs all cases, then round 2 …), so
 * a noisy moment on the machine hits all cases alike. Each round runs `ops` operations after a
 * warm-up of `ops / 10`.
 */
export function measure(cases: readonly Case[], ops: number, rounds = 7): Measured[] {
  for (const c of cases) c.run(Math.max(1, Math.floor(ops / 10)));
  const times = cases.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    cases.forEach((c, i) => {
      const t0 = process.hrtime.bigint();
      c.run(ops);
      times[i]!.push(Number(process.hrtime.bigint() - t0) / ops);
    });
  }
  return cases.map((c, i) => ({ name: c.name, nsPerOp: median(times[i]!), rounds: times[i]! }));
}

export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const python = tryRun('/usr/bin/python3', ['-c', 'import sys, prometheus_client as p; print(sys.version.split()[0], getattr(p, "__version__", "0.16.0"))']);
  const ruby = tryRun('/usr/bin/ruby', ['-e', 'print RUBY_VERSION']);
  const root = join(import.meta.dirname, '..');
  const commit = tryRun('git', ['-C', root, 'rev-parse', '--short', 'HEAD']);
  // The run rewrites RESULTS.md and the charts: only other changes make the tree differ from the commit.
  const dirty = tryRun('git', ['-C', root, 'status', '--porcelain', '--', '.', ':!benchmarks/RESULTS.md', ':!benchmarks/*.svg']) !== '';
  return [
    `- Code: commit ${commit || 'unknown'}${dirty ? ' with uncommitted changes' : ''}`,
    `- CPU: ${cpus().length} × ${cpu}; memory ${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
    `- Node.js ${process.version}; prom-client ${packageVersion('prom-client')}; autocannon ${packageVersion('autocannon')}`,
    `- Python ${python === '' ? 'not installed' : python.replace(' ', ', prometheus_client ')} (Debian python3-prometheus-client)`,
    `- Ruby ${ruby || 'not installed'} (Debian ruby-prometheus-client-mmap 0.16.2)`,
  ].join('\n');
}

function tryRun(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: 20_000 }).trim();
  } catch {
    return '';
  }
}

function packageVersion(name: string): string {
  return tryRun(process.execPath, ['-p', `require('${name}/package.json').version`]);
}

export function formatNs(ns: number): string {
  return ns >= 100 ? ns.toFixed(0) : ns >= 10 ? ns.toFixed(1) : ns.toFixed(2);
}

/** A markdown table: rows of cells, first row the header. */
export function table(rows: readonly (readonly string[])[]): string {
  const [head, ...body] = rows;
  return [`| ${head!.join(' | ')} |`, `| ${head!.map(() => '---').join(' | ')} |`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Resources: every temp dir and child process a scenario makes is registered here and removed
// or killed by cleanup(), which run.ts calls when the run ends, fails or is interrupted.
// ---------------------------------------------------------------------------------------------

const tempDirs = new Set<string>();
const children = new Set<ChildProcess>();

/** A fresh directory under os.tmpdir(), removed by cleanup() (or earlier by removeTempDir). */
export function tempDir(purpose: string): string {
  const dir = mkdtempSync(join(tmpdir(), `mpe-bench-${purpose}-`));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** Registers a child process so cleanup() kills it if it is still running. */
export function track<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function cleanup(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
  directories.clear();
}

export const PYTHON = '/usr/bin/python3';
export const RUBY = '/usr/bin/ruby';
export const DRIVERS = join(import.meta.dirname, 'drivers');
export const BIN = join(import.meta.dirname, '..', 'bin', 'multiproc-exporter');

/** Run a program to completion (tracked, bounded); rejects with its stderr on a non-zero exit. */
export function runProgram(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 600_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = track(spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] }));
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code ?? signal}: ${stderr.trim()}`));
    });
  });
}

/** `count` tasks, at most `concurrency` at a time. */
export async function pool<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(count);
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const i = next++;
      out[i] = await task(i);
    }
  });
  await Promise.all(lanes);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Large directories, written by the real libraries in real processes (drivers/), and the
// exposition their write pattern must produce.
// ---------------------------------------------------------------------------------------------

/** The library that writes a large directory (drivers/write_*). */
export type Writer = 'python' | 'ruby' | 'node';

export const WRITERS: readonly Writer[] = ['python', 'ruby', 'node'];

export const WRITER_NAME: Record<Writer, string> = {
  python: 'Python prometheus_client 0.16 (8-byte slot)',
  ruby: 'Ruby prometheus-client-mmap 0.16.2',
  node: 'our writer (python layout, 16-byte slot)',
};

/** The dialect of each writer's files (prometheus_client 0.16 predates the 16-byte slot). */
export const WRITER_DIALECT: Record<Writer, Dialect> = { python: 'python-legacy', ruby: 'ruby', node: 'python' };

/** What each worker process writes (drivers/write_*: the same pattern in each language). */
export interface WritePattern {
  readonly processes: number;
  /** Counter `bench_requests_total{route,code}`: routes × 4 codes series. */
  readonly routes: number;
  /** Histogram `bench_latency_seconds{route}` (10 buckets + +Inf): label sets. */
  readonly histogramRoutes: number;
  /** Gauges `bench_inflight{queue}` (livesum) and `bench_queue_oldest_seconds{queue}` (max). */
  readonly queues: number;
}

/** 128 processes × 1,000 entries (400 counter, 30 × 12 histogram, 120 livesum, 120 max). */
export const LARGE: WritePattern = { processes: 128, routes: 100, histogramRoutes: 30, queues: 120 };

const CODES = ['200', '201', '404', '500'];
const BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, Infinity];
const OBSERVATIONS = Array.from({ length: 12 }, (_, k) => 2 ** (k - 8));

/** Entries one process writes (Ruby also stores each histogram's `_count`). */
export function entriesPerProcess(w: WritePattern, writer: Writer): number {
  return w.routes * CODES.length + w.histogramRoutes * (BOUNDS.length + (WRITER_DIALECT[writer] === 'ruby' ? 2 : 1)) + 2 * w.queues;
}

const directories = new Map<string, Promise<string>>();

/**
 * A directory written by `writer` in `w.processes` real processes (4 files each). Made once per
 * run and shared by the scenarios that only read it; a scenario that changes files copies it.
 */
export function largeDirectory(writer: Writer, w: WritePattern = LARGE): Promise<string> {
  const memo = `${writer}/${w.processes}/${w.routes}/${w.histogramRoutes}/${w.queues}`;
  let dir = directories.get(memo);
  if (dir === undefined) {
    dir = writeDirectory(writer, w);
    directories.set(memo, dir);
  }
  return dir;
}

async function writeDirectory(writer: Writer, w: WritePattern): Promise<string> {
  const dir = tempDir(`${writer}-dir`);
  const env = { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir, prometheus_multiproc_dir: dir };
  const shape = [String(w.routes), String(w.histogramRoutes), String(w.queues)];
  const [command, script, pre]: [string, string, string[]] =
    writer === 'python'
      ? [PYTHON, 'write_python.py', []]
      : writer === 'ruby'
        ? [RUBY, 'write_ruby.rb', []]
        : [process.execPath, 'write_node.ts', ['--import', 'tsx']];
  const t0 = performance.now();
  await pool(w.processes, 4, (p) => runProgram(command, [...pre, join(DRIVERS, script), String(p), ...shape], env));
  const files = readdirSync(dir).filter((f) => f.endsWith('.db')).length;
  if (files !== w.processes * 4) throw new Error(`${writer} directory ${dir}: ${files} files, expected ${w.processes * 4}`);
  process.stderr.write(`  ${writer}: ${w.processes} processes wrote ${files} files in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  return dir;
}

/** Copy a directory (for scenarios that add files to it). */
export function copyDirectory(source: string, purpose: string): string {
  const dir = tempDir(purpose);
  for (const f of readdirSync(source)) copyFileSync(join(source, f), join(dir, f));
  return dir;
}

/** Sample identity: name + labels sorted, `le` compared numerically (`1`, `1.0` are one bound). */
export type SampleMap = Map<string, number>;

function sampleKey(name: string, labels: [string, string][]): string {
  const parts = labels
    .map(([k, v]) => [k, k === 'le' ? String(v === '+Inf' ? Infinity : Number(v)) : v] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`);
  return `${name}{${parts.join(',')}}`;
}

/**
 * The exposition every reader must produce for the `bench_` families of this pattern, when the
 * counter and histogram files of every process are present `counterCopies` times (1 = as written;
 * more = copies left by exited processes, see churn.ts).
 */
export function expectedSamples(w: WritePattern, counterCopies = 1): SampleMap {
  const out: SampleMap = new Map();
  const pad = (n: number): string => `${String(n).padStart(3, '0')}`;
  for (let r = 0; r < w.routes; r++) {
    CODES.forEach((code, c) => {
      let total = 0;
      for (let p = 0; p < w.processes; p++) total += 1 + ((r * CODES.length + c + p) % 7);
      out.set(sampleKey('bench_requests_total', [['route', `r${pad(r)}`], ['code', code]]), total * counterCopies);
    });
  }
  for (let j = 0; j < w.histogramRoutes; j++) {
    const counts = BOUNDS.map(() => 0);
    let sum = 0;
    for (let p = 0; p < w.processes; p++) {
      for (let k = 0; k < 3; k++) {
        const v = OBSERVATIONS[(j + p + k) % OBSERVATIONS.length]!;
        sum += v;
        BOUNDS.forEach((b, i) => {
          if (v <= b) counts[i]!++;
        });
      }
    }
    const route: [string, string] = ['route', `r${pad(j)}`];
    BOUNDS.forEach((b, i) => out.set(sampleKey('bench_latency_seconds_bucket', [route, ['le', b === Infinity ? '+Inf' : String(b)]]), counts[i]! * counterCopies));
    out.set(sampleKey('bench_latency_seconds_count', [route]), 3 * w.processes * counterCopies);
    out.set(sampleKey('bench_latency_seconds_sum', [route]), sum * counterCopies);
  }
  for (let q = 0; q < w.queues; q++) {
    let sum = 0;
    let max = -Infinity;
    for (let p = 0; p < w.processes; p++) {
      sum += (q * 31 + p) % 97;
      max = Math.max(max, (q * 17 + p * 13) % 1009);
    }
    out.set(sampleKey('bench_inflight', [['queue', `q${pad(q)}`]]), sum);
    out.set(sampleKey('bench_queue_oldest_seconds', [['queue', `q${pad(q)}`]]), max);
  }
  return out;
}

/** Samples of a text exposition whose name starts with `prefix` (simple label values only). */
export function parseSamples(text: string, prefix: string): SampleMap {
  const out: SampleMap = new Map();
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const brace = line.indexOf('{');
    const space = line.lastIndexOf(' ');
    const name = brace < 0 ? line.slice(0, space) : line.slice(0, brace);
    const labels: [string, string][] = [];
    if (brace >= 0) {
      const body = line.slice(brace + 1, line.lastIndexOf('}'));
      for (const m of body.matchAll(/([A-Za-z_][A-Za-z0-9_]*)="([^"]*)"/g)) labels.push([m[1]!, m[2]!]);
    }
    const v = line.slice(space + 1);
    out.set(sampleKey(name, labels), v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v));
  }
  return out;
}

export interface SampleCheck {
  readonly expected: number;
  readonly found: number;
  /** Expected samples missing or with another value, plus unexpected ones. */
  readonly wrong: number;
  readonly example: string | null;
}

export function checkSamples(expected: SampleMap, found: SampleMap): SampleCheck {
  let wrong = 0;
  let example: string | null = null;
  for (const [k, v] of expected) {
    const got = found.get(k);
    if (got !== v) {
      wrong++;
      example ??= `${k}: expected ${v}, got ${got ?? 'nothing'}`;
    }
  }
  for (const k of found.keys()) {
    if (!expected.has(k)) {
      wrong++;
      example ??= `${k}: unexpected`;
    }
  }
  return { expected: expected.size, found: found.size, wrong, example };
}

export function describeCheck(c: SampleCheck): string {
  return c.wrong === 0 ? `${c.found} of ${c.expected} exact` : `**${c.wrong} wrong** of ${c.expected} (${c.example})`;
}

// ---------------------------------------------------------------------------------------------
// The daemon as users run it, and HTTP scrapes of it.
// ---------------------------------------------------------------------------------------------

export interface DaemonProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** `http://127.0.0.1:PORT/metrics` */
  readonly metricsUrl: string;
  /** hrtime (ns) of the spawn and of the start line (the listener is up). */
  readonly spawnedAt: bigint;
  readonly listeningAt: bigint;
  stop(): Promise<void>;
}

/**
 * The benchmark directories are written by processes that have exited. A daemon serving live
 * writers reads every file on every scrape; `--liveness off` makes it do so here too (with the
 * default `auto`, the Ruby directory's files — whose writers locked them — would be seen dead,
 * folded once and not read again, which is the churn scenario's subject, not this one's).
 */
export const EVERY_FILE_LIVE = ['--liveness', 'off'] as const;

/** `node [nodeArgs] bin/multiproc-exporter --dir DIR --web.listen-address 127.0.0.1:0`; resolves at its start line. */
export function startDaemon(dir: string, nodeArgs: readonly string[] = [], env: NodeJS.ProcessEnv = {}, flags: readonly string[] = []): Promise<DaemonProcess> {
  const spawnedAt = process.hrtime.bigint();
  const child = track(
    spawn(process.execPath, [...nodeArgs, BIN, '--dir', dir, '--web.listen-address', '127.0.0.1:0', '--log.level', 'info', ...flags], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...env },
    }),
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    let stderr = '';
    let started = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`daemon did not start in 30 s: ${stderr}`));
    }, 30_000);
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      if (started) return; // keep draining the pipe, nothing more to learn
      stderr += chunk;
      const m = /"listen":"([^"]+)"[^\n]*"msg":"multiproc-exporter started"/.exec(stderr);
      if (m === null) return;
      const listeningAt = process.hrtime.bigint();
      started = true;
      clearTimeout(timer);
      resolve({
        child,
        pid: child.pid!,
        metricsUrl: `http://${m[1]!.replace(/^:/, '127.0.0.1:')}/metrics`,
        spawnedAt,
        listeningAt,
        stop: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          const killer = setTimeout(() => child.kill('SIGKILL'), 12_000);
          await exited;
          clearTimeout(killer);
        },
      });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code} before starting: ${stderr}`));
    });
  });
}

export interface HttpResult {
  readonly status: number;
  readonly body: Buffer;
  /** hrtime (ns) when the last byte arrived. */
  readonly endedAt: bigint;
  /** Request start to last byte. */
  readonly ms: number;
}

/** One GET, whole body read. `agent` keeps the connection between scrapes (as Prometheus does). */
export function httpGet(url: string, agent?: Agent, headers: Record<string, string> = {}): Promise<HttpResult> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: agent ?? false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => {
        const endedAt = process.hrtime.bigint();
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), endedAt, ms: Number(endedAt - t0) / 1e6 });
      });
      res.once('error', reject);
    });
    req.setTimeout(60_000, () => req.destroy(new Error(`GET ${url}: no answer in 60 s`)));
    req.once('error', reject);
    req.end();
  });
}

export function keepAliveAgent(): Agent {
  return new Agent({ keepAlive: true, maxSockets: 1 });
}

// ---------------------------------------------------------------------------------------------
// /proc: CPU and memory of another process.
// ---------------------------------------------------------------------------------------------

const CLOCK_TICKS = 100; // getconf CLK_TCK on Linux

/** User + system CPU seconds a process has used (Linux /proc/PID/stat). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime, stime (fields 14, 15)
}

export interface Memory {
  /** Resident set size, and its parts: anonymous (heap, stacks), file pages (incl. the mapped .db files), shared memory. */
  readonly rss: number;
  readonly anon: number;
  readonly file: number;
  readonly shmem: number;
  /** Peak resident set size. */
  readonly peak: number;
}

/** Memory of a process, in bytes (Linux /proc/PID/status). */
export function memory(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kib('VmRSS'), anon: kib('RssAnon'), file: kib('RssFile'), shmem: kib('RssShmem'), peak: kib('VmHWM') };
}

/** Open file descriptors of a process. */
export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

// ---------------------------------------------------------------------------------------------
// Statistics, formatting, profiles, charts.
// ---------------------------------------------------------------------------------------------

/** Nearest-rank percentile, p in [0, 100]. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export function formatMs(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3);
}

export function formatMiB(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}

/** How ours compares with theirs, from two times: `12× faster` or `7.6× slower`. */
export function speedup(theirs: number, ours: number): string {
  return theirs >= ours ? `${ratio(theirs, ours)} faster` : `${ratio(ours, theirs)} slower`;
}

export function ratio(slow: number, fast: number): string {
  return `${(slow / fast).toFixed(slow / fast >= 10 ? 0 : 1)}×`;
}

export function goal(met: boolean): string {
  return met ? '**met**' : '**missed**';
}

export interface ProfileEntry {
  readonly fn: string;
  readonly where: string;
  /** Time in the function itself. */
  readonly selfMs: number;
  /** Time in the function and everything it called. */
  readonly totalMs: number;
  /** totalMs as a share of the profile. */
  readonly share: number;
}

const PROFILE_NOISE = new Set(['(root)', '(program)', '(idle)', '(anonymous)', 'processTicksAndRejections', 'runMicrotasks', 'listOnTimeout', 'processTimers', 'processImmediate']);

/**
 * The functions of a V8 .cpuprofile that take the most time: `order` 'total' ranks by time
 * including callees (what each phase costs), 'self' by time in the function itself (hot spots).
 */
export function summarizeCpuProfile(file: string, top = 12, order: 'total' | 'self' = 'total'): ProfileEntry[] {
  interface Node {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  const root = join(import.meta.dirname, '..');
  const stats = new Map<string, { fn: string; where: string; selfUs: number; totalUs: number }>();
  const statOf = (n: Node): { fn: string; where: string; selfUs: number; totalUs: number } => {
    const f = n.callFrame;
    const where = f.url === '' ? '' : `${f.url.replace(/^file:\/\//, '').replace(`${root}/`, '')}:${f.lineNumber + 1}`;
    const fn = f.functionName === '' ? '(anonymous)' : f.functionName;
    const key = `${fn}@${where}`;
    let e = stats.get(key);
    if (e === undefined) stats.set(key, (e = { fn, where, selfUs: 0, totalUs: 0 }));
    return e;
  };
  const stackOf = (id: number): Node[] => {
    const stack: Node[] = [];
    for (let cur: number | undefined = id; cur !== undefined; cur = parentOf.get(cur)) stack.push(byId.get(cur)!);
    return stack;
  };
  let total = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const stack = stackOf(id);
    if (stack.some((n) => n.callFrame.url === 'node:inspector')) return; // the profiler stopping itself
    total += us;
    statOf(byId.get(id)!).selfUs += us;
    const counted = new Set<object>();
    for (const n of stack) {
      const e = statOf(n);
      if (!counted.has(e)) {
        counted.add(e);
        e.totalUs += us;
      }
    }
  });
  return [...stats.values()]
    .filter((e) => !PROFILE_NOISE.has(e.fn) && e.totalUs < 0.98 * total) // not the wrappers every sample is under
    .sort((a, b) => (order === 'total' ? b.totalUs - a.totalUs : b.selfUs - a.selfUs))
    .slice(0, top)
    .map((e) => ({ fn: e.fn, where: e.where, selfMs: e.selfUs / 1000, totalMs: e.totalUs / 1000, share: e.totalUs / total }));
}

/** `per`: divide the times by this (e.g. the number of scrapes profiled) to show them per operation. */
/** Said under every profile table: why a function can show less self time than expected. */
export const PROFILE_NOTE = 'V8 inlines small functions into their callers, so their time can show as the caller\'s self time (e.g. `merge` inside `collect`).';

export function profileTable(entries: readonly ProfileEntry[], per = 1, unit = 'ms'): string {
  const suffix = per === 1 ? unit : `${unit} per scrape`;
  return table([
    ['function', 'where', `total ${suffix}`, `self ${suffix}`, 'share of profile'],
    ...entries.map((e) => [`\`${e.fn}\``, e.where === '' ? '(native)' : `\`${e.where}\``, formatMs(e.totalMs / per), formatMs(e.selfMs / per), `${(e.share * 100).toFixed(1)}%`]),
  ]);
}

export interface Bar {
  readonly label: string;
  readonly value: number;
  /** Text after the bar (default: the value). */
  readonly text?: string;
  /** Ours: drawn in the accent colour. */
  readonly ours?: boolean;
}

export interface ChartSection {
  readonly title: string;
  readonly bars: readonly Bar[];
  /** Log scale for values spanning orders of magnitude. */
  readonly log?: boolean;
}

const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A horizontal bar chart, one block per section; plain SVG, no library. */
export function barChart(title: string, sections: readonly ChartSection[]): string {
  const width = 980;
  const labelWidth = 340;
  const barArea = 380;
  const rowHeight = 22;
  let y = 52;
  const parts: string[] = [
    `<text x="12" y="24" font-size="16" font-weight="bold">${escapeXml(title)}</text>`,
    `<rect x="12" y="33" width="12" height="12" fill="#1f77b4"/><text x="29" y="44" font-size="12">ours</text>`,
    `<rect x="72" y="33" width="12" height="12" fill="#9e9e9e"/><text x="89" y="44" font-size="12">alternatives</text>`,
  ];
  for (const section of sections) {
    y += 14;
    parts.push(`<text x="12" y="${y}" font-size="13" font-weight="bold">${escapeXml(section.title)}</text>`);
    y += 8;
    const values = section.bars.map((b) => b.value).filter((v) => v > 0 && Number.isFinite(v));
    const max = Math.max(...values, Number.MIN_VALUE);
    const min = Math.min(...values, max);
    const scale = (v: number): number => {
      if (!(v > 0) || !Number.isFinite(v)) return 0;
      if (section.log !== true) return (v / max) * barArea;
      const lo = Math.log10(min) - 0.3;
      return Math.max(2, ((Math.log10(v) - lo) / (Math.log10(max) - lo)) * barArea);
    };
    for (const bar of section.bars) {
      const w = scale(bar.value);
      parts.push(
        `<text x="${labelWidth - 8}" y="${y + 15}" font-size="12" text-anchor="end">${escapeXml(bar.label)}</text>`,
        `<rect x="${labelWidth}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowHeight - 6}" fill="${bar.ours === true ? '#1f77b4' : '#9e9e9e'}"/>`,
        `<text x="${(labelWidth + w + 6).toFixed(1)}" y="${y + 15}" font-size="12">${escapeXml(bar.text ?? String(bar.value))}</text>`,
      );
      y += rowHeight;
    }
    if (section.log === true) {
      parts.push(`<text x="${labelWidth}" y="${y + 12}" font-size="10" fill="#666">log scale</text>`);
      y += 12;
    }
  }
  const height = y + 16;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

/** Writes benchmarks/<name>.svg; returns the markdown that shows it from RESULTS.md. */
export function writeChart(name: string, svg: string): string {
  writeFileSync(join(import.meta.dirname, `${name}.svg`), svg);
  return `![${name}](${name}.svg)`;
}

export async function waitForFile(file: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`${file} did not appear in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Profile only what `work` makes the daemon do: the daemon starts and answers `warmUp` scrapes
 * unprofiled, then a CPU profile (drivers/profile_on_signal.ts) covers `work`. Returns the top
 * functions; divide by the number of scrapes in `work` for per-scrape figures.
 */
export async function profileDaemon(
  dir: string,
  warmUp: number,
  work: (metricsUrl: string) => Promise<void>,
  top = 14,
  order: 'total' | 'self' = 'total',
  flags: readonly string[] = [],
): Promise<ProfileEntry[]> {
  const file = join(tempDir('cpu-prof'), 'daemon.cpuprofile');
  const daemon = await startDaemon(dir, ['--import', 'tsx', '--import', join(DRIVERS, 'profile_on_signal.ts')], { MPE_BENCH_PROFILE: file }, flags);
  try {
    const agent = keepAliveAgent();
    for (let i = 0; i < warmUp; i++) await httpGet(daemon.metricsUrl, agent);
    agent.destroy();
    daemon.child.kill('SIGUSR2');
    await waitForFile(`${file}.started`, 10_000);
    await work(daemon.metricsUrl);
    daemon.child.kill('SIGUSR2');
    await waitForFile(file, 30_000);
  } finally {
    await daemon.stop();
  }
  return summarizeCpuProfile(file, top, order);
}

/**
 * Run the daemon under `node --cpu-prof` on `dir`, let `work` drive it, stop it (SIGTERM: the
 * profile is written at exit) and return the top functions by self time.
 */
export async function cpuProfileOf(dir: string, work: (metricsUrl: string) => Promise<void>, top = 12, order: 'total' | 'self' = 'total', flags: readonly string[] = []): Promise<ProfileEntry[]> {
  const profileDir = tempDir('cpu-prof');
  const daemon = await startDaemon(dir, ['--cpu-prof', '--cpu-prof-dir', profileDir], {}, flags);
  try {
    await work(daemon.metricsUrl);
  } finally {
    await daemon.stop();
  }
  const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error(`no .cpuprofile written in ${profileDir}`);
  const summary = summarizeCpuProfile(join(profileDir, file), top, order);
  removeTempDir(profileDir);
  return summary;
}

/** Start a daemon on `dir`, run `work` with it, and always stop it. */
export async function withDaemon<T>(dir: string, work: (daemon: DaemonProcess) => Promise<T>, nodeArgs: readonly string[] = [], env: NodeJS.ProcessEnv = {}, flags: readonly string[] = []): Promise<T> {
  const daemon = await startDaemon(dir, nodeArgs, env, flags);
  try {
    return await work(daemon);
  } finally {
    await daemon.stop();
  }
}
