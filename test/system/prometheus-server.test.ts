/**
 * A real Prometheus server (Debian's `prometheus`, 2.42) scrapes the daemon serving a directory
 * that holds both dialects' files (prometheus_client 0.25 and prometheus-client-mmap), and what
 * it stored is checked through its HTTP API against the libraries' own expected output.
 *
 * Prometheus 2.42 offers OpenMetrics first in its Accept header, so this also proves that our
 * OpenMetrics output is ingested; a second job scrapes through a recording pass-through proxy to
 * see the negotiated Content-Type. Everything runs on 127.0.0.1 and every wait is bounded.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { parseExposition, parseValue } from '../helpers/parse-exposition.js';

const IN_CI = process.env['CI'] === 'true';
const PROMETHEUS = '/usr/bin/prometheus';
const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const CASES = ['v025-app_realistic', 'rb-basic'] as const;
const JOB = 'multiproc';
const RECORDED_JOB = 'multiproc_recorded';
const POLL_LIMIT_MS = 30_000;
const POLL_STEP_MS = 250;

function probePrometheus(): boolean {
  const r = spawnSync(PROMETHEUS, ['--version'], { encoding: 'utf8', timeout: 20_000 });
  const available = r.status === 0;
  if (!available && !IN_CI) {
    console.warn(`prometheus server tests skipped: \`${PROMETHEUS} --version\` failed; install Debian's prometheus`);
  }
  return available;
}

const available = probePrometheus();

it('prometheus server (prometheus) is installed when CI=true', () => {
  expect(available || !IN_CI).toBe(true);
});

// ---- expected values, from the fixtures' expected.txt --------------------------------------

/** Labels whose values are numbers: compared numerically ("1" and "1.0" are the same bucket). */
const NUMERIC_LABELS = new Set(['le', 'quantile']);

function seriesKey(name: string, labels: Iterable<[string, string]>): string {
  const pairs = [...labels]
    .map(([n, v]): [string, string] => [n, NUMERIC_LABELS.has(n) ? String(parseValue(v)) : v])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return `${name}{${pairs.map(([n, v]) => `${n}=${JSON.stringify(v)}`).join(',')}}`;
}

/** series key → value over both fixtures (their metric names do not overlap). */
const EXPECTED = new Map<string, number>();
for (const c of CASES) {
  for (const s of parseExposition(readFileSync(join(FIXTURES, c, 'expected.txt'), 'utf8')).samples) {
    const key = seriesKey(s.name, s.labels);
    if (EXPECTED.has(key)) throw new Error(`fixtures overlap on ${key}`);
    EXPECTED.set(key, s.value);
  }
}

function fixtureValue(name: string, labels: Record<string, string> = {}): number {
  const v = EXPECTED.get(seriesKey(name, Object.entries(labels)));
  if (v === undefined) throw new Error(`no ${name} ${JSON.stringify(labels)} in the fixtures`);
  return v;
}

// ---- processes and HTTP helpers -------------------------------------------------------------

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

interface Scrape {
  accept: string;
  contentType: string;
  status: number;
}

describe.skipIf(!available)('a real Prometheus server scraping the daemon', () => {
  const tempDirs: string[] = [];
  let daemon: Daemon | undefined;
  let prometheus: ChildProcess | undefined;
  let prometheusExited: Promise<void> | undefined;
  let prometheusLog = '';
  let recorder: Server | undefined;
  const recorded: Scrape[] = [];
  let api = '';
  const dbCounts: Record<string, number> = {};

  function diagnostics(): string {
    return `\n--- prometheus stderr (tail) ---\n${prometheusLog.slice(-6000)}\n--- daemon stderr (tail) ---\n${daemon?.stderr().slice(-3000) ?? ''}`;
  }

  async function query(promql: string): Promise<VectorSample[]> {
    const res = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(promql)}`, { signal: AbortSignal.timeout(5_000) });
    const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: VectorSample[] } };
    if (body.status !== 'success' || body.data?.resultType !== 'vector') {
      throw new Error(`query ${promql} failed (${res.status}): ${body.error ?? JSON.stringify(body)}`);
    }
    return body.data.result;
  }

  /** The value of a query that must select exactly one series. */
  async function single(promql: string): Promise<number> {
    const result = await query(promql);
    expect(result, promql).toHaveLength(1);
    return Number(result[0]!.value[1]);
  }

  /** The address Prometheus bound (its web listener logs `msg="Listening on" address=...`). */
  async function listeningAddress(deadline: number): Promise<string> {
    for (;;) {
      const logged = /msg="Listening on" address=(127\.0\.0\.1:\d+)/.exec(prometheusLog)?.[1];
      if (logged !== undefined) return logged;
      if (prometheus === undefined || prometheus.exitCode !== null || prometheus.signalCode !== null) {
        throw new Error(`prometheus exited (${prometheus?.exitCode ?? prometheus?.signalCode}) before listening${diagnostics()}`);
      }
      if (Date.now() + POLL_STEP_MS > deadline) throw new Error(`prometheus did not log its listening address within ${POLL_LIMIT_MS} ms${diagnostics()}`);
      await sleep(POLL_STEP_MS);
    }
  }

  async function waitForUp(job: string, deadline: number): Promise<void> {
    let last: string;
    for (;;) {
      if (prometheus === undefined || prometheus.exitCode !== null || prometheus.signalCode !== null) {
        throw new Error(`prometheus exited (${prometheus?.exitCode ?? prometheus?.signalCode}) before scraping${diagnostics()}`);
      }
      try {
        const result = await query(`up{job="${job}"}`);
        last = JSON.stringify(result);
        if (result.length === 1 && result[0]!.value[1] === '1') return;
      } catch (e) {
        last = String(e); // 503 while Prometheus is starting, or connection refused
      }
      if (Date.now() + POLL_STEP_MS > deadline) {
        throw new Error(`up{job="${job}"} was not 1 within ${POLL_LIMIT_MS} ms; last: ${last}${diagnostics()}`);
      }
      await sleep(POLL_STEP_MS);
    }
  }

  beforeAll(async () => {
    // Both dialects in one directory, as when a Python and a Ruby app share a volume.
    const dir = mkdtempSync(join(tmpdir(), 'mpe-promserver-dir-'));
    tempDirs.push(dir);
    for (const c of CASES) {
      const dbs = readdirSync(join(FIXTURES, c)).filter((f) => f.endsWith('.db'));
      dbCounts[c] = dbs.length;
      for (const f of dbs) copyFileSync(join(FIXTURES, c, f), join(dir, f));
    }
    daemon = await startDaemon(['--dir', dir, '--label', 'shard=test', '--liveness', 'off']);
    const daemonUrl = daemon.url;

    // Pass-through proxy for the second job: records what Prometheus asked for and got.
    recorder = createHttpServer((req, res) => {
      const accept = req.headers.accept ?? '';
      fetch(`${daemonUrl}${req.url ?? '/metrics'}`, { headers: { accept }, signal: AbortSignal.timeout(5_000) })
        .then(async (upstream) => {
          const contentType = upstream.headers.get('content-type') ?? '';
          const body = Buffer.from(await upstream.arrayBuffer());
          recorded.push({ accept, contentType, status: upstream.status });
          res.writeHead(upstream.status, { 'content-type': contentType });
          res.end(body);
        })
        .catch((e: unknown) => {
          res.writeHead(502);
          res.end(String(e));
        });
    });
    await new Promise<void>((resolve) => recorder!.listen(0, '127.0.0.1', resolve));
    const recorderPort = (recorder.address() as AddressInfo).port;

    const promDir = mkdtempSync(join(tmpdir(), 'mpe-promserver-prom-'));
    tempDirs.push(promDir);
    const config = join(promDir, 'prometheus.yml');
    writeFileSync(
      config,
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        `  - job_name: ${JOB}`,
        '    metrics_path: /metrics',
        '    static_configs:',
        `      - targets: ['${new URL(daemonUrl).host}']`,
        `  - job_name: ${RECORDED_JOB}`,
        '    metrics_path: /metrics',
        '    static_configs:',
        `      - targets: ['127.0.0.1:${recorderPort}']`,
        '',
      ].join('\n'),
    );
    prometheus = spawn(
      PROMETHEUS,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(promDir, 'data')}`,
        '--storage.tsdb.retention.time=1h',
        '--web.listen-address=127.0.0.1:0', // a port picked beforehand could be taken meanwhile
        '--web.enable-lifecycle',
        '--query.max-concurrency=2',
        '--web.max-connections=32',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], cwd: promDir },
    );
    prometheusExited = new Promise((resolve) => prometheus!.once('exit', () => resolve()));
    prometheus.stderr!.setEncoding('utf8');
    prometheus.stderr!.on('data', (chunk: string) => {
      prometheusLog = (prometheusLog + chunk).slice(-64_000);
    });

    const deadline = Date.now() + POLL_LIMIT_MS;
    api = `http://${await listeningAddress(deadline)}`;
    await waitForUp(JOB, deadline);
    await waitForUp(RECORDED_JOB, deadline);
  }, POLL_LIMIT_MS + 20_000);

  afterAll(async () => {
    if (prometheus !== undefined && prometheus.exitCode === null && prometheus.signalCode === null) {
      prometheus.kill('SIGTERM');
      const killer = setTimeout(() => prometheus!.kill('SIGKILL'), 5_000);
      await prometheusExited;
      clearTimeout(killer);
    }
    await new Promise<void>((resolve) => (recorder === undefined ? resolve() : recorder.close(() => resolve())));
    await daemon?.stop();
    for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  }, 20_000);

  it('reports the target healthy, without a scrape error', async () => {
    const res = await fetch(`${api}/api/v1/targets?state=active`, { signal: AbortSignal.timeout(5_000) });
    const body = (await res.json()) as {
      status: string;
      data: { activeTargets: { labels: Record<string, string>; scrapeUrl: string; health: string; lastError: string }[] };
    };
    expect(body.status).toBe('success');
    const target = body.data.activeTargets.find((t) => t.labels['job'] === JOB);
    expect(target, JSON.stringify(body.data.activeTargets)).toBeDefined();
    expect(target!.scrapeUrl).toBe(`${daemon!.url}/metrics`);
    expect(target!.lastError).toBe('');
    expect(target!.health).toBe('up');
  });

  it('stores exact fixture values of both dialects, with the constant label', async () => {
    // Python (prometheus_client 0.25) counter.
    const getOk = fixtureValue('http_requests_total', { method: 'GET', status: '200' });
    expect(getOk).toBe(10);
    expect(await single(`http_requests_total{job="${JOB}",shard="test",method="GET",status="200"}`)).toBe(getOk);
    // Ruby (prometheus-client-mmap) livesum gauge, a fractional sum over three processes.
    const shared = fixtureValue('rb_g_livesum', { k: 'shared' });
    expect(shared).toBe(11.5);
    expect(await single(`rb_g_livesum{job="${JOB}",shard="test",k="shared"}`)).toBe(shared);
    // Python histogram bucket (le as written by Python: "0.25").
    const bucket = fixtureValue('http_request_duration_seconds_bucket', { method: 'GET', le: '0.25' });
    expect(bucket).toBe(6);
    expect(await single(`http_request_duration_seconds_bucket{job="${JOB}",shard="test",method="GET",le="0.25"}`)).toBe(bucket);
    // Ruby histogram sum: a large non-integer that must survive the round trip exactly.
    const rbSum = fixtureValue('rb_latency_seconds_sum', { route: '/api' });
    expect(rbSum).toBe(1048604.8125);
    expect(await single(`rb_latency_seconds_sum{job="${JOB}",shard="test",route="/api"}`)).toBe(rbSum);
    // Python gauge with a per-process pid label (liveall mode).
    expect(await single(`worker_started_unixtime{job="${JOB}",shard="test",pid="5619"}`)).toBe(fixtureValue('worker_started_unixtime', { pid: '5619' }));
    // PromQL over the stored series: the Ruby counter family summed.
    expect(await single(`sum(rb_requests_total{job="${JOB}"})`)).toBe(
      fixtureValue('rb_requests_total', { code: '200', method: 'GET' }) + fixtureValue('rb_requests_total', { code: '500', method: 'POST' }),
    );
  });

  it('stores every fixture series, each with shard="test", and nothing else', async () => {
    const result = await query(`{job="${JOB}",__name__!~"multiproc_exporter_.*|up|scrape_.*"}`);
    const stored = new Map<string, number>();
    const withoutShard: string[] = [];
    for (const { metric, value } of result) {
      const { __name__: name, job, instance, shard, ...labels } = metric;
      expect(job).toBe(JOB);
      expect(instance).toBe(new URL(daemon!.url).host);
      if (shard !== 'test') withoutShard.push(JSON.stringify(metric));
      stored.set(seriesKey(name!, Object.entries(labels)), Number(value[1]));
    }
    expect(withoutShard).toEqual([]);
    const lines = (m: Map<string, number>) => [...m].map(([k, v]) => `${k} ${v}`).sort();
    expect(lines(stored)).toEqual(lines(EXPECTED));
    expect(stored.size).toBeGreaterThan(90); // not vacuous: the two fixtures hold 96 series
  });

  it("ingests the daemon's self metrics, counting the files of each dialect", async () => {
    const count = await single(`count({job="${JOB}",__name__=~"multiproc_exporter_.*"}) > 0`);
    expect(count).toBeGreaterThan(0);
    const files = await query(`sum by (dialect) (multiproc_exporter_files{job="${JOB}"})`);
    const byDialect = Object.fromEntries(files.map((s) => [s.metric['dialect'], Number(s.value[1])]));
    expect(byDialect).toEqual({ python: dbCounts['v025-app_realistic'], ruby: dbCounts['rb-basic'] });
    expect(await single(`multiproc_exporter_directory_readable{job="${JOB}"}`)).toBe(1);
  });

  it('was offered OpenMetrics by Prometheus and served it', async () => {
    expect(recorded.length).toBeGreaterThan(0);
    for (const s of recorded) {
      expect(s.status).toBe(200);
      expect(s.accept).toMatch(/^application\/openmetrics-text/);
      expect(s.contentType).toMatch(/^application\/openmetrics-text; version=1\.0\.0/);
    }
    // The OpenMetrics body was ingested: the same value through the recording job.
    expect(await single(`http_requests_total{job="${RECORDED_JOB}",method="GET",status="200"}`)).toBe(fixtureValue('http_requests_total', { method: 'GET', status: '200' }));
  });
});
