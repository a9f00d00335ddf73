/**
 * The daemon as users run it, HTTP scrapes of it, its CPU and memory read from /proc, and CPU
 * profiles of what it does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { DRIVERS } from './drivers.js';
import { summarizeCpuProfile, type ProfileEntry } from './report.js';
import { removeTempDir, tempDir, track } from './resources.js';

export const BIN = join(import.meta.dirname, '..', '..', 'bin', 'multiproc-exporter');

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
