/**
 * `--collector.worker-process` through the real daemon binary: three writer processes of ours and
 * one Python prometheus_client process, each started under prlimit, get exactly one series of
 * every multiproc_exporter_worker_process_* metric with their pid and worker id, with the values
 * /proc gives; a killed worker's series vanish; `off` has none; a bad value stops the start.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { runToExit, startDaemon, type Daemon } from '../helpers/daemon.js';
import { parseExposition, type ParsedSample } from '../helpers/parse-exposition.js';
import { peerAvailableUnderCi, peers } from '../helpers/peers.js';
import { holdProcess, WRITER_WORKER, writerEnv, type HeldWriter } from '../helpers/writer-process.js';

const PREFIX = 'multiproc_exporter_worker_process_';
const METRICS = ['cpu_seconds_total', 'max_fds', 'open_fds', 'resident_memory_bytes', 'start_time_seconds', 'threads', 'virtual_memory_bytes'].map((n) => PREFIX + n);
const OUR_NOFILE = 1234;
const PYTHON_NOFILE = 777;

const tmp = mkdtempSync(join(tmpdir(), 'mpe-worker-process-daemon-'));
const daemons: Daemon[] = [];
const workers: HeldWriter[] = [];
afterAll(async () => {
  for (const w of workers) w.kill();
  await Promise.all(daemons.map((d) => d.stop()));
  rmSync(tmp, { recursive: true, force: true });
});

const { python } = peers();
peerAvailableUnderCi(python);

async function daemon(args: string[]): Promise<Daemon> {
  const d = await startDaemon(args);
  daemons.push(d);
  return d;
}

async function workerSamples(d: Daemon): Promise<ParsedSample[]> {
  const text = await (await request(`${d.url}/metrics`)).body.text();
  return parseExposition(text).samples.filter((s) => s.name.startsWith(PREFIX));
}

/** `/proc/<pid>/stat` fields by their number in proc(5), and the boot time: read here, independently of src/. */
function stat(pid: number): { field: (n: number) => number; btime: number } {
  const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const btime = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'latin1'))![1]);
  return { field: (n) => Number(rest[n - 3]), btime };
}

const threads = (pid: number): number => Number(/^Threads:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))![1]);
const softNofile = (pid: number): number => Number(spawnSync('prlimit', [`--pid=${pid}`, '--nofile', '--output=SOFT', '--noheadings'], { encoding: 'utf8' }).stdout.trim());
const PAGE_SIZE = Number(spawnSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).stdout.trim());
const fds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;
const value = (samples: ParsedSample[], name: string, pid: number): number | undefined => samples.find((s) => s.name === name && s.labels[0]![1] === String(pid))?.value;

/**
 * Scrape until what /proc says of each pid (threads, open fds) is the same just before and just
 * after the scrape, so the scrape saw those values (bounded).
 */
async function steadyScrape(d: Daemon, pids: number[]): Promise<ParsedSample[]> {
  for (let i = 0; ; i++) {
    const before = pids.map((p) => [threads(p), fds(p)].join());
    const samples = await workerSamples(d);
    const after = pids.map((p) => [threads(p), fds(p)].join());
    if (before.join() === after.join() || i === 20) return samples;
  }
}

describe('--collector.worker-process', () => {
  it.skipIf(!python.available)('gives each live worker one series per metric with its pid and worker id, with the values /proc gives; a killed one vanishes', async () => {
    const dir = mkdtempSync(join(tmp, 'live-'));
    const ours = [1, 2, 3].map((i) =>
      holdProcess('prlimit', [`--nofile=${OUR_NOFILE}:${OUR_NOFILE}`, '--', process.execPath, WRITER_WORKER, 'hold', String(i)], writerEnv(dir, 'python', `w${i}`)),
    );
    const code = ['import sys', 'from prometheus_client import Counter', "Counter('py_jobs', 'Jobs.').inc(3)", "print('ready', flush=True)", 'sys.stdin.read()'].join('\n');
    const py = holdProcess('prlimit', [`--nofile=${PYTHON_NOFILE}:${PYTHON_NOFILE}`, '--', python.command, '-c', code], { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir });
    workers.push(...ours, py);
    await Promise.all([...ours, py].map((w) => w.ready));
    const d = await daemon(['--dir', dir]);

    const all = [...ours, py];
    const pids = all.map((w) => w.pid);
    const worker = new Map<number, string>([...ours.map((w, i) => [w.pid, `w${i + 1}`] as const), [py.pid, String(py.pid)]]);
    const cpuBefore = new Map(pids.map((p) => [p, (stat(p).field(14) + stat(p).field(15)) / 100]));
    const samples = await steadyScrape(d, pids);
    const cpuAfter = new Map(pids.map((p) => [p, (stat(p).field(14) + stat(p).field(15)) / 100]));

    // Exactly one series of each metric per live worker, labelled {pid, worker}.
    for (const name of METRICS) {
      const series = samples.filter((s) => s.name === name).map((s) => s.labels);
      expect([name, series]).toEqual([name, [...pids].sort((a, b) => a - b).map((p) => [['pid', String(p)], ['worker', worker.get(p)!]])]);
    }
    for (const w of all) {
      const p = w.pid;
      const st = stat(p);
      expect(value(samples, `${PREFIX}max_fds`, p)).toBe(w === py ? PYTHON_NOFILE : OUR_NOFILE);
      expect(value(samples, `${PREFIX}max_fds`, p)).toBe(softNofile(p));
      expect(value(samples, `${PREFIX}threads`, p)).toBe(threads(p));
      expect(value(samples, `${PREFIX}open_fds`, p)).toBe(fds(p));
      expect(value(samples, `${PREFIX}start_time_seconds`, p)).toBe(st.btime + st.field(22) / 100);
      expect(value(samples, `${PREFIX}virtual_memory_bytes`, p)).toBeGreaterThan(0);
      const cpu = value(samples, `${PREFIX}cpu_seconds_total`, p)!;
      expect(cpu).toBeGreaterThanOrEqual(cpuBefore.get(p)!);
      expect(cpu).toBeLessThanOrEqual(cpuAfter.get(p)!);
      const rss = value(samples, `${PREFIX}resident_memory_bytes`, p)!;
      expect(rss % PAGE_SIZE).toBe(0);
      expect(rss).toBeGreaterThan(1 << 20);
      expect(rss).toBeLessThan(value(samples, `${PREFIX}virtual_memory_bytes`, p)!);
    }
    expect(value(samples, `${PREFIX}threads`, py.pid)).toBe(1);

    // A killed worker's series go with it; the others stay.
    const killed = ours[1]!;
    killed.kill();
    await killed.exited;
    let after = await workerSamples(d);
    for (let i = 0; i < 50 && after.some((s) => s.labels[0]![1] === String(killed.pid)); i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await workerSamples(d);
    }
    const remaining = [...new Set(after.map((s) => s.labels[0]![1]))].sort();
    expect(remaining).toEqual(pids.filter((p) => p !== killed.pid).map(String).sort());
    expect(after.filter((s) => s.name === `${PREFIX}max_fds`).length).toBe(3);

    // Off: none, with the same workers alive.
    const off = await daemon(['--dir', dir, '--collector.worker-process', 'off']);
    expect(await workerSamples(off)).toEqual([]);
    expect(off.logs.find((l) => l['msg'] === 'multiproc-exporter started')?.['workerProcess']).toBe('off');
  });

  it('stops the start on a bad value, naming it (exit 2)', async () => {
    const r = await runToExit(['serve', '--dir', tmp, '--collector.worker-process', 'sometimes']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--collector.worker-process "sometimes": must be one of auto, on, off');
  });
});
