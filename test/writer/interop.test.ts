/**
 * Files written by several real writer processes are read by the libraries' own readers —
 * Debian's Python `MultiProcessCollector` (layout `python-legacy`) and Ruby's
 * `marshal_multiprocess` (layout `ruby`) — and by our collector (every layout), and all of them
 * give exactly the values the writers wrote. Also: many processes at once, file growth, a
 * restarted worker continuing its files, and a second live process with the same id.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Collector } from '../../src/collector.js';
import { renderText } from '../../src/exposition/index.js';
import { parseExposition, parseValue, type ParsedSample } from '../helpers/parse-exposition.js';
import { peerAvailableUnderCi, peers } from '../helpers/peers.js';
import { holdWriter, runWriter, startWriter, type Layout } from '../helpers/writer-process.js';

const tmp = mkdtempSync(join(tmpdir(), 'mpe-writer-interop-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const { python, ruby } = peers();

const READ_PYTHON = `
import sys
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
registry = CollectorRegistry()
MultiProcessCollector(registry, path=sys.argv[1])
sys.stdout.write(generate_latest(registry).decode())
`;
const READ_RUBY = `
require 'prometheus/client'
require 'prometheus/client/formats/text'
print Prometheus::Client::Formats::Text.marshal_multiprocess(ARGV[0])
`;

function readWithPython(dir: string): string {
  const r = spawnSync(python.command, ['-c', READ_PYTHON, dir], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`python reader failed: ${r.stderr}`);
  return r.stdout;
}

function readWithRuby(dir: string): string {
  const r = spawnSync(ruby.command, ['-e', READ_RUBY, dir], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`ruby reader failed: ${r.stderr}`);
  return r.stdout;
}

/** With the libraries' semantics (the writers have exited: liveness would drop their live* gauges). */
function readWithOurs(dir: string): string {
  const collector = new Collector(dir, { liveness: 'off' });
  const { families, skipped } = collector.collect();
  collector.close();
  expect(skipped).toEqual([]);
  return renderText(families);
}

/** `name{a="x",…} value` per sample, sorted; `le` by number (Python prints 1.0, Ruby 1). */
function sampleSet(exposition: string): string[] {
  return parseExposition(exposition)
    .samples.map((s: ParsedSample) => {
      const labels = s.labels.map(([k, v]) => `${k}="${k === 'le' ? String(parseValue(v)) : v}"`).join(',');
      return `${s.name}{${labels}} ${s.value}`;
    })
    .sort();
}

/** What the `interop` scenario's workers 0…n-1 (process ids `ids`) add up to. */
function interopExpected(ids: readonly string[]): string[] {
  const idx = ids.map((_, i) => i);
  const sum = (f: (i: number) => number): number => idx.reduce((a, i) => a + f(i), 0);
  const observations = idx.flatMap((i) => [0.125, 0.5, 2, 8].slice(0, i + 1));
  const below = (b: number): number => observations.filter((v) => v <= b).length;
  return [
    `http_requests_total{code="200",method="GET"} ${sum((i) => i + 2)}`,
    `http_requests_total{code="500",method="POST"} ${sum((i) => 0.5 * (i + 1))}`,
    `jobs_total{} ${sum((i) => 2 ** i)}`,
    `in_flight{} ${sum((i) => i + 1)}`,
    `rss_max_bytes{} ${1024 * ids.length}`,
    `rss_min_bytes{} 1024`,
    ...ids.map((id, i) => `started_seconds{pid="${id}"} ${1000 + i}`),
    ...[0.25, 1, 4, Infinity].map((b) => `latency_seconds_bucket{le="${b}",route="/api"} ${below(b)}`),
    `latency_seconds_count{route="/api"} ${observations.length}`,
    `latency_seconds_sum{route="/api"} ${observations.reduce((a, v) => a + v, 0)}`,
    `payload_bytes_count{} ${ids.length}`,
    `payload_bytes_sum{} ${sum((i) => 256 * (i + 1))}`,
  ].sort();
}

function writeInterop(layout: Layout, ids: readonly string[]): string {
  const dir = mkdtempSync(join(tmp, `${layout}-`));
  ids.forEach((id, i) => runWriter(dir, layout, id, 'interop', [i]));
  return dir;
}

describe('the libraries’ own readers accept the writer’s files', () => {
  peerAvailableUnderCi(python);
  peerAvailableUnderCi(ruby);

  it.skipIf(!python.available)("python-legacy files from 3 processes: Python's MultiProcessCollector gives the exact values", () => {
    const ids = ['w0', 'w1', 'w2'];
    const dir = writeInterop('python-legacy', ids);
    expect(sampleSet(readWithPython(dir))).toEqual(interopExpected(ids));
  });

  it.skipIf(!ruby.available)("ruby files from 3 processes: the gem's marshal_multiprocess gives the exact values", () => {
    const ids = ['puma_0', 'puma_1', 'sidekiq_0'];
    const dir = writeInterop('ruby', ids);
    expect(sampleSet(readWithRuby(dir))).toEqual(interopExpected(ids));
  });
});

describe('our collector reads every layout the same', () => {
  for (const [layout, ids] of [
    ['python', ['w0', 'w1', 'w2']],
    ['python-legacy', ['w0', 'w1', 'w2']],
    ['ruby', ['puma_0', 'puma_1', 'sidekiq_0']],
  ] as const) {
    it(`${layout}: the exact values of 3 writer processes`, () => {
      expect(sampleSet(readWithOurs(writeInterop(layout, ids)))).toEqual(interopExpected(ids));
    });
  }
});

describe('many writers, growth, restarts', () => {
  it('4 concurrent processes × 100k increments on shared series: exact totals (ours and Python’s reader)', async () => {
    const dir = mkdtempSync(join(tmp, 'concurrent-'));
    const n = 100_000;
    // Two with their own pid, two sharing one stable id.
    const codes = await Promise.all([
      startWriter(dir, 'python-legacy', undefined, 'inc-loop', [0, n]),
      startWriter(dir, 'python-legacy', undefined, 'inc-loop', [1, n]),
      startWriter(dir, 'python-legacy', 'shared', 'inc-loop', [2, n]),
      startWriter(dir, 'python-legacy', 'shared', 'inc-loop', [3, n]),
    ]);
    expect(codes).toEqual([0, 0, 0, 0]);
    // The two 'shared' ones get counter_shared.db and, if they overlap, counter_shared-1.db;
    // if one ends before the other starts, the second continues the first's file. Same totals.
    expect(readdirSync(dir).filter((f) => f.startsWith('counter_shared'))).toContain('counter_shared.db');
    const observations = Array.from({ length: n / 10 }, (_, j) => ((j * 10) % 30) / 20);
    const expected = [
      `loop_requests_total{route="/a"} ${4 * n}`,
      `loop_requests_total{route="/b"} ${4 * (n / 2)}`,
      `loop_requests_total{route="/c"} ${4 * (n / 2)}`,
      `loop_plain_total{} ${4 * n * 0.5}`,
      `loop_latency_seconds_bucket{le="0.5"} ${4 * observations.filter((v) => v <= 0.5).length}`,
      `loop_latency_seconds_bucket{le="1"} ${4 * observations.filter((v) => v <= 1).length}`,
      `loop_latency_seconds_bucket{le="Infinity"} ${4 * observations.length}`,
      `loop_latency_seconds_count{} ${4 * observations.length}`,
      `loop_latency_seconds_sum{} ${4 * observations.reduce((a, v) => a + v, 0)}`,
    ].sort();
    expect(sampleSet(readWithOurs(dir))).toEqual(expected);
    if (python.available) expect(sampleSet(readWithPython(dir))).toEqual(expected);
  });

  it('a file that doubles five times keeps every value written before each remap', () => {
    const dir = mkdtempSync(join(tmp, 'growth-'));
    const k = 20_000;
    runWriter(dir, 'python', 'g1', 'growth', [0, k]);
    const size = statSync(join(dir, 'counter_g1.db')).size;
    expect(size).toBe(65536 * 2 ** 5); // 20,000 entries of ~80 bytes: 64 KiB doubled five times
    const values = new Map(parseExposition(readWithOurs(dir)).samples.map((s) => [s.labels[0]![1], s.value]));
    expect(values.size).toBe(k);
    for (let i = 0; i < k; i++) expect(values.get(`s${i}`)).toBe(i + 1);
  });

  for (const [layout, id, file] of [
    ['python', 'w7', 'counter_w7.db'],
    ['ruby', 'worker_7', 'counter_worker_7-0.db'],
  ] as const) {
    it(`${layout}: a restarted worker with a stable id continues its predecessor's file and values`, () => {
      const dir = mkdtempSync(join(tmp, `restart-${layout}-`));
      runWriter(dir, layout, id, 'inc-loop', [0, 1000]);
      runWriter(dir, layout, id, 'inc-loop', [0, 1000]);
      expect(readdirSync(dir).filter((f) => f.startsWith('counter_'))).toEqual([file]);
      const samples = sampleSet(readWithOurs(dir));
      expect(samples).toContain('loop_requests_total{route="/a"} 2000');
      expect(samples).toContain('loop_plain_total{} 1000');
    });
  }

  it('python: a second live process with the same id writes its own -1 file; both are served', async () => {
    const dir = mkdtempSync(join(tmp, 'same-id-'));
    const first = holdWriter(dir, 'python', 'h', 'hold', [0]);
    await first.ready;
    const second = holdWriter(dir, 'python', 'h', 'hold', [1]);
    await second.ready;
    expect(readdirSync(dir).sort()).toEqual(['counter_h-1.db', 'counter_h.db']);
    expect(sampleSet(readWithOurs(dir))).toEqual(['held_total{} 3']);
    first.release();
    second.release();
    expect(await Promise.all([first.exited, second.exited])).toEqual([0, 0]);
  });
});
