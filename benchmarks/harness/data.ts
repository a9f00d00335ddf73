/**
 * Large directories, written by the real libraries in real processes (drivers/), and the
 * exposition their write pattern must produce.
 */
import { copyFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Dialect } from '../../src/format/dialect.js';
import { DRIVERS, pool, PYTHON, RUBY, runProgram } from './drivers.js';
import { onCleanup, tempDir } from './resources.js';

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
onCleanup(() => directories.clear()); // the directories themselves are temp dirs, removed by cleanup()

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
