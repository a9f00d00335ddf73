/**
 * Per-worker process metrics (src/server/worker-process-metrics.ts) over a real Collector and real
 * writer processes: which process a file belongs to (lock holder, mapper of a pid-named file),
 * one series per pid, a reused pid left out, a bystander named by a custom id left out, one read
 * per scan for concurrent scrapes, and names that never collide with an application's process_*.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { Collector } from '../../src/collector.js';
import type { MetricFamily } from '../../src/merge/model.js';
import { ScrapeService } from '../../src/server/scrape.js';
import { SelfMetrics } from '../../src/server/self-metrics.js';
import { ProcessFiles } from '../../src/reader/process-stats.js';
import { createWorkerProcessMetrics, UNSCRAPED_MAX_AGE_MS, WORKER_PROCESS_PREFIX, type WorkerProcessMetrics } from '../../src/server/worker-process-metrics.js';
import { parseExposition } from '../helpers/parse-exposition.js';
import { peerAvailableUnderCi, peers } from '../helpers/peers.js';
import { holdProcess, holdWriter, type HeldWriter } from '../helpers/writer-process.js';

const tmp = mkdtempSync(join(tmpdir(), 'mpe-worker-process-'));
const held: HeldWriter[] = [];
const others: ChildProcess[] = [];
const collectors: Collector[] = [];
const opened: WorkerProcessMetrics[] = [];
afterEach(async () => {
  for (const m of opened.splice(0)) m.close();
  for (const w of held.splice(0)) {
    w.kill();
    await w.exited;
  }
  for (const c of others.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const c of collectors.splice(0)) c.close();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const { python, ruby, promtool } = peers();
peerAvailableUnderCi(python);
peerAvailableUnderCi(ruby);
peerAvailableUnderCi(promtool);

function hold(w: HeldWriter): HeldWriter {
  held.push(w);
  return w;
}

function pythonWorker(dir: string, code: string[] = []): HeldWriter {
  const script = ['import sys', ...code, 'from prometheus_client import Counter, Gauge', "Counter('py_jobs', 'Jobs.').inc(3)", "Gauge('py_in_flight', 'In flight.', multiprocess_mode='livesum').set(2)", "print('ready', flush=True)", 'sys.stdin.read()'];
  return hold(holdProcess(python.command, ['-c', script.join('\n')], { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir }));
}

function setup(dir: string): { collector: Collector; metrics: WorkerProcessMetrics } {
  const collector = new Collector(dir);
  collectors.push(collector);
  const metrics = createWorkerProcessMetrics('on')!;
  opened.push(metrics);
  return { collector, metrics };
}

/** family name → `pid worker` → value, for one scan. */
function scan(collector: Collector, metrics: WorkerProcessMetrics): Map<string, Map<string, number>> {
  return byFamily(metrics.families(collector.collect().files));
}

function byFamily(families: readonly MetricFamily[]): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const f of families) {
    const series = new Map<string, number>();
    for (const s of f.samples) {
      expect(s.labels.map((l) => l[0])).toEqual(['pid', 'worker']);
      const key = `${s.labels[0]![1]} ${s.labels[1]![1]}`;
      expect(series.has(key)).toBe(false);
      series.set(key, s.value);
    }
    out.set(f.name, series);
  }
  return out;
}

const THREADS = `${WORKER_PROCESS_PREFIX}threads`;
const MAX_FDS = `${WORKER_PROCESS_PREFIX}max_fds`;
const START = `${WORKER_PROCESS_PREFIX}start_time_seconds`;

function startSeconds(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const ticks = Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[19]);
  const btime = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'latin1'))![1]);
  return btime + ticks / 100;
}

describe('which process a file belongs to', () => {
  it('our writer by its lock, the Ruby gem by its lock under a custom id, Python by the pid in the name that maps it', async () => {
    const dir = mkdtempSync(join(tmp, 'mixed-'));
    const ours = hold(holdWriter(dir, 'python', 'w1', 'hold', [0]));
    const py = python.available ? pythonWorker(dir) : null;
    const rb = ruby.available
      ? hold(
          holdProcess(
            ruby.command,
            ['-e', ["require 'prometheus/client'", "Prometheus::Client.configuration.pid_provider = -> { 'puma_3' }", "Prometheus::Client.registry.counter(:rb_jobs_total, 'Jobs.').increment({}, 3)", "puts 'ready'", 'STDOUT.flush', 'STDIN.read'].join('\n')],
            { ...process.env, prometheus_multiproc_dir: dir },
          ),
        )
      : null;
    await Promise.all([ours.ready, py?.ready, rb?.ready]);
    const { collector, metrics } = setup(dir);
    const families = scan(collector, metrics);
    const expected = new Map<string, number>([[`${ours.pid} w1`, 1]]);
    if (py !== null) expected.set(`${py.pid} ${py.pid}`, 1);
    if (rb !== null) expected.set(`${rb.pid} puma_3`, 1);
    expect([...families.keys()]).toEqual(
      ['cpu_seconds', 'max_fds', 'open_fds', 'resident_memory_bytes', 'start_time_seconds', 'threads', 'virtual_memory_bytes'].map((n) => WORKER_PROCESS_PREFIX + n),
    );
    for (const [name, series] of families) expect([name, [...series.keys()].sort()]).toEqual([name, [...expected.keys()].sort()]);
    for (const w of [ours, py, rb]) {
      if (w === null) continue;
      const id = w === ours ? 'w1' : w === rb ? 'puma_3' : String(w.pid);
      expect(families.get(START)!.get(`${w.pid} ${id}`)).toBe(startSeconds(w.pid));
    }
    if (py !== null) expect(families.get(THREADS)!.get(`${py.pid} ${py.pid}`)).toBe(1);
    expect(metrics.pids).toEqual([...expected.keys()].map((k) => Number(k.split(' ')[0])).sort((a, b) => a - b));
  });

  it.skipIf(!python.available)('leaves out a Python file named by a custom id whose process does not map it (a bystander pid)', async () => {
    const dir = mkdtempSync(join(tmp, 'bystander-'));
    const bystander = spawn('sleep', ['30'], { stdio: 'ignore' });
    others.push(bystander);
    const id = String(bystander.pid);
    const py = pythonWorker(dir, ['from prometheus_client import values', `values.ValueClass = values.MultiProcessValue(process_identifier=lambda: '${id}')`]);
    await py.ready;
    const { collector, metrics } = setup(dir);
    const files = collector.collect().files;
    expect(files.map((f) => [f.fileName, f.writerState])).toEqual([
      [`counter_${id}.db`, 'live'],
      [`gauge_livesum_${id}.db`, 'live'],
    ]);
    expect(metrics.families(files)).toEqual([]);
  });

  it.skipIf(!python.available)('leaves out a reused pid: a new process under a dead worker’s pid, started after the worker was found', async () => {
    const dir = mkdtempSync(join(tmp, 'reused-'));
    const py = pythonWorker(dir);
    await py.ready;
    const { collector, metrics } = setup(dir);
    expect([...scan(collector, metrics).get(THREADS)!.keys()]).toEqual([`${py.pid} ${py.pid}`]);
    py.kill();
    await py.exited;
    // Hand the dead worker's pid to a new process (root only: the next pid the kernel gives is ns_last_pid + 1).
    let reuser: ChildProcess | null = null;
    for (let attempt = 0; attempt < 10 && reuser === null; attempt++) {
      writeFileSync('/proc/sys/kernel/ns_last_pid', String(py.pid - 1));
      const c = spawn('sleep', ['30'], { stdio: 'ignore' });
      others.push(c);
      if (c.pid === py.pid) reuser = c;
      else c.kill('SIGKILL');
    }
    expect(reuser?.pid).toBe(py.pid);
    // The file is still served (the liveness probe trusts an existing mapper pid for a while)…
    const files = collector.collect().files;
    expect(files.map((f) => f.fileName)).toContain(`counter_${py.pid}.db`);
    // …but the pid's start time is later than when it was found writing: left out, now and after a new look.
    expect(metrics.families(files)).toEqual([]);
    expect(metrics.families(collector.collect().files)).toEqual([]);
  });

  it('one series per pid; a killed worker’s series are gone at the next scan', async () => {
    const dir = mkdtempSync(join(tmp, 'killed-'));
    const a = hold(holdWriter(dir, 'python', 'a', 'lifecycle', [0]));
    const b = hold(holdWriter(dir, 'python', 'b', 'lifecycle', [1]));
    await Promise.all([a.ready, b.ready]);
    const { collector, metrics } = setup(dir);
    expect(collector.collect().files.length).toBe(12); // six files each, one series each
    expect([...scan(collector, metrics).get(MAX_FDS)!.keys()].sort()).toEqual([`${a.pid} a`, `${b.pid} b`].sort());
    a.kill();
    await a.exited;
    expect([...scan(collector, metrics).get(MAX_FDS)!.keys()]).toEqual([`${b.pid} b`]);
    expect(metrics.pids).toEqual([b.pid]);
  });
});

describe('in a scrape', () => {
  it('is read once for scrapes that arrive together', async () => {
    const dir = mkdtempSync(join(tmp, 'single-flight-'));
    const w = hold(holdWriter(dir, 'python', 'w1', 'hold', [0]));
    await w.ready;
    const collector = new Collector(dir);
    collectors.push(collector);
    const metrics = createWorkerProcessMetrics('auto')!;
    opened.push(metrics);
    const families = vi.spyOn(metrics, 'families');
    const scrape = new ScrapeService(collector, new SelfMetrics({ version: 'test', native: 'compiled' }), pino({ level: 'silent' }), () => {}, metrics);
    const bodies = await Promise.all([scrape.scrape('text', false), scrape.scrape('text', true), scrape.scrape('openmetrics', false), scrape.scan()]);
    expect(families).toHaveBeenCalledTimes(1);
    expect(bodies[0].body.toString()).toContain(`${WORKER_PROCESS_PREFIX}threads{pid="${w.pid}",worker="w1"} `);
  });

  it('reads each process once per scrape; a scan that answers no scrape reuses values younger than 1 s', async () => {
    const dir = mkdtempSync(join(tmp, 'max-age-'));
    const a = hold(holdWriter(dir, 'python', 'a', 'hold', [0]));
    const b = hold(holdWriter(dir, 'python', 'b', 'hold', [1]));
    await Promise.all([a.ready, b.ready]);
    const { collector, metrics } = setup(dir);
    const files = collector.collect().files;
    const stat = vi.spyOn(ProcessFiles.prototype, 'stat');
    try {
      const first = byFamily(metrics.families(files, UNSCRAPED_MAX_AGE_MS));
      expect(stat).toHaveBeenCalledTimes(2);
      expect(byFamily(metrics.families(files, UNSCRAPED_MAX_AGE_MS))).toEqual(first);
      expect(stat).toHaveBeenCalledTimes(2);
      metrics.families(files); // a scrape
      expect(stat).toHaveBeenCalledTimes(4);
    } finally {
      stat.mockRestore();
    }
  });

  it('never collides with an application’s own process_* families in the files: both served, each family once', async () => {
    const dir = mkdtempSync(join(tmp, 'app-process-'));
    const writer = pathToFileURL(join(import.meta.dirname, '..', '..', 'dist', 'writer', 'index.js')).href;
    const code = [
      `import { Counter, Gauge, configure } from ${JSON.stringify(writer)};`,
      "configure({ processId: 'app1' });",
      "new Counter({ name: 'process_cpu_seconds_total', help: 'App-reported CPU.' }).inc(2.5);",
      "new Gauge({ name: 'process_open_fds', help: 'App-reported fds.', multiprocessMode: 'livesum' }).set(9);",
      // An application claiming the daemon's own name: left out by the exposition gate, ours served.
      "new Gauge({ name: 'multiproc_exporter_worker_process_threads', help: 'Impostor.', multiprocessMode: 'livesum' }).set(-1);",
      "process.stdout.write('ready\\n');",
      'process.stdin.resume();',
    ].join('\n');
    const w = hold(holdProcess(process.execPath, ['--input-type=module', '-e', code], { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir }));
    await w.ready;
    const collector = new Collector(dir);
    collectors.push(collector);
    const metrics = createWorkerProcessMetrics('on')!;
    opened.push(metrics);
    const scrape = new ScrapeService(collector, new SelfMetrics({ version: 'test', native: 'compiled' }), pino({ level: 'silent' }), () => {}, metrics);
    const text = (await scrape.scrape('text', false)).body.toString();
    const parsed = parseExposition(text);
    expect(parsed.samples.filter((s) => s.name === 'process_cpu_seconds_total' || s.name === 'process_open_fds').map((s) => [s.name, s.labels, s.value])).toEqual([
      ['process_cpu_seconds_total', [], 2.5],
      ['process_open_fds', [], 9],
    ]);
    expect(parsed.samples.filter((s) => s.name === `${WORKER_PROCESS_PREFIX}open_fds`).map((s) => s.labels)).toEqual([
      [
        ['pid', String(w.pid)],
        ['worker', 'app1'],
      ],
    ]);
    expect(parsed.samples.filter((s) => s.name === `${WORKER_PROCESS_PREFIX}threads`).map((s) => [s.labels, s.value > 0])).toEqual([
      [
        [
          ['pid', String(w.pid)],
          ['worker', 'app1'],
        ],
        true,
      ],
    ]);
    expect(parsed.samples.find((s) => s.name === 'multiproc_exporter_exposition_rejected')).toEqual({ name: 'multiproc_exporter_exposition_rejected', labels: [['reason', 'reserved_metric_name']], value: 1 });
    expect(parsed.help.get(`${WORKER_PROCESS_PREFIX}threads`)).toBe('Number of OS threads in the process. Of each live worker process (worker: the process id in its files).');
    const typeLines = text.split('\n').filter((l) => l.startsWith('# TYPE '));
    expect(new Set(typeLines).size).toBe(typeLines.length);
    if (promtool.available) {
      const r = spawnSync(promtool.command, ['check', 'metrics'], { input: text, encoding: 'utf8' });
      // promtool lints (exit 3) but must not find the exposition invalid (exit 1).
      expect(r.stdout + r.stderr).not.toMatch(/error while linting|parsing error/);
      expect([0, 3]).toContain(r.status);
    }
  });
});
