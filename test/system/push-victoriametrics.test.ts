/**
 * A real VictoriaMetrics (Debian's) receives the daemon's remote-write pushes of a directory that
 * live Python, Ruby and Node writers write into; every merged series is read back with its exact
 * value (through /api/v1/export, the raw samples), after one round and after the next.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { peerAvailableUnderCi, peers } from '../helpers/peers.js';
import { seriesKey, startWriters, type LiveWriters } from '../helpers/push-writers.js';
import { sleep, startVictoriaMetrics, victoriaMetricsPeer, type Server } from '../helpers/servers.js';

const vm = victoriaMetricsPeer();
const { python, ruby } = peers();
const CONST = [['shard', 'vm'] as const, ['team', 'core'] as const];

describe('pushing to a real VictoriaMetrics with remote write', () => {
  peerAvailableUnderCi(vm);
  peerAvailableUnderCi(python);
  peerAvailableUnderCi(ruby);
  if (!vm.available) return;

  const tmp = mkdtempSync(join(tmpdir(), 'mpe-push-vm-'));
  let server: Server | undefined;
  let daemon: Daemon | undefined;
  let writers: LiveWriters | undefined;
  let pushStartedMs = 0;

  beforeAll(async () => {
    const dir = join(tmp, 'metrics');
    mkdirSync(dir);
    writers = await startWriters(dir);
    server = await startVictoriaMetrics(tmp);
    pushStartedMs = Date.now();
    daemon = await startDaemon(['--dir', dir, '--label', 'shard=vm', '--label', 'team=core', '--push.remote-write.url', server.writeUrl, '--push.interval', '500ms']);
  }, 60_000);

  afterAll(async () => {
    await daemon?.stop();
    await writers?.stop();
    await server?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }, 30_000);

  interface Exported {
    metric: Record<string, string>;
    values: number[];
    timestamps: number[];
  }

  /** Every raw series VictoriaMetrics holds for the writers' metrics: key → its newest sample. */
  async function exported(): Promise<{ latest: Map<string, number>; series: Exported[] }> {
    const match = encodeURIComponent('{shard="vm",__name__=~"(py|rb|node)_.*"}');
    const res = await fetch(`${server!.url}/api/v1/export?match[]=${match}`, { signal: AbortSignal.timeout(5_000) });
    expect(res.status).toBe(200);
    const series = (await res.text())
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Exported);
    const latest = new Map<string, number>();
    for (const s of series) {
      const { __name__: name, ...labels } = s.metric;
      const newest = s.timestamps.indexOf(Math.max(...s.timestamps));
      latest.set(seriesKey(name!, Object.entries(labels)), s.values[newest]!);
    }
    return { latest, series };
  }

  async function untilStored(want: Map<string, number>): Promise<Exported[]> {
    const deadline = Date.now() + 30_000;
    let got = { latest: new Map<string, number>(), series: [] as Exported[] };
    while (Date.now() < deadline) {
      got = await exported();
      if (got.latest.size === want.size && [...want].every(([k, v]) => got.latest.get(k) === v)) return got.series;
      await sleep(300);
    }
    const lines = (m: Map<string, number>): string[] => [...m].map(([k, v]) => `${k} ${v}`).sort();
    expect(lines(got.latest), `${daemon!.stderr().slice(-3000)}\n${server!.log().slice(-3000)}`).toEqual(lines(want));
    return got.series;
  }

  it('holds every merged series with its exact value and both constant labels', async () => {
    const series = await untilStored(writers!.expected(CONST));
    expect(series.length).toBe(writers!.dialects.length * 11);
    for (const s of series) {
      expect(s.metric).toMatchObject({ shard: 'vm', team: 'core' });
      // Timestamps are collection times, in milliseconds, from this run.
      for (const t of s.timestamps) {
        expect(t).toBeGreaterThanOrEqual(pushStartedMs - 1_000);
        expect(t).toBeLessThanOrEqual(Date.now() + 1_000);
      }
    }
  });

  it('holds the next round exactly after the writers write it; the counters only grew', async () => {
    await writers!.next();
    const series = await untilStored(writers!.expected(CONST));
    for (const s of series.filter((x) => x.metric['__name__']!.endsWith('_jobs_total'))) {
      const ordered = s.timestamps.map((t, i) => [t, s.values[i]!] as const).sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < ordered.length; i++) expect(ordered[i]![1]).toBeGreaterThanOrEqual(ordered[i - 1]![1]);
      const q = s.metric['queue'];
      expect([ordered[0]![1], ordered.at(-1)![1]]).toEqual(q === 'a' ? [3, 6] : [1, 2]);
    }
  });
});
