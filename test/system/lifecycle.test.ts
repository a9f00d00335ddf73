/**
 * Worker lifecycle through the real daemon over loopback: /health/workers and heartbeat
 * readiness (--readiness.min-workers) flip when workers die or stop beating, /status lists every
 * file with its writer's state, the self metrics count dead writers' files, and a worker that
 * comes back is noticed in the background without any scrape doing the work.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { peerAvailableUnderCi, peers } from '../helpers/peers.js';
import { parseExposition } from '../helpers/parse-exposition.js';
import { holdProcess, holdWriter, WRITER_WORKER, writerEnv, type HeldWriter } from '../helpers/writer-process.js';

const { python } = peers();
const tmp = mkdtempSync(join(tmpdir(), 'mpe-lifecycle-daemon-'));
const running: { daemons: Daemon[]; writers: HeldWriter[] } = { daemons: [], writers: [] };
afterEach(async () => {
  for (const w of running.writers.splice(0)) w.kill();
  await Promise.all(running.daemons.splice(0).map((d) => d.stop()));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function daemon(args: string[]): Promise<Daemon> {
  const d = await startDaemon(args);
  running.daemons.push(d);
  return d;
}

/** A writer of ours with a heartbeat every `beat` seconds (0: one heartbeat, no timer). */
async function worker(dir: string, id: string, beat: number): Promise<HeldWriter> {
  const env = { ...writerEnv(dir, 'python', id), ...(beat > 0 ? { WRITER_HEARTBEAT: String(beat) } : {}) };
  const w = holdProcess(process.execPath, [WRITER_WORKER, beat > 0 ? 'hold' : 'beat-once', '0'], env);
  running.writers.push(w);
  await w.ready;
  return w;
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await request(url, { headers: { accept: 'application/json' } });
  return { status: r.statusCode, body: (await r.body.json()) as Record<string, unknown> };
}

/** Poll until `check` passes (bounded: 50 × 100 ms). */
async function eventually<T>(get: () => Promise<T>, check: (v: T) => boolean): Promise<T> {
  let v = await get();
  for (let i = 0; i < 50 && !check(v); i++) {
    await new Promise((r) => setTimeout(r, 100));
    v = await get();
  }
  return v;
}

describe('worker health', () => {
  it('/readiness needs --readiness.min-workers fresh heartbeats; a killed worker and a stalled one make it 503', async () => {
    const dir = mkdtempSync(join(tmp, 'beat-'));
    const w1 = await worker(dir, 'w1', 0.2);
    await worker(dir, 'w2', 0.2);
    const d = await daemon(['--dir', dir, '--readiness.min-workers', '2', '--readiness.max-heartbeat-age', '1s']);

    const ready = await getJson(`${d.url}/readiness`);
    expect(ready).toEqual({ status: 200, body: { status: 'ready', dir, workers: { fresh: 2, required: 2 } } });
    const workers = (await getJson(`${d.url}/health/workers`)).body;
    expect(workers['fresh']).toBe(2);
    expect((workers['workers'] as { id: string; state: string; fresh: boolean }[]).map((w) => [w.id, w.state, w.fresh])).toEqual([
      ['w1', 'live', true],
      ['w2', 'live', true],
    ]);

    w1.kill();
    await w1.exited;
    const notReady = await getJson(`${d.url}/readiness`);
    expect(notReady.status).toBe(503);
    expect(notReady.body['reason']).toBe('1 of the 2 required workers have a heartbeat newer than 1s (--readiness.min-workers)');
    const after = (await getJson(`${d.url}/health/workers`)).body['workers'] as { id: string; state: string; fresh: boolean; lastHeartbeat: number }[];
    expect(after.map((w) => [w.id, w.state, w.fresh])).toEqual([
      ['w1', 'dead', false],
      ['w2', 'live', true],
    ]);
    expect(after[0]!.lastHeartbeat).toBeGreaterThan(Date.now() / 1000 - 10); // kept from its folded file

    // A worker that is alive but stopped beating goes stale after the maximum age.
    await worker(dir, 'w3', 0);
    expect((await getJson(`${d.url}/readiness`)).status).toBe(200);
    const stale = await eventually(
      () => getJson(`${d.url}/readiness`),
      (r) => r.status === 503,
    );
    expect(stale.body['workers']).toEqual({ fresh: 1, required: 2 });
  });
});

describe('/status and self metrics', () => {
  it('lists every file with dialect, type, mode, process id and writer state; counts dead writers’ files', async () => {
    const dir = mkdtempSync(join(tmp, 'status-'));
    const a = holdWriter(dir, 'python', 'a1', 'lifecycle', [0]);
    running.writers.push(a);
    await a.ready;
    const d = await daemon(['--dir', dir]);
    const before = (await getJson(`${d.url}/status`)).body;
    expect(before['counts']).toEqual({ files: 6, live: 6, unknown: 0, dead: 0, skipped: 0 });

    a.kill();
    await a.exited;
    const status = (await getJson(`${d.url}/status`)).body;
    expect(status['counts']).toEqual({ files: 6, live: 0, unknown: 0, dead: 6, skipped: 0 });
    const files = status['files'] as { fileName: string; dialect: string; type: string; mode: string | null; processId: string; state: string; entries: number; mappedBytes: number }[];
    expect(files.find((f) => f.fileName === 'gauge_livesum_a1.db')).toMatchObject({ dialect: 'python', type: 'gauge', mode: 'livesum', processId: 'a1', state: 'dead', entries: 1, mappedBytes: 0 });
    expect(files.find((f) => f.fileName === 'counter_a1.db')).toMatchObject({ type: 'counter', mode: null, state: 'dead' });

    const html = await (await request(`${d.url}/status?format=html`)).body.text();
    expect(html).toContain('<tr class="dead"><td><code>gauge_livesum_a1.db</code></td><td>a1</td><td>python</td><td>gauge</td><td>livesum</td><td class="n">1</td>');

    const metrics = parseExposition(await (await request(`${d.url}/metrics`)).body.text()).samples;
    const writerFiles = Object.fromEntries(metrics.filter((s) => s.name === 'multiproc_exporter_writer_files').map((s) => [s.labels[0]![1], s.value]));
    expect(writerFiles).toEqual({ live: 0, unknown: 0, dead: 6 });
    expect(metrics.filter((s) => s.name === 'lc_in_flight')).toEqual([]); // its live* gauge is gone
    expect(metrics.find((s) => s.name === 'lc_jobs_total')?.value).toBe(3); // its counter stays
  });

  it('a worker that comes back is noticed in the background: its counter continues from the folded value', async () => {
    const dir = mkdtempSync(join(tmp, 'revive-'));
    const first = holdWriter(dir, 'python', 'r1', 'count', [0, 5]);
    running.writers.push(first);
    await first.ready;
    const d = await daemon(['--dir', dir]);
    const total = async (): Promise<number | undefined> =>
      parseExposition(await (await request(`${d.url}/metrics`)).body.text()).samples.find((s) => s.name === 'lc_count_total')?.value;
    expect(await total()).toBe(5);
    first.release();
    await first.exited;
    expect(await total()).toBe(5);
    const folded = await getJson(`${d.url}/status`);
    expect(folded.body['counts']).toMatchObject({ dead: 1 });

    // The restarted worker (same stable id) continues the file: 5 + 7.
    const again = holdWriter(dir, 'python', 'r1', 'count', [0, 7]);
    running.writers.push(again);
    await again.ready;
    const status = await eventually(
      () => getJson(`${d.url}/status`),
      (s) => (s.body['counts'] as { live: number }).live === 1,
    );
    expect(status.body['counts']).toMatchObject({ live: 1, dead: 0 });
    expect(await total()).toBe(12);
  });
});

describe('live means live within one probe interval', () => {
  /** A Python prometheus_client writer whose `livesum` gauge is 1 while it lives (it never marks itself dead). */
  function pythonWorker(dir: string): HeldWriter {
    const code = [
      'import sys',
      'from prometheus_client import Counter, Gauge',
      "Counter('py_started', 'Started.').inc()",
      "Gauge('py_live', 'Live workers.', multiprocess_mode='livesum').set(1)",
      "print('ready', flush=True)",
      'sys.stdin.read()',
    ].join('\n');
    const w = holdProcess(python.command, ['-c', code], { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir });
    running.writers.push(w);
    return w;
  }

  async function livesum(d: Daemon): Promise<number | undefined> {
    return parseExposition(await (await request(`${d.url}/metrics`)).body.text()).samples.find((s) => s.name === 'py_live')?.value;
  }

  /** Scrapes every 50 ms until the gauge reads `want`; returns the ms it took. */
  async function msUntil(d: Daemon, want: number): Promise<number> {
    const t0 = performance.now();
    for (let i = 0; i < 100; i++) {
      if ((await livesum(d)) === want) return performance.now() - t0;
      await new Promise((r) => setTimeout(r, 50));
    }
    return Infinity;
  }

  peerAvailableUnderCi(python);
  it.skipIf(!python.available)('a kill -9ed Python writer leaves livesum within 1 s, with folded files probed in the background, and after a restart', async () => {
    const dir = mkdtempSync(join(tmp, 'livesum-'));
    // Dead writers' files already there: the background probe of folded files runs every 250 ms.
    for (let i = 0; i < 3; i++) {
      const gone = pythonWorker(dir);
      await gone.ready;
      gone.kill();
      await gone.exited;
    }
    const live = [pythonWorker(dir), pythonWorker(dir), pythonWorker(dir)];
    await Promise.all(live.map((w) => w.ready));
    const d = await daemon(['--dir', dir]);
    expect(await livesum(d)).toBe(3); // the dead writers' files are dead from the first scrape
    expect(await getJson(`${d.url}/status`).then((s) => s.body['counts'])).toMatchObject({ live: 6, unknown: 0, dead: 6 });
    for (const [w, left] of [[live[0]!, 2], [live[1]!, 1]] as const) {
      await new Promise((r) => setTimeout(r, 700)); // let the shared /proc walk be taken by whoever comes first
      w.kill();
      await w.exited;
      expect(await msUntil(d, left)).toBeLessThan(1000);
    }
    expect(await livesum(d)).toBe(1);

    // A restart with the dead files present: only the live writer counts, from the first scrape on.
    await d.stop();
    running.daemons.splice(running.daemons.indexOf(d), 1);
    const again = await daemon(['--dir', dir]);
    expect(await livesum(again)).toBe(1);
    expect(await getJson(`${again.url}/status`).then((s) => s.body['counts'])).toMatchObject({ live: 2, unknown: 0, dead: 10 });
    await new Promise((r) => setTimeout(r, 1500));
    expect(await livesum(again)).toBe(1);
  });
});
