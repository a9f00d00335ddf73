/**
 * Worker process metrics (`--collector.worker-process`): what reading /proc for every live worker
 * adds to a scrape, per worker, with 8, 64 and 256 live processes (goal: at most 20 µs per worker
 * per scrape). Steady state: pids known, one pread of `stat` and one fstat of `fd` per worker (limits
 * cached). First scrape: each file's process found in /proc/locks or, for Python, its maps.
 * For scale, the scan of the same directory (`Collector.collect()`), and whole scrapes of the
 * daemon with the collector on and off.
 *
 * Workers: `flock --no-fork FILE sleep` processes holding copies of a file our writer wrote (the
 * cheapest process there is: what is measured is the daemon's side), our writer in Node.js
 * processes (11 threads each), and Python prometheus_client processes (pid-named files).
 *
 *   npm run bench -- worker-process
 */
import { copyFileSync, statSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { Collector } from '../src/collector.js';
import type { MappedFile } from '../src/reader/mapped-file.js';
import { mapsKey } from '../src/reader/liveness.js';
import { readLockHolders } from '../src/reader/process-stats.js';
import { createWorkerProcessMetrics } from '../src/server/worker-process-metrics.js';
import { pool, PYTHON, runProgram } from './harness/drivers.js';
import { httpGet, keepAliveAgent, startDaemon } from './harness/processes.js';
import { median, table } from './harness/report.js';
import { tempDir, track } from './harness/resources.js';

const HOLDER_COUNTS = [8, 64, 256];
const SCRAPES = 40;
const GOAL_US = 20;
const ROUNDS = 7;

interface Timing {
  readonly wallUs: number;
  readonly cpuUs: number;
}

/** Median wall-clock and CPU time (user + system) of one call of each case, over interleaved rounds of `ops` calls after a warm-up. */
function timeBoth(cases: readonly (() => void)[], ops: number): Timing[] {
  for (const c of cases) for (let i = 0; i < Math.max(1, ops >> 2); i++) c();
  const wall = cases.map(() => [] as number[]);
  const cpu = cases.map(() => [] as number[]);
  for (let r = 0; r < ROUNDS; r++) {
    cases.forEach((c, k) => {
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < ops; i++) c();
      const t = Number(process.hrtime.bigint() - t0) / 1000;
      const u = process.cpuUsage(c0);
      wall[k]!.push(t / ops);
      cpu[k]!.push((u.user + u.system) / ops);
    });
  }
  return cases.map((_, k) => ({ wallUs: median(wall[k]!), cpuUs: median(cpu[k]!) }));
}

interface Setup {
  readonly label: string;
  readonly workers: number;
  readonly dir: string;
  readonly collector: Collector;
  readonly files: readonly MappedFile[];
  readonly children: readonly ChildProcess[];
}

const WRITER = pathToFileURL(join(import.meta.dirname, '..', 'dist', 'writer', 'index.js')).href;

/** A file our writer wrote (a counter and a histogram), to be copied for each holder. */
async function template(): Promise<string> {
  const dir = tempDir('worker-process-template');
  const code = [
    `import { Counter, Histogram, configure } from ${JSON.stringify(WRITER)};`,
    `configure({ dir: ${JSON.stringify(dir)}, processId: 'template' });`,
    "new Counter({ name: 'bench_requests_total', help: 'Requests.', labelNames: ['route'] }).labels('/a').inc();",
    "new Histogram({ name: 'bench_latency_seconds', help: 'Latency.' }).observe(0.1);",
  ].join('\n');
  await runProgram(process.execPath, ['--input-type=module', '-e', code]);
  return join(dir, 'counter_template.db');
}

/** Resolves once the child has written its first line (it is ready), bounded. */
function ready(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('worker not ready in 60 s')), 60_000);
    child.stdout!.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker exited with ${code} before it was ready`)));
  });
}

async function holders(n: number, source: string): Promise<Setup> {
  const dir = tempDir(`worker-process-${n}`);
  const children: ChildProcess[] = [];
  const keys: string[] = [];
  for (let i = 0; i < n; i++) {
    const file = join(dir, `counter_w${i}.db`);
    copyFileSync(source, file);
    const st = statSync(file);
    keys.push(mapsKey(st.dev, st.ino));
    children.push(track(spawn('flock', ['--no-fork', '--exclusive', file, 'sleep', '3600'], { stdio: 'ignore' })));
  }
  for (let i = 0; ; i++) {
    const held = readLockHolders()!;
    if (keys.every((k) => held.has(k))) break;
    if (i === 600) throw new Error(`the ${n} flock processes did not all lock their files in 60 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return finish(`flock holders (our writer's files)`, n, dir, children);
}

async function nodeWriters(n: number): Promise<Setup> {
  const dir = tempDir('worker-process-node');
  const code = [
    `import { Counter, Histogram, configure } from ${JSON.stringify(WRITER)};`,
    `configure({ dir: ${JSON.stringify(dir)}, processId: 'w' + process.argv[1] });`,
    "new Counter({ name: 'bench_requests_total', help: 'Requests.', labelNames: ['route'] }).labels('/a').inc();",
    "new Histogram({ name: 'bench_latency_seconds', help: 'Latency.' }).observe(0.1);",
    "process.stdout.write('ready\\n');",
    'process.stdin.resume();',
  ].join('\n');
  const children = await pool(n, 4, async (i) => {
    const child = track(spawn(process.execPath, ['--input-type=module', '-e', code, String(i)], { stdio: ['pipe', 'pipe', 'inherit'] }));
    await ready(child);
    return child;
  });
  return finish('our writer (Node.js processes)', n, dir, children);
}

async function pythonWriters(n: number): Promise<Setup> {
  const dir = tempDir('worker-process-python');
  const code = ['import sys', 'from prometheus_client import Counter, Histogram', "Counter('bench_requests', 'Requests.', ['route']).labels('/a').inc()", "Histogram('bench_latency_seconds', 'Latency.').observe(0.1)", "print('ready', flush=True)", 'sys.stdin.read()'].join('\n');
  const children = await pool(n, 4, async () => {
    const child = track(spawn(PYTHON, ['-c', code], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir } }));
    await ready(child);
    return child;
  });
  return finish('Python prometheus_client processes', n, dir, children);
}

function finish(label: string, workers: number, dir: string, children: ChildProcess[]): Setup {
  const collector = new Collector(dir);
  const files = collector.collect().files;
  // Every worker must be found, each once: else the numbers would be of a cheaper, wrong case.
  const check = createWorkerProcessMetrics('on')!;
  const families = check.families(files);
  check.close();
  const found = families.find((f) => f.name.endsWith('_threads'))?.samples.length ?? 0;
  if (found !== workers) throw new Error(`${label}: ${found} of ${workers} workers found`);
  return { label, workers, dir, collector, files, children };
}

/** Median ms of `SCRAPES` whole scrapes of a daemon over `dir`, collector on and off, interleaved. */
async function daemonScrapes(dir: string): Promise<{ on: number; off: number; series: number }> {
  const on = await startDaemon(dir, [], {}, ['--collector.worker-process', 'on']);
  const off = await startDaemon(dir, [], {}, ['--collector.worker-process', 'off']);
  const agents = [keepAliveAgent(), keepAliveAgent()];
  const ms: [number[], number[]] = [[], []];
  let series = 0;
  try {
    for (let i = 0; i < SCRAPES + 5; i++) {
      for (const [k, d] of [on, off].entries()) {
        const r = await httpGet(d.metricsUrl, agents[k]);
        if (i >= 5) ms[k]!.push(r.ms);
        if (k === 0 && i === 0) series = r.body.toString('utf8').split('\n').filter((l) => l.startsWith('multiproc_exporter_worker_process_')).length;
      }
    }
  } finally {
    for (const a of agents) a.destroy();
    await Promise.all([on.stop(), off.stop()]);
  }
  return { on: median(ms[0]), off: median(ms[1]), series };
}

export async function workerProcessScenario(): Promise<string> {
  const source = await template();
  const setups: Setup[] = [];
  for (const n of HOLDER_COUNTS) setups.push(await holders(n, source));
  setups.push(await nodeWriters(8));
  setups.push(await pythonWriters(8));
  setups.push(await pythonWriters(64));

  // Per setup: steady scrapes (pids known), first scrapes (a new collector each time), and the scan
  // itself, interleaved; about 5,000 worker reads per round whatever the number of workers.
  const results = setups.map((s) => {
    const metrics = createWorkerProcessMetrics('on')!;
    metrics.families(s.files);
    const cases: (() => void)[] = [
      () => metrics.families(s.files),
      () => {
        const fresh = createWorkerProcessMetrics('on')!;
        fresh.families(s.files);
        fresh.close();
      },
      () => s.collector.collect(),
    ];
    const [steadyOp, firstOp, scanOp] = timeBoth(cases, Math.max(10, Math.round(5_000 / s.workers)));
    metrics.close();
    const perWorker = (t: Timing): Timing => ({ wallUs: t.wallUs / s.workers, cpuUs: t.cpuUs / s.workers });
    return { s, steady: perWorker(steadyOp!), first: perWorker(firstOp!), scan: scanOp! };
  });

  const biggest = setups.find((s) => s.workers === HOLDER_COUNTS[HOLDER_COUNTS.length - 1])!;
  const daemon = await daemonScrapes(biggest.dir);
  for (const s of setups) {
    s.collector.close();
    for (const c of s.children) c.kill('SIGKILL');
  }

  const worstCpu = Math.max(...results.map((r) => r.steady.cpuUs));
  const worstWall = Math.max(...results.map((r) => r.steady.wallUs));
  const us = (t: Timing): string => `${t.cpuUs.toFixed(1)} µs (${t.wallUs.toFixed(1)} µs)`;
  return [
    `Machine load (1-minute average) at the end: ${loadavg()[0]!.toFixed(1)} on ${cpus().length} CPUs. Times are CPU time of this process (user + system), with wall-clock time in parentheses: on a shared machine the wall clock also counts the waits for a CPU.`,
    '',
    table([
      ['workers', 'live processes', 'per worker per scrape, steady', 'per worker, first scrape (finding the process)', 'scan of the directory, whole (for scale)'],
      ...results.map((r) => [r.s.label, String(r.s.workers), us(r.steady), us(r.first), `${(r.scan.cpuUs / 1000).toFixed(2)} ms (${(r.scan.wallUs / 1000).toFixed(2)} ms)`]),
    ]),
    '',
    `Steady cost per worker per scrape: at most ${worstCpu.toFixed(1)} µs of CPU time (${worstWall.toFixed(1)} µs wall-clock) here; goal ≤ ${GOAL_US} µs: ${worstCpu <= GOAL_US ? 'met' : 'NOT met'} in CPU time, ${worstWall <= GOAL_US ? 'met' : 'not met'} in wall-clock time. ` +
      `Each number is the median of ${ROUNDS} interleaved rounds of about 5,000 worker reads each, in this process (no HTTP); a scrape reads each worker once, whatever the number of scrapers in flight.`,
    '',
    `Whole scrapes of the daemon over the ${biggest.workers} flock holders (median of ${SCRAPES}, keep-alive, interleaved): ` +
      `${daemon.on.toFixed(2)} ms with \`--collector.worker-process on\` (${daemon.series} worker process series), ${daemon.off.toFixed(2)} ms with \`off\`.`,
  ].join('\n');
}
