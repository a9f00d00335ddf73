/**
 * A real Prometheus (Debian's, remote-write receiver on) receives the daemon's pushes of a
 * directory that live Python (prometheus_client), Ruby (prometheus-client-mmap) and our writer's
 * workers write into: every merged series is stored with its exact value and labels, the
 * constant labels included; the values follow as the writers write; the sample timestamps are
 * the collection times; the daemon's own metrics arrive too, and the scrape agrees with the push.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { parseExposition } from '../helpers/parse-exposition.js';
import { peerAvailableUnderCi, peers } from '../helpers/peers.js';
import { seriesKey, startWriters, type LiveWriters } from '../helpers/push-writers.js';
import { prometheusPeer, query, sleep, startPrometheus, type Server } from '../helpers/servers.js';

const prometheus = prometheusPeer();
const { python, ruby } = peers();
const CONST = [['shard', 'ci'] as const];
const SERIES = '{shard="ci",__name__=~"(py|rb|node)_.*"}';

describe('pushing to a real Prometheus with remote write', () => {
  peerAvailableUnderCi(prometheus);
  peerAvailableUnderCi(python);
  peerAvailableUnderCi(ruby);
  if (!prometheus.available) return;

  const tmp = mkdtempSync(join(tmpdir(), 'mpe-push-prom-'));
  let server: Server | undefined;
  let daemon: Daemon | undefined;
  let writers: LiveWriters | undefined;

  beforeAll(async () => {
    const dir = join(tmp, 'metrics');
    mkdirSync(dir);
    writers = await startWriters(dir);
    server = await startPrometheus(tmp);
    daemon = await startDaemon(['--dir', dir, '--label', 'shard=ci', '--push.remote-write.url', server.writeUrl, '--push.interval', '500ms']);
  }, 60_000);

  afterAll(async () => {
    await daemon?.stop();
    await writers?.stop();
    await server?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }, 30_000);

  async function stored(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const { metric, value } of await query(server!.url, SERIES)) {
      const { __name__: name, ...labels } = metric;
      out.set(seriesKey(name!, Object.entries(labels)), Number(value[1]));
    }
    return out;
  }

  /** Poll until Prometheus holds exactly `want` (bounded); the last difference is in the error. */
  async function untilStored(want: Map<string, number>): Promise<void> {
    const deadline = Date.now() + 20_000;
    let got = new Map<string, number>();
    while (Date.now() < deadline) {
      got = await stored();
      if (got.size === want.size && [...want].every(([k, v]) => got.get(k) === v)) return;
      await sleep(250);
    }
    const lines = (m: Map<string, number>): string[] => [...m].map(([k, v]) => `${k} ${v}`).sort();
    expect(lines(got), `${daemon!.stderr().slice(-3000)}\n${server!.log().slice(-3000)}`).toEqual(lines(want));
  }

  it('stores every merged series with its exact value, labels and the constant label', async () => {
    const want = writers!.expected(CONST);
    expect(want.size).toBe(writers!.dialects.length * 11);
    await untilStored(want);
    // Spot checks, readable on their own: a Ruby counter over two workers, a Python histogram bucket, our max gauge.
    if (writers!.dialects.includes('rb')) expect((await query(server!.url, 'rb_jobs_total{shard="ci",queue="a"}'))[0]!.value[1]).toBe('3');
    if (writers!.dialects.includes('py')) expect((await query(server!.url, 'py_latency_seconds_bucket{shard="ci",route="/x",le="1.0"}'))[0]!.value[1]).toBe('4');
    expect((await query(server!.url, 'node_peak{shard="ci"}'))[0]!.value[1]).toBe('200');
  });

  it('follows the writers: counters increase between pushes, gauges and histograms move', async () => {
    const before = await stored();
    await writers!.next();
    const want = writers!.expected(CONST);
    await untilStored(want);
    for (const d of writers!.dialects) {
      const k = seriesKey(`${d}_jobs_total`, [['queue', 'a'], ...CONST]);
      expect([before.get(k), want.get(k)]).toEqual([3, 6]);
      expect(want.get(seriesKey(`${d}_latency_seconds_count`, [['route', '/x'], ...CONST]))).toBe(8);
    }
    // Stored as a counter over time: the increase over the last minute is what round 2 added.
    const inc = await query(server!.url, 'max_over_time(node_jobs_total{shard="ci",queue="a"}[1m]) - min_over_time(node_jobs_total{shard="ci",queue="a"}[1m])');
    expect(Number(inc[0]!.value[1])).toBe(3);
  });

  it('timestamps each sample with its collection time, one push every interval', async () => {
    const [ts] = await query(server!.url, 'timestamp(node_peak{shard="ci"})');
    const at = Number(ts!.value[1]);
    expect(Math.abs(Date.now() / 1000 - at)).toBeLessThan(5);
    const [count] = await query(server!.url, 'count_over_time(node_peak{shard="ci"}[3s])');
    expect(Number(count!.value[1])).toBeGreaterThanOrEqual(2); // about 6 at 500ms; fewer on a loaded machine
    expect(Number(count!.value[1])).toBeLessThanOrEqual(8);
  });

  it("receives the daemon's self metrics with the constant label, the push's own among them", async () => {
    const sent = await query(server!.url, `multiproc_exporter_push_samples_sent_total{shard="ci",target="${server!.writeUrl}",protocol="remote-write"}`);
    expect(sent).toHaveLength(1);
    expect(Number(sent[0]!.value[1])).toBeGreaterThan(0);
    const failed = await query(server!.url, 'sum(multiproc_exporter_push_dropped_batches_total{shard="ci"})');
    expect(Number(failed[0]!.value[1])).toBe(0);
  });

  it('pushes what a scrape serves', async () => {
    const res = await fetch(`${daemon!.url}/metrics`, { signal: AbortSignal.timeout(5_000) });
    const scraped = new Map<string, number>();
    for (const s of parseExposition(await res.text()).samples) if (/^(py|rb|node)_/.test(s.name)) scraped.set(seriesKey(s.name, s.labels), s.value);
    expect([...scraped].sort()).toEqual([...writers!.expected(CONST)].sort());
    await untilStored(scraped);
  });
});
