/**
 * Worker lifecycle with real writer processes (ours, Python's, Ruby's): a writer killed with
 * SIGKILL loses its live* gauges at the next collection while its counters stay; its files are
 * folded once and unmapped; a restarted worker with a stable id takes its file back without a
 * jump; a folded file deleted from disk stops counting, the others stay exact.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Collector } from '../../src/collector.js';
import { renderText } from '../../src/exposition/index.js';
import { parseExposition } from '../helpers/parse-exposition.js';
import { peerAvailableUnderCi, peers } from '../helpers/peers.js';
import { holdProcess, holdWriter, runWriter, type HeldWriter } from '../helpers/writer-process.js';

const tmp = mkdtempSync(join(tmpdir(), 'mpe-lifecycle-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const { python, ruby } = peers();

function samples(c: Collector): string[] {
  return parseExposition(renderText(c.collect().families))
    .samples.map((s) => `${s.name}{${s.labels.map(([k, v]) => `${k}="${v}"`).join(',')}} ${s.value}`)
    .sort();
}

async function killed(w: HeldWriter): Promise<void> {
  w.kill();
  await w.exited;
}

describe('a writer killed with SIGKILL', () => {
  it('our writer: a successor under the same stable id starts its live* gauges from zero, its counters continue', async () => {
    const dir = mkdtempSync(join(tmp, 'successor-'));
    const first = holdWriter(dir, 'python', 'stable', 'in-flight', [0, 3]);
    await first.ready;
    const c = new Collector(dir);
    expect(samples(c)).toEqual(['lc_connected{peer="busy",pid="stable"} 1', 'lc_in_flight{} 3', 'lc_jobs_total{} 1']);
    await killed(first);
    const second = holdWriter(dir, 'python', 'stable', 'in-flight', [0, 0]);
    await second.ready;
    // The same files, taken over: nothing in flight, the counter goes on (1 + 1); the liveall file it
    // has not opened (no connection yet) stays its dead predecessor's.
    expect(samples(c)).toEqual(['lc_in_flight{} 0', 'lc_jobs_total{} 2']);
    await killed(second);
    c.close();
  });

  it('our writer: its live* gauges vanish at the next collection, counters and other gauges stay, its files are unmapped', async () => {
    const dir = mkdtempSync(join(tmp, 'ours-'));
    const a = holdWriter(dir, 'python', 'w1', 'lifecycle', [0]);
    const b = holdWriter(dir, 'python', 'w2', 'lifecycle', [1]);
    await Promise.all([a.ready, b.ready]);
    const c = new Collector(dir);
    const both = samples(c);
    expect(both).toContain('lc_in_flight{} 4');
    expect(both).toContain('lc_connected{pid="w1"} 1');
    expect(both).toContain('lc_connected{pid="w2"} 1');
    expect(c.directory.foldedCount).toBe(0);

    await killed(a);
    const after = samples(c);
    expect(after).toEqual(
      [
        'lc_connected{pid="w2"} 1',
        'lc_in_flight{} 2',
        'lc_jobs_total{} 7',
        'lc_latency_seconds_bucket{le="1.0"} 2',
        'lc_latency_seconds_bucket{le="+Inf"} 2',
        'lc_latency_seconds_count{} 2',
        'lc_latency_seconds_sum{} 1',
        'lc_rss_max_bytes{} 101',
        'lc_started_seconds{pid="w1"} 7',
        'lc_started_seconds{pid="w2"} 7',
      ].sort(),
    );
    // w1's six files (counter, histogram, four gauge modes) are folded and no longer mapped.
    expect(c.directory.foldedCount).toBe(6);
    const status = c.directory.status();
    expect(status.filter((f) => f.processId === 'w1').map((f) => [f.state, f.mappedBytes])).toEqual(Array(6).fill(['dead', 0]));
    expect(status.filter((f) => f.processId === 'w2').every((f) => f.state === 'live' && f.mappedBytes === 65536)).toBe(true);
    // Nothing of w1 is read again: later collections parse no entry and give the same samples.
    const parsed = c.directory.entriesParsed;
    expect(samples(c)).toEqual(after);
    expect(c.directory.entriesParsed).toBe(parsed);
    b.release();
    await b.exited;
    c.close();
  });

  peerAvailableUnderCi(python);
  it.skipIf(!python.available)("Python's own writer (no lock): judged by its pid, seen mapping the file", async () => {
    const dir = mkdtempSync(join(tmp, 'python-'));
    const code = [
      'import sys',
      'from prometheus_client import Counter, Gauge',
      "Counter('py_jobs', 'Jobs.').inc(3)",
      "Gauge('py_in_flight', 'In flight.', multiprocess_mode='livesum').set(2)",
      "Gauge('py_started', 'Started.', multiprocess_mode='all').set(7)",
      "print('ready', flush=True)",
      'sys.stdin.read()',
    ].join('\n');
    const w = holdProcess(python.command, ['-c', code], { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir });
    await w.ready;
    const c = new Collector(dir);
    expect(samples(c)).toEqual(['py_in_flight{} 2', 'py_jobs_total{} 3', `py_started{pid="${w.pid}"} 7`]);
    expect(c.directory.status().every((f) => f.state === 'live')).toBe(true);
    await killed(w);
    expect(samples(c)).toEqual(['py_jobs_total{} 3', `py_started{pid="${w.pid}"} 7`]);
    c.close();
  });

  it.skipIf(!python.available)('a Python writer under a custom numeric id (a uwsgi worker id): found by the process that maps its files', async () => {
    const dir = mkdtempSync(join(tmp, 'python-custom-'));
    // The id names a process that exists but maps nothing of ours (a bystander); the writer is found by walking /proc.
    const bystander = spawn('sleep', ['60'], { stdio: 'ignore' });
    const id = String(bystander.pid);
    const code = [
      'import sys',
      'from prometheus_client import values',
      `values.ValueClass = values.MultiProcessValue(process_identifier=lambda: '${id}')`,
      'from prometheus_client import Counter, Gauge',
      "Counter('py_jobs', 'Jobs.').inc(3)",
      "Gauge('py_in_flight', 'In flight.', multiprocess_mode='livesum').set(2)",
      "print('ready', flush=True)",
      'sys.stdin.read()',
    ].join('\n');
    const w = holdProcess(python.command, ['-c', code], { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir });
    await w.ready;
    const c = new Collector(dir);
    expect(samples(c)).toEqual(['py_in_flight{} 2', 'py_jobs_total{} 3']);
    expect(c.directory.status().map((f) => [f.fileName, f.state])).toEqual([
      [`counter_${id}.db`, 'live'],
      [`gauge_livesum_${id}.db`, 'live'],
    ]);
    await killed(w);
    await new Promise((r) => setTimeout(r, 1100)); // the walk over every process is rate-limited to once a second
    expect(samples(c)).toEqual(['py_jobs_total{} 3']);
    bystander.kill('SIGKILL');
    c.close();
  });

  peerAvailableUnderCi(ruby);
  it.skipIf(!ruby.available)("the Ruby gem's writer: judged by its lock", async () => {
    const dir = mkdtempSync(join(tmp, 'ruby-'));
    const code = [
      "require 'prometheus/client'",
      "Prometheus::Client.configuration.pid_provider = -> { 'puma_3' }",
      'r = Prometheus::Client.registry',
      "r.counter(:rb_jobs_total, 'Jobs.').increment({}, 3)",
      "r.gauge(:rb_in_flight, 'In flight.', {}, :livesum).set({}, 2)",
      "r.gauge(:rb_connected, 'Connected.', {}, :liveall).set({}, 1)",
      "puts 'ready'",
      'STDOUT.flush',
      'STDIN.read',
    ].join('\n');
    const w = holdProcess(ruby.command, ['-e', code], { ...process.env, prometheus_multiproc_dir: dir });
    await w.ready;
    const c = new Collector(dir);
    expect(samples(c)).toEqual(['rb_connected{pid="puma_3"} 1', 'rb_in_flight{} 2', 'rb_jobs_total{} 3']);
    await killed(w);
    expect(samples(c)).toEqual(['rb_jobs_total{} 3']);
    c.close();
  });

  it("with --liveness off, a dead writer's files count as the libraries count them", async () => {
    const dir = mkdtempSync(join(tmp, 'off-'));
    const w = holdWriter(dir, 'python', 'w1', 'lifecycle', [0]);
    await w.ready;
    const c = new Collector(dir, { liveness: 'off' });
    const live = samples(c);
    await killed(w);
    expect(samples(c)).toEqual(live);
    expect(c.directory.foldedCount).toBe(0);
    c.close();
  });
});

describe('folded files', () => {
  it('a restarted worker with a stable id takes its file back: the counter continues, never lower', async () => {
    const dir = mkdtempSync(join(tmp, 'revive-'));
    runWriter(dir, 'python', 'w7', 'inc-loop', [0, 1000]);
    const c = new Collector(dir);
    const totals: number[] = [];
    const total = (): number => {
      const s = parseExposition(renderText(c.collect().families)).samples.find((x) => x.name === 'loop_requests_total' && x.labels[0]![1] === '/a');
      totals.push(s!.value);
      return s!.value;
    };
    // Never seen locked: an unknown writer counts as live until it is seen dead.
    expect(total()).toBe(1000);
    expect(c.directory.foldedCount).toBe(0);

    const w = holdWriter(dir, 'python', 'w7', 'inc-loop-hold', [0, 500]);
    await w.ready;
    expect(total()).toBe(1500);
    w.release();
    await w.exited;
    expect(total()).toBe(1500); // the lock was seen: now dead, folded (its counter and histogram files)
    expect(c.directory.foldedCount).toBe(2);
    expect(c.probeFolded()).toBe(false);

    const again = holdWriter(dir, 'python', 'w7', 'inc-loop-hold', [0, 250]);
    await again.ready;
    expect(total()).toBe(1500); // not yet noticed: still the folded value, not less
    expect(c.probeFolded()).toBe(true);
    expect(total()).toBe(1750);
    expect(c.directory.foldedCount).toBe(0);
    again.release();
    await again.exited;
    expect(total()).toBe(1750);
    expect(totals).toEqual([1000, 1500, 1500, 1500, 1750, 1750]);
    c.close();
  });

  it('a folded file deleted from disk stops counting; the others stay exact', async () => {
    const dir = mkdtempSync(join(tmp, 'delete-'));
    const writers = [0, 1, 2].map((i) => holdWriter(dir, 'python', `d${i}`, 'count', [0, 10 ** i]));
    await Promise.all(writers.map((w) => w.ready));
    const c = new Collector(dir);
    expect(samples(c)).toEqual(['lc_count_total{} 111']);
    for (const w of writers) await killed(w);
    expect(samples(c)).toEqual(['lc_count_total{} 111']);
    expect(c.directory.foldedCount).toBe(3);
    unlinkSync(join(dir, 'counter_d1.db'));
    expect(samples(c)).toEqual(['lc_count_total{} 101']);
    expect(c.directory.foldedCount).toBe(2);
    c.close();
  });
});
