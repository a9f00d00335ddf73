/**
 * Worker process metrics (`--collector.worker-process`): what reading /proc for every live worker
 * adds to a scrape, per worker, with 8, 64 and 256 live processes (goal: at most 20 µs per worker
 * per scrape). Steady state: pids known, one `stat` read and one fd count per worker (limits
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
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { Collector } from '../src/collector.js';
import type { MappedFile } from '../src/reader/mapped-file.js';
import { mapsKey } from '../src/reader/liveness.js';
import { readLockHolders } from '../src/reader/process-stats.js';
import { createWorkerProcessMetrics } from '../src/server/worker-process-metrics.js';
import { httpGet, keepAliveAgent, measure, median, pool, PYTHON, runProgram, startDaemon, table, tempDir, track, type Case } from './harness.js';

const HOLDER_COUNTS = [8, 64, 256];
const SCRAPES = 40;
const GOAL_US = 20;

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
  const families = createWorkerProcessMetrics('on')!.families(files);
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
  // itself, interleaved; about 20,000 worker reads per round whatever the number of workers.
  const results = setups.map((s) => {
    const metrics = createWorkerProcessMetrics('on')!;
    metrics.families(s.files);
    const cases: Case[] = [
      {
        name: 'steady',
        run: (n) => {
          for (let i = 0; i < n; i++) metrics.families(s.files);
        },
      },
      {
        name: 'first',
        run: (n) => {
          for (let i = 0; i < n; i++) createWorkerProcessMetrics('on')!.families(s.files);
        },
      },
      {
        name: 'scan',
        run: (n) => {
          for (let i = 0; i < n; i++) s.collector.collect();
        },
      },
    ];
    const [st, fi, sc] = measure(cases, Math.max(20, Math.round(20_000 / s.workers)), 7).map((m) => m.nsPerOp);
    return { s, steadyUs: st! / s.workers / 1000, firstUs: fi! / s.workers / 1000, scanUs: sc! / 1000 };
  });

  const biggest = setups.find((s) => s.workers === HOLDER_COUNTS[HOLDER_COUNTS.length - 1])!;
  const daemon = await daemonScrapes(biggest.dir);
  for (const s of setups) {
    s.collector.close();
    for (const c of s.children) c.kill('SIGKILL');
  }

  const worst = Math.max(...results.map((r) => r.steadyUs));
  return [
    table([
      ['workers', 'live processes', 'per worker per scrape, steady', 'per worker, first scrape (finding the process)', 'scan of the directory (for scale)'],
      ...results.map((r) => [r.s.label, String(r.s.workers), `${r.steadyUs.toFixed(1)} µs`, `${r.firstUs.toFixed(1)} µs`, `${(r.scanUs / 1000).toFixed(2)} ms`]),
    ]),
    '',
    `Steady cost per worker per scrape: at most ${worst.toFixed(1)} µs here (goal ≤ ${GOAL_US} µs: ${worst <= GOAL_US ? 'met' : 'NOT met'}). ` +
      'Each number is the median of 7 rounds of about 20,000 worker reads each, in this process (no HTTP); a scrape reads each worker once, whatever the number of scrapers in flight.',
    '',
    `Whole scrapes of the daemon over the ${biggest.workers} flock holders (median of ${SCRAPES}, keep-alive, interleaved): ` +
      `${daemon.on.toFixed(2)} ms with \`--collector.worker-process on\` (${daemon.series} worker process series), ${daemon.off.toFixed(2)} ms with \`off\`.`,
  ].join('\n');
}
