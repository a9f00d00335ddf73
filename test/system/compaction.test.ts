/**
 * --compaction: dead writers' files are folded into archive files and deleted, exactly, and a
 * crash (SIGKILL) at every step of a compaction neither loses nor double-counts a value; the
 * archives are read by the library's own reader too; counters never decrease across compactions.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Collector } from '../../src/collector.js';
import { Compactor, type CrashPoint } from '../../src/compaction/compactor.js';
import { renderText } from '../../src/exposition/index.js';
import { loadNative } from '../../src/native.js';
import { BIN, runToExit, startDaemon, type Daemon } from '../helpers/daemon.js';
import { parseExposition } from '../helpers/parse-exposition.js';
import { peerAvailableUnderCi, peers } from '../helpers/peers.js';
import { holdWriter, runWriter, type HeldWriter, type Layout } from '../helpers/writer-process.js';

const tmp = mkdtempSync(join(tmpdir(), 'mpe-compaction-'));
const running: { daemons: Daemon[]; writers: HeldWriter[] } = { daemons: [], writers: [] };
afterEach(async () => {
  for (const w of running.writers.splice(0)) w.kill();
  await Promise.all(running.daemons.splice(0).map((d) => d.stop()));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const { python } = peers();

function lines(text: string): string[] {
  return parseExposition(text)
    .samples.filter((s) => !s.name.startsWith('multiproc_exporter_'))
    .map((s) => `${s.name}{${s.labels.map(([k, v]) => `${k}="${v}"`).join(',')}} ${s.value}`)
    .sort();
}

function collected(c: Collector): string[] {
  return lines(renderText(c.collect().families));
}

/** What `interop` workers 0…n-1 wrote, as our collector shows it once they are dead: no live* gauges. */
function expectedAfterDeath(dir: string, n: number): string[] {
  const c = new Collector(dir, { liveness: 'off' });
  const all = collected(c);
  c.close();
  expect(all.length).toBeGreaterThan(n);
  return all.filter((l) => !l.startsWith('in_flight')); // the interop scenario's livesum gauge
}

it('refuses --compaction without the native addon: exit 2 with the reason, nothing served', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mpe-compact-nonative-'));
  try {
    const r = await runToExit(['--dir', dir, '--web.listen-address', '127.0.0.1:0', '--compaction'], { MULTIPROC_EXPORTER_NO_NATIVE: '1' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--compaction needs the native addon (file locks tell a dead writer for sure), which did not load: disabled by MULTIPROC_EXPORTER_NO_NATIVE; run without --compaction');
    expect(r.stderr).not.toContain('multiproc-exporter started');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('Compactor (in process)', () => {
  {
    const layout: Layout = 'ruby';
    it("ruby: folds dead writers' files into archives, deletes them, keeps the values exact; again with more", () => {
      const dir = mkdtempSync(join(tmp, 'ruby-'));
      const ids = ['w0', 'w1', 'w2'];
      // Never seen alive, but Ruby-named (-<n>.db): their writers lock, so a free lock means dead.
      const c = new Collector(dir);
      ids.forEach((id, i) => runWriter(dir, layout, id, 'interop', [i]));
      const want = expectedAfterDeath(dir, 3);
      const before = collected(c);
      const compactor = new Compactor(dir, loadNative()!);
      const r = c.compact(compactor);
      expect(before).toEqual(want);
      expect(r.problems).toEqual([]);
      expect(r.archives.map((a) => [a.fileName, a.absorbed.map((x) => x.name)])).toEqual([
        ['counter_mpe-archive-ruby.db', ['counter_w0-0.db', 'counter_w1-0.db', 'counter_w2-0.db']],
        ['gauge_max_mpe-archive-ruby.db', ['gauge_max_w0-0.db', 'gauge_max_w1-0.db', 'gauge_max_w2-0.db']],
        ['gauge_min_mpe-archive-ruby.db', ['gauge_min_w0-0.db', 'gauge_min_w1-0.db', 'gauge_min_w2-0.db']],
        ['histogram_mpe-archive-ruby.db', ['histogram_w0-0.db', 'histogram_w1-0.db', 'histogram_w2-0.db']],
        ['summary_mpe-archive-ruby.db', ['summary_w0-0.db', 'summary_w1-0.db', 'summary_w2-0.db']],
      ]);
      expect(r.droppedLive).toEqual(['gauge_livesum_w0-0.db', 'gauge_livesum_w1-0.db', 'gauge_livesum_w2-0.db']);
      // `all` gauges are per process: kept as they are.
      expect(readdirSync(dir).sort()).toEqual([
        'counter_mpe-archive-ruby.db',
        'gauge_all_w0-0.db',
        'gauge_all_w1-0.db',
        'gauge_all_w2-0.db',
        'gauge_max_mpe-archive-ruby.db',
        'gauge_min_mpe-archive-ruby.db',
        'histogram_mpe-archive-ruby.db',
        'summary_mpe-archive-ruby.db',
      ]);
      expect(collected(c)).toEqual(want);
      const fresh = new Collector(dir);
      expect(collected(fresh)).toEqual(want); // a new daemon reads the archives the same
      fresh.close();

      // Two more workers die; the next run folds them into the same archives.
      runWriter(dir, layout, 'w3', 'interop', [3]);
      runWriter(dir, layout, 'w4', 'interop', [4]);
      const want5 = collected(new Collector(dir, { liveness: 'off' })).filter((l) => !l.startsWith('in_flight'));
      expect(collected(c)).toEqual(want5);
      const r2 = c.compact(compactor);
      expect(r2.archives.find((a) => a.fileName === 'counter_mpe-archive-ruby.db')!.absorbed.map((a) => a.name)).toEqual(['counter_w3-0.db', 'counter_w4-0.db']);
      expect(collected(c)).toEqual(want5);
      expect(readdirSync(dir).filter((f) => f.startsWith('counter_'))).toEqual(['counter_mpe-archive-ruby.db']);
      c.close();
    });
  }

  it('python layout: files never seen locked are left alone (their writer may not lock)', () => {
    const dir = mkdtempSync(join(tmp, 'python-unseen-'));
    runWriter(dir, 'python', 'w0', 'interop', [0]);
    const c = new Collector(dir);
    collected(c);
    expect(c.compact(new Compactor(dir, loadNative()!)).deleted).toEqual([]);
    expect(c.directory.foldedCount).toBe(0);
    c.close();
  });

  it('python: writers seen alive and then dead are compacted; a writer that is back keeps its file', async () => {
    const dir = mkdtempSync(join(tmp, 'python-seen-'));
    const c = new Collector(dir);
    const a = holdWriter(dir, 'python', 'a', 'count', [0, 5]);
    const b = holdWriter(dir, 'python', 'b', 'count', [0, 7]);
    await Promise.all([a.ready, b.ready]);
    expect(collected(c)).toEqual(['lc_count_total{} 12']);
    a.kill();
    b.kill();
    await Promise.all([a.exited, b.exited]);
    expect(collected(c)).toEqual(['lc_count_total{} 12']);
    // b's worker comes back (same stable id) before the compaction runs: its lock keeps its file out.
    const b2 = holdWriter(dir, 'python', 'b', 'count', [0, 1]);
    running.writers.push(b2);
    await b2.ready;
    const r = c.compact(new Compactor(dir, loadNative()!));
    expect(r.deleted).toEqual(['counter_a.db']);
    expect(readdirSync(dir).sort()).toEqual(['counter_b.db', 'counter_mpe-archive-python.db']);
    expect(c.probeFolded()).toBe(true);
    expect(collected(c)).toEqual(['lc_count_total{} 13']);
    c.close();
  });

  peerAvailableUnderCi(python);
  it.skipIf(!python.available)("the archives are read by Python's own MultiProcessCollector with the same values", () => {
    const dir = mkdtempSync(join(tmp, 'python-reader-'));
    const c = new Collector(dir);
    for (const [i, id] of ['x0', 'x1', 'x2'].entries()) {
      const w = holdWriter(dir, 'python-legacy', id, 'count', [0, 10 ** i]);
      running.writers.push(w);
    }
    return Promise.all(running.writers.map((w) => w.ready)).then(async () => {
      collected(c);
      for (const w of running.writers.splice(0)) {
        w.kill();
        await w.exited;
      }
      collected(c);
      expect(c.compact(new Compactor(dir, loadNative()!)).deleted).toEqual(['counter_x0.db', 'counter_x1.db', 'counter_x2.db']);
      expect(readdirSync(dir)).toEqual(['counter_mpe-archive-python-legacy.db']);
      const script = 'import sys\nfrom prometheus_client import CollectorRegistry, generate_latest\nfrom prometheus_client.multiprocess import MultiProcessCollector\nr = CollectorRegistry()\nMultiProcessCollector(r, path=sys.argv[1])\nsys.stdout.write(generate_latest(r).decode())';
      const out = spawnSync(python.command, ['-c', script, dir], { encoding: 'utf8' });
      expect(out.status).toBe(0);
      expect(lines(out.stdout)).toEqual(['lc_count_total{} 111']);
      expect(collected(c)).toEqual(['lc_count_total{} 111']);
      c.close();
    });
  });
});

describe('crash safety: SIGKILL at every step of a compaction', () => {
  const steps: CrashPoint[] = ['temp-written', 'temp-synced', 'renamed', 'deleted-one', 'deleted-all'];
  for (const step of steps) {
    it(`killed after "${step}": totals exact after the crash and after the next compaction`, async () => {
      const dir = mkdtempSync(join(tmp, `crash-${step}-`));
      const layout: Layout = 'ruby'; // -<n>.db names: the daemon knows their writers lock
      [0, 1, 2, 3].forEach((i) => runWriter(dir, layout, `d${i}`, 'interop', [i]));
      const live = holdWriter(dir, layout, 'alive', 'count', [0, 1000]);
      running.writers.push(live);
      await live.ready;
      const want = [...expectedAfterDeath(dir, 4)].sort();

      // 1. A daemon that dies at this step of its first compaction.
      const crashing = await startDaemon(['--dir', dir, '--compaction', '--compaction.interval', '1h'], { env: { MULTIPROC_EXPORTER_COMPACTION_CRASH_AT: step } });
      const code = await crashing.exited;
      expect(code).toBe(null); // killed by its signal, not exited
      // The disk is in the state of that step (the first group is counter_…):
      const names = readdirSync(dir);
      const deadCounters = names.filter((f) => /^counter_d\d-0\.db$/.test(f)).length;
      const expectOnDisk: Record<CrashPoint, [tmp: boolean, archive: boolean, deadCounters: number]> = {
        'temp-written': [true, false, 4],
        'temp-synced': [true, false, 4],
        renamed: [false, true, 4], // archive and the files it absorbed, side by side: the manifest must say so
        'deleted-one': [false, true, 3],
        'deleted-all': [false, true, 0],
      };
      expect([names.includes('counter_mpe-archive-ruby.db.tmp'), names.includes('counter_mpe-archive-ruby.db'), deadCounters]).toEqual(expectOnDisk[step]);
      // 2. What is on disk now reads exactly (read-only render, no compaction).
      const r = spawnSync(process.execPath, [BIN, 'render', '--dir', dir], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(lines(r.stdout)).toEqual(want);
      // 3. A new daemon with compaction finishes the job: same totals, only archives and live files left.
      const d = await startDaemon(['--dir', dir, '--compaction', '--compaction.interval', '1s']);
      running.daemons.push(d);
      let files: string[] = [];
      for (let i = 0; i < 50; i++) {
        files = readdirSync(dir).filter((f) => /_d\d-0\.db$/.test(f) && !f.startsWith('gauge_all_'));
        if (files.length === 0 && !readdirSync(dir).some((f) => f.endsWith('.tmp'))) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      expect(files).toEqual([]);
      expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
      const text = await (await request(`${d.url}/metrics`)).body.text();
      expect(lines(text)).toEqual(want);
    });
  }
});

describe('counters never decrease across compactions', () => {
  it('while writers come and go and compaction runs every second (the floor), every scrape is ≥ the one before; the end is exact', async () => {
    const dir = mkdtempSync(join(tmp, 'monotonic-'));
    const d = await startDaemon(['--dir', dir, '--compaction', '--compaction.interval', '1s']);
    running.daemons.push(d);
    const seen: number[] = [];
    let stop = false;
    const scraper = (async () => {
      for (let i = 0; i < 2000 && !stop; i++) {
        const samples = parseExposition(await (await request(`${d.url}/metrics`)).body.text()).samples;
        seen.push(samples.filter((s) => s.name === 'lc_count_total').reduce((n, s) => n + s.value, 0));
        await new Promise((res) => setTimeout(res, 20));
      }
    })();
    let total = 0;
    for (let i = 0; i < 8; i++) {
      const w = holdWriter(dir, 'ruby', `m${i % 3}`, 'count', [0, 0.1 * (i + 1)]);
      running.writers.push(w);
      await w.ready;
      total += 0.1 * (i + 1);
      await new Promise((res) => setTimeout(res, 150));
      w.kill();
      await w.exited;
      await new Promise((res) => setTimeout(res, 150));
    }
    // The next run (at most a second away) folds the last dead writers into the archive.
    for (let i = 0; i < 100 && readdirSync(dir).filter((f) => f.startsWith('counter_')).join() !== 'counter_mpe-archive-ruby.db'; i++) {
      await new Promise((res) => setTimeout(res, 50));
    }
    await new Promise((res) => setTimeout(res, 100)); // and a scan after it
    stop = true;
    await scraper;
    for (let i = 1; i < seen.length; i++) expect(seen[i]!, `scrape ${i}: ${seen[i - 1]} → ${seen[i]}`).toBeGreaterThanOrEqual(seen[i - 1]!);
    expect(seen[seen.length - 1]).toBeCloseTo(total, 12);
    expect(readdirSync(dir).filter((f) => f.startsWith('counter_'))).toEqual(['counter_mpe-archive-ruby.db']);
  });
});
