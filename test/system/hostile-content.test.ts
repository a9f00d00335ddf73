/**
 * The hostile-content battery: one directory holding every kind of bad-but-servable content
 * (test/helpers/hostile-dir.ts) beside good series from the real Python and Ruby libraries and
 * our writer, served by one daemon and read by the strict consumers:
 *
 * - `promtool check metrics` (client_golang's expfmt and promlint) on the text 0.0.4 body;
 * - prometheus_client's OpenMetrics parser on the OpenMetrics body;
 * - a real Prometheus (Debian's 2.42) scraping in OpenMetrics (its default Accept) and, through
 *   a proxy that forces `Accept: text/plain;version=0.0.4` (2.42 has no scrape_protocols), in
 *   text 0.0.4.
 *
 * All of them accept the scrape; every good series arrives with its exact value and help; every
 * bad one is absent; the daemon counts each reason exactly and logs each rejection once however
 * often it is scraped. Everything on 127.0.0.1, every wait bounded.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { buildHostileDir, seriesKey, type HostileDir } from '../helpers/hostile-dir.js';
import { parseExposition } from '../helpers/parse-exposition.js';
import { IN_CI, peerAvailableUnderCi, peers } from '../helpers/peers.js';
import { get } from '../helpers/scrape.js';

const PROMETHEUS = '/usr/bin/prometheus';
const DIST = join(import.meta.dirname, '..', '..', 'dist');
const OM_JOB = 'hostile_om';
const TEXT_JOB = 'hostile_text';
const ACCEPT_OM = 'application/openmetrics-text; version=1.0.0';
const ACCEPT_TEXT = 'text/plain;version=0.0.4';
const POLL_LIMIT_MS = 30_000;
const POLL_STEP_MS = 250;
/** Prometheus scrapes per job before the logs are judged (each rejection must still be logged once). */
const SCRAPES = 3;

const { promtool, python, ruby } = peers();
const prometheusAvailable = spawnSync(PROMETHEUS, ['--version'], { timeout: 20_000 }).status === 0;
if (!prometheusAvailable && !IN_CI) console.warn(`hostile-content battery skipped: \`${PROMETHEUS} --version\` failed; install Debian's prometheus`);
peerAvailableUnderCi(promtool);
peerAvailableUnderCi(python);
peerAvailableUnderCi(ruby);
it("prometheus server (Debian's prometheus) is installed when CI=true", () => {
  expect(prometheusAvailable || !IN_CI).toBe(true);
});
const available = promtool.available && python.available && ruby.available && prometheusAvailable;

/** Values compared as numbers, where NaN equals NaN and -0 is not 0. */
const same = (a: number, b: number): boolean => Object.is(a, b);
const show = (v: number): string => (Object.is(v, -0) ? '-0' : String(v));
const lines = (m: ReadonlyMap<string, number>): string[] => [...m].map(([k, v]) => `${k} ${show(v)}`).sort();

/** Prometheus' and Python's value texts. */
function parseNumber(text: string): number {
  if (text === '+Inf' || text === 'inf') return Infinity;
  if (text === '-Inf' || text === '-inf') return -Infinity;
  if (text === 'NaN' || text === 'nan') return NaN;
  return Number(text);
}

/** Merged series of a body (self metrics left aside): series key → value. */
function merged(body: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of parseExposition(body).samples) {
    if (s.name.startsWith('multiproc_exporter_')) continue;
    const key = seriesKey(s.name, s.labels);
    if (out.has(key)) throw new Error(`two samples ${key}`);
    out.set(key, s.value);
  }
  return out;
}

function byReason(body: string, metric: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of parseExposition(body).samples) if (s.name === `multiproc_exporter_${metric}`) out[s.labels.find((l) => l[0] === 'reason')![1]] = s.value;
  return out;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// Every sample of the OpenMetrics body as prometheus_client's parser reads it: [name, labels, repr(value)].
const OM_PARSE = String.raw`
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for fam in text_string_to_metric_families(sys.stdin.buffer.read().decode('utf-8')):
    for s in fam.samples:
        out.append([fam.name, fam.documentation, s.name, sorted(s.labels.items()), repr(float(s.value))])
print(json.dumps(out))
`;

interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

describe.skipIf(!available)('hostile content: one directory, every strict consumer', () => {
  const tempDirs: string[] = [];
  let hostile: HostileDir;
  let daemon: Daemon;
  let proxy: Server | undefined;
  let prometheus: ChildProcess | undefined;
  let prometheusExited: Promise<void> | undefined;
  let prometheusLog = '';
  let api = '';
  /** What the proxy asked for and got. */
  const proxied: { accept: string; contentType: string; status: number }[] = [];

  const diagnostics = (): string => `\n--- prometheus (tail) ---\n${prometheusLog.slice(-4000)}\n--- daemon (tail) ---\n${daemon?.stderr().slice(-3000) ?? ''}`;

  async function query(promql: string): Promise<VectorSample[]> {
    const res = await fetch(`${api}/api/v1/query`, { method: 'POST', body: new URLSearchParams({ query: promql }), signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: VectorSample[] } };
    if (body.status !== 'success' || body.data?.resultType !== 'vector') throw new Error(`query ${promql} failed (${res.status}): ${body.error ?? JSON.stringify(body)}`);
    return body.data.result;
  }

  /** Bounded poll of Prometheus until `ok` holds for the query result. */
  async function waitFor(what: string, promql: string, ok: (r: VectorSample[]) => boolean, deadline: number): Promise<void> {
    let last: string;
    for (;;) {
      if (prometheus === undefined || prometheus.exitCode !== null || prometheus.signalCode !== null) throw new Error(`prometheus exited before ${what}${diagnostics()}`);
      try {
        const r = await query(promql);
        last = JSON.stringify(r).slice(0, 500);
        if (ok(r)) return;
      } catch (e) {
        last = String(e); // 503 while Prometheus starts
      }
      if (Date.now() + POLL_STEP_MS > deadline) throw new Error(`${what} not reached within ${POLL_LIMIT_MS} ms; last: ${last}${diagnostics()}`);
      await sleep(POLL_STEP_MS);
    }
  }

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mpe-hostile-'));
    tempDirs.push(dir);
    hostile = buildHostileDir(dir, DIST);
    // The writers have exited: read their files as the libraries do.
    daemon = await startDaemon(['--dir', dir, '--liveness', 'off']);
    const upstream = daemon.url;

    proxy = createHttpServer((req, res) => {
      fetch(`${upstream}${req.url ?? '/metrics'}`, { headers: { accept: ACCEPT_TEXT }, signal: AbortSignal.timeout(10_000) })
        .then(async (r) => {
          const contentType = r.headers.get('content-type') ?? '';
          const body = Buffer.from(await r.arrayBuffer());
          proxied.push({ accept: req.headers.accept ?? '', contentType, status: r.status });
          res.writeHead(r.status, { 'content-type': contentType });
          res.end(body);
        })
        .catch((e: unknown) => {
          res.writeHead(502);
          res.end(String(e));
        });
    });
    await new Promise<void>((resolve) => proxy!.listen(0, '127.0.0.1', resolve));
    const proxyPort = (proxy.address() as AddressInfo).port;

    const promDir = mkdtempSync(join(tmpdir(), 'mpe-hostile-prom-'));
    tempDirs.push(promDir);
    const config = join(promDir, 'prometheus.yml');
    const job = (name: string, target: string): string[] => [`  - job_name: ${name}`, '    static_configs:', `      - targets: ['${target}']`];
    writeFileSync(config, ['global:', '  scrape_interval: 1s', '  evaluation_interval: 1s', 'scrape_configs:', ...job(OM_JOB, new URL(upstream).host), ...job(TEXT_JOB, `127.0.0.1:${proxyPort}`), ''].join('\n'));
    const promPort = await freePort();
    api = `http://127.0.0.1:${promPort}`;
    prometheus = spawn(
      PROMETHEUS,
      [`--config.file=${config}`, `--storage.tsdb.path=${join(promDir, 'data')}`, '--storage.tsdb.retention.time=1h', `--web.listen-address=127.0.0.1:${promPort}`, '--query.max-concurrency=2', '--web.max-connections=32'],
      { stdio: ['ignore', 'ignore', 'pipe'], cwd: promDir },
    );
    prometheusExited = new Promise((resolve) => prometheus!.once('exit', () => resolve()));
    prometheus.stderr!.setEncoding('utf8');
    prometheus.stderr!.on('data', (chunk: string) => {
      prometheusLog = (prometheusLog + chunk).slice(-64_000);
    });
    const deadline = Date.now() + POLL_LIMIT_MS;
    for (const j of [OM_JOB, TEXT_JOB]) {
      await waitFor(`${SCRAPES} scrapes of ${j}`, `count_over_time(up{job="${j}"}[1m])`, (r) => r.length === 1 && Number(r[0]!.value[1]) >= SCRAPES, deadline);
    }
  }, POLL_LIMIT_MS + 25_000);

  afterAll(async () => {
    if (prometheus !== undefined && prometheus.exitCode === null && prometheus.signalCode === null) {
      prometheus.kill('SIGTERM');
      const killer = setTimeout(() => prometheus!.kill('SIGKILL'), 5_000);
      await prometheusExited;
      clearTimeout(killer);
    }
    await new Promise<void>((resolve) => (proxy === undefined ? resolve() : proxy.close(() => resolve())));
    await daemon?.stop();
    for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  }, 20_000);

  it('serves exactly the good series with their exact values and help, in both formats', async () => {
    const text = (await get(`${daemon.url}/metrics`, { accept: ACCEPT_TEXT })).body;
    const om = (await get(`${daemon.url}/metrics`, { accept: ACCEPT_OM })).body;
    expect(lines(merged(text))).toEqual(lines(hostile.expected));
    expect(lines(merged(om))).toEqual(lines(hostile.expected));
    expect(hostile.expected.size).toBeGreaterThan(50); // not vacuous
    const help = (body: string) => new Map([...parseExposition(body).help].filter(([name]) => !name.startsWith('multiproc_exporter_')));
    expect(help(text)).toEqual(hostile.textHelp);
    expect(help(om)).toEqual(hostile.help);
  });

  it('promtool check metrics accepts the text 0.0.4 body: exit 0, not even a lint warning', async () => {
    const body = (await get(`${daemon.url}/metrics`, { accept: ACCEPT_TEXT })).body;
    const r = spawnSync(promtool.command, ['check', 'metrics'], { input: body, encoding: 'utf8', timeout: 20_000 });
    expect({ status: r.status, output: r.stdout + r.stderr }).toEqual({ status: 0, output: '' });
  });

  it("prometheus_client's OpenMetrics parser reads the OpenMetrics body without error: the good series, their help, nothing else", async () => {
    const body = (await get(`${daemon.url}/metrics`, { accept: ACCEPT_OM })).body;
    const r = spawnSync(python.command, ['-c', OM_PARSE], { input: body, encoding: 'utf8', timeout: 20_000, maxBuffer: 64 << 20 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const samples = JSON.parse(r.stdout) as [string, string, string, [string, string][], string][];
    const got = new Map<string, number>();
    const help = new Map<string, string>();
    for (const [family, documentation, name, labels, value] of samples) {
      if (name.startsWith('multiproc_exporter_')) continue;
      got.set(seriesKey(name, labels), parseNumber(value));
      help.set(family, documentation);
    }
    // The parser reads "-0" with int(), which has no negative zero.
    const expected = new Map([...hostile.expected].map(([k, v]) => [k, Object.is(v, -0) ? 0 : v]));
    expect(lines(got)).toEqual(lines(expected));
    expect(help).toEqual(hostile.help);
  });

  it('Prometheus scrapes both formats with up == 1 and no scrape error (a worker gauge named up does not replace it)', async () => {
    const res = await fetch(`${api}/api/v1/targets?state=active`, { signal: AbortSignal.timeout(10_000) });
    const targets = ((await res.json()) as { data: { activeTargets: { labels: Record<string, string>; health: string; lastError: string }[] } }).data.activeTargets;
    expect(targets.map((t) => [t.labels['job'], t.health, t.lastError]).sort()).toEqual([
      [OM_JOB, 'up', ''],
      [TEXT_JOB, 'up', ''],
    ]);
    const up = await query(`up{job=~"${OM_JOB}|${TEXT_JOB}"}`);
    expect(up.map((s) => [s.metric['job'], s.value[1]]).sort()).toEqual([
      [OM_JOB, '1'],
      [TEXT_JOB, '1'],
    ]);
    // Prometheus' own count, not the worker's -7.
    for (const s of await query(`scrape_samples_scraped{job=~"${OM_JOB}|${TEXT_JOB}"}`)) expect(Number(s.value[1])).toBeGreaterThan(hostile.expected.size);
    // Each job got the format it asked for.
    expect(proxied.length).toBeGreaterThanOrEqual(SCRAPES);
    for (const p of proxied) {
      expect(p.accept).toMatch(/^application\/openmetrics-text/); // what Prometheus 2.42 offers by default
      expect([p.status, p.contentType]).toEqual([200, 'text/plain; version=0.0.4; charset=utf-8']);
    }
  });

  it.each([OM_JOB, TEXT_JOB])('Prometheus (%s) stored every good series with its exact value, and no bad one', async (job) => {
    const result = await query(`{job="${job}",__name__!~"multiproc_exporter_.*|up|scrape_.*"}`);
    const stored = new Map<string, number>();
    for (const { metric, value } of result) {
      const { __name__: name, job: j, instance, ...labels } = metric;
      expect(j).toBe(job);
      expect(instance).toBeDefined();
      stored.set(seriesKey(name!, Object.entries(labels)), parseNumber(value[1]));
    }
    expect(lines(stored)).toEqual(lines(hostile.expected));
    for (const [k, v] of hostile.expected) expect(same(stored.get(k)!, v), k.slice(0, 200)).toBe(true);
  });

  it.each([
    [OM_JOB, 'help'],
    [TEXT_JOB, 'textHelp'],
  ] as const)('Prometheus (%s) stored the help of every good family, control characters and all', async (job, which) => {
    const res = await fetch(`${api}/api/v1/targets/metadata?match_target=${encodeURIComponent(`{job="${job}"}`)}`, { signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as { status: string; data: { metric: string; help: string }[] };
    expect(body.status).toBe('success');
    const help = new Map(body.data.filter((m) => !m.metric.startsWith('multiproc_exporter_')).map((m) => [m.metric, m.help]));
    expect(help).toEqual(hostile[which]);
  });

  it('counts each rejection and skipped file by reason, and logs each once however often it was scraped', async () => {
    const body = (await get(`${daemon.url}/metrics`)).body;
    expect(byReason(body, 'exposition_rejected')).toEqual(hostile.rejected);
    const skippedCounts: Record<string, number> = {};
    for (const reason of Object.values(hostile.skipped)) skippedCounts[reason] = (skippedCounts[reason] ?? 0) + 1;
    expect(byReason(body, 'files_skipped')).toEqual(skippedCounts);
    expect(byReason(body, 'skipped_files_total')).toEqual(skippedCounts);
    const scrapes = parseExposition(body).samples.find((s) => s.name === 'multiproc_exporter_scrape_duration_seconds_count')!.value;
    expect(scrapes).toBeGreaterThanOrEqual(2 * SCRAPES + 3);

    const rejectionLogs = daemon.logs.filter((l) => String(l['msg']).startsWith('exposition: '));
    const perReason: Record<string, number> = {};
    for (const l of rejectionLogs) perReason[String(l['reason'])] = (perReason[String(l['reason'])] ?? 0) + 1;
    expect(perReason).toEqual(hostile.rejected); // once each, not once per scrape
    const keys = rejectionLogs.map((l) => `${String(l['reason'])} ${String(l['family'])} ${String(l['series'])}`);
    expect(new Set(keys).size).toBe(keys.length);
    const fileLogs = daemon.logs.filter((l) => typeof l['file'] === 'string').map((l) => [l['file'], l['reason']]);
    expect(fileLogs.sort()).toEqual(Object.entries(hostile.skipped).sort());
    expect(daemon.logs.filter((l) => l['level'] === 'error')).toEqual([]);
    expect((await get(`${daemon.healthUrl}/liveness`)).status).toBe(200);
    expect({ exitCode: daemon.child.exitCode, signal: daemon.child.signalCode }).toEqual({ exitCode: null, signal: null });
  });
});
