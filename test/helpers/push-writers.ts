/**
 * Live writer processes for the push tests: two workers each of Python's prometheus_client, the
 * Ruby gem and our writer (test/system/writers/), writing into one directory and staying alive
 * (holding their files) until stopped; `next()` makes each write one more round. `expected()` is
 * what the merge of the rounds written so far must give, series by series.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { peers } from './peers.js';

const WRITERS = import.meta.dirname;
export const WORKERS = 2;

export type Dialect = 'py' | 'rb' | 'node';

interface Worker {
  readonly dialect: Dialect;
  readonly index: number;
  readonly child: ChildProcessWithoutNullStreams;
  /** The `pid` label of its `all` gauge. */
  readonly pidLabel: string;
  round: number;
  waiters: (() => void)[];
}

/** A series as `name{a=x,b=y}` with labels sorted and `le` by number ("1.0" and "1" alike). */
export function seriesKey(name: string, labels: Iterable<readonly [string, string]>): string {
  const pairs = [...labels].map(([k, v]): [string, string] => [k, k === 'le' ? (v === '+Inf' ? '+Inf' : String(Number(v))) : v]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return `${name}{${pairs.map(([k, v]) => `${k}=${v}`).join(',')}}`;
}

export interface LiveWriters {
  readonly dialects: readonly Dialect[];
  /** Rounds every worker has written. */
  readonly round: number;
  /** Every worker writes one more round (resolves once all have). */
  next(): Promise<void>;
  /** series key → value for the rounds written, with `constLabels` added to every series. */
  expected(constLabels?: readonly (readonly [string, string])[]): Map<string, number>;
  stop(): Promise<void>;
}

function spawnWorker(dialect: Dialect, index: number, dir: string): Worker {
  const env = { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir, prometheus_multiproc_dir: dir };
  const child =
    dialect === 'py'
      ? spawn('/usr/bin/python3', [join(WRITERS, 'push_writer.py'), String(index)], { env })
      : dialect === 'rb'
        ? spawn('/usr/bin/ruby', [join(WRITERS, 'push_writer.rb'), String(index)], { env })
        : spawn(process.execPath, [join(WRITERS, 'push_writer.mjs'), String(index)], { env });
  const w: Worker = { dialect, index, child, pidLabel: dialect === 'py' ? String(child.pid) : dialect === 'rb' ? `rb_${index}` : `node-${index}`, round: 0, waiters: [] };
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => (stderr = (stderr + c).slice(-4000)));
  child.once('exit', (code) => {
    if (code !== 0 && code !== null) process.stderr.write(`push writer ${dialect} ${index} exited ${code}: ${stderr}\n`);
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    const m = /^round (\d+)$/.exec(line);
    if (m === null) return;
    w.round = Number(m[1]);
    for (const f of w.waiters.splice(0)) f();
  });
  return w;
}

function waitRound(w: Worker, round: number, limitMs: number): Promise<void> {
  if (w.round >= round) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${w.dialect} writer ${w.index} did not write round ${round} within ${limitMs} ms`)), limitMs);
    const check = (): void => {
      if (w.round >= round) {
        clearTimeout(timer);
        resolve();
      } else w.waiters.push(check);
    };
    w.waiters.push(check);
  });
}

/** The dialects whose peer is installed (node always). */
export function availableDialects(): Dialect[] {
  const { python, ruby } = peers();
  return [...(python.available ? (['py'] as const) : []), ...(ruby.available ? (['rb'] as const) : []), 'node'];
}

export async function startWriters(dir: string, dialects: readonly Dialect[] = availableDialects()): Promise<LiveWriters> {
  const workers: Worker[] = [];
  for (const d of dialects) for (let i = 0; i < WORKERS; i++) workers.push(spawnWorker(d, i, dir));
  await Promise.all(workers.map((w) => waitRound(w, 1, 20_000)));
  let round = 1;
  return {
    dialects,
    get round() {
      return round;
    },
    async next() {
      round++;
      for (const w of workers) w.child.stdin.write('next\n');
      await Promise.all(workers.map((w) => waitRound(w, round, 20_000)));
    },
    expected(constLabels = []) {
      const out = new Map<string, number>();
      const r = round;
      const put = (name: string, labels: [string, string][], value: number): void => void out.set(seriesKey(name, [...labels, ...constLabels]), value);
      for (const d of dialects) {
        const idx = [...Array(WORKERS).keys()];
        const sum = (f: (i: number) => number): number => idx.reduce((a, i) => a + f(i), 0);
        put(`${d}_jobs_total`, [['queue', 'a']], r * sum((i) => 1 + i));
        put(`${d}_jobs_total`, [['queue', 'b']], r * 0.5 * WORKERS);
        put(`${d}_inflight`, [['queue', 'a']], sum((i) => 10 * (i + 1) + r));
        put(`${d}_peak`, [], 100 * WORKERS * r);
        for (const w of workers.filter((x) => x.dialect === d)) put(`${d}_started`, [['pid', w.pidLabel]], 1000 + w.index);
        const observations = idx.flatMap((i) => [0.0625, 0.5 * (i + 1)]);
        const below = (b: number): number => r * observations.filter((v) => v <= b).length;
        put(`${d}_latency_seconds_bucket`, [['route', '/x'], ['le', '0.125']], below(0.125));
        put(`${d}_latency_seconds_bucket`, [['route', '/x'], ['le', '1']], below(1));
        put(`${d}_latency_seconds_bucket`, [['route', '/x'], ['le', '+Inf']], below(Infinity));
        put(`${d}_latency_seconds_count`, [['route', '/x']], below(Infinity));
        put(`${d}_latency_seconds_sum`, [['route', '/x']], r * observations.reduce((a, v) => a + v, 0));
      }
      return out;
    },
    async stop() {
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((resolve) => {
              if (w.child.exitCode !== null || w.child.signalCode !== null) return resolve();
              const killer = setTimeout(() => w.child.kill('SIGKILL'), 5_000);
              w.child.once('exit', () => {
                clearTimeout(killer);
                resolve();
              });
              w.child.stdin.end();
            }),
        ),
      );
    },
  };
}
