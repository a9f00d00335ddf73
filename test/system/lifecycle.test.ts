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
import { parseExposition } from '../helpers/parse-exposition.js';
import { holdProcess, holdWriter, WRITER_WORKER, writerEnv, type HeldWriter } from '../helpers/writer-process.js';

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

    const html = await (await request(`${d.url}/status`)).body.text();
    expect(html).toContain('<td>gauge_livesum_a1.db</td><td>python</td><td>gauge</td><td>livesum</td><td>a1</td><td>dead</td>');

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
