/**
 * Load: 64 concurrent scrapers (autocannon, in its own process) hammer
 * /metrics of a directory of 16 worker files for a bounded time (5 s; 60 s under
 * `npm run soak`) on 127.0.0.1, at up to 3,200 scrapes/s in all (autocannon unthrottled would
 * take a whole core of the two this machine has, and measure the machine, not the daemon). Zero errors and zero non-2xx responses; /liveness, probed on a
 * fresh connection every 10 ms during the load, answers with p99 < 50 ms; the daemon's resident
 * memory stays bounded. --web.max-requests is raised to 64 for the 64 scrapers (the default, 40,
 * would answer the rest 503 by design; limits.test.ts proves that). The test runs alone, after
 * every other test file (vitest.config.ts), so that nothing else competes for the two cores; a
 * window whose p99 a stall of the machine spoilt is measured again, at most 3 windows.
 */
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { buildDb } from '../helpers/db-bytes.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { get, mergedLines } from '../helpers/scrape.js';
import { scaled } from '../helpers/soak.js';

const CONNECTIONS = 64;
/** Scrapes per second over all connections: ~800 times what 64 Prometheus servers scraping every 15 s send. */
const RATE = 3_200;
const SECONDS = scaled(5, 60);
/** Load windows at most, until one has /liveness p99 < 50 ms (see below). */
const WINDOWS = 3;
const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon/autocannon.js');
/** Resident memory the daemon may reach under this load (it idles at ~60 MiB). */
const RSS_LIMIT_MIB = 160;

const tmp = mkdtempSync(join(tmpdir(), 'mpe-load-'));
let daemon: Daemon | undefined;
afterAll(async () => {
  await daemon?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

interface AutocannonResult {
  readonly requests: { readonly total: number };
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  readonly '2xx': number;
}

function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) / 1024;
}

/** One GET /liveness on a fresh connection (as a kubelet probe does); resolves its latency in ms. */
function probe(url: URL): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = httpRequest({ host: url.hostname, port: url.port, path: '/liveness', agent: false }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(Number(process.hrtime.bigint() - t0) / 1e6) : reject(new Error(`status ${res.statusCode}`))));
    });
    req.setTimeout(5_000, () => req.destroy(new Error('liveness probe timed out after 5 s')));
    req.on('error', reject);
    req.end();
  });
}

it(`${CONNECTIONS} concurrent scrapers for ${SECONDS} s: no errors, /liveness p99 < 50 ms, memory bounded`, async () => {
  for (let w = 0; w < 16; w++) {
    const entries = [
      ...Array.from({ length: 100 }, (_, i) => ({ key: `["http_requests", "http_requests_total", {"code": "${200 + (i % 5)}", "route": "/r${i}"}, "Requests."]`, value: w + i })),
      ...Array.from({ length: 10 }, (_, r) =>
        [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, '+Inf'].map((le) => ({
          key: `["latency_seconds", "latency_seconds_bucket", {"le": "${le}", "route": "/r${r}"}, "Latency."]`,
          value: 1,
        })),
      ).flat(),
    ];
    writeFileSync(join(tmp, `counter_${1000 + w}.db`), buildDb(entries.slice(0, 100), { slot: 16 }));
    writeFileSync(join(tmp, `histogram_${1000 + w}.db`), buildDb(entries.slice(100), { slot: 16 }));
  }
  daemon = await startDaemon(['--dir', tmp, '--web.max-requests', String(CONNECTIONS)]);
  const pid = daemon.child.pid!;
  const url = new URL(`${daemon.url}/metrics`);
  const first = await get(url.href);
  expect(first.status).toBe(200);
  expect(mergedLines(first.body)).toContain('http_requests_total{code="200",route="/r0"} 120'); // 0 + 1 + … + 15
  const idleRss = rssMiB(pid);

  interface Window {
    readonly result: AutocannonResult;
    readonly probeErrors: readonly string[];
    readonly sorted: readonly number[];
    readonly p99: number;
    readonly peakRss: number;
  }
  /** One load window: autocannon for SECONDS, /liveness probed every 10 ms meanwhile, RSS sampled. */
  const loadWindow = async (): Promise<Window> => {
    const cannon = spawn(process.execPath, [AUTOCANNON, '-c', String(CONNECTIONS), '-d', String(SECONDS), '-R', String(RATE), '-j', url.href], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    cannon.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    const cannonDone = new Promise<number | null>((resolve) => cannon.once('exit', resolve));
    let loading = true;
    void cannonDone.then(() => (loading = false));
    const latencies: number[] = [];
    const probeErrors: string[] = [];
    let peakRss = idleRss;
    await new Promise((r) => setTimeout(r, 500)); // let autocannon connect and ramp up
    const deadline = Date.now() + SECONDS * 1_000 + 30_000;
    while (loading && Date.now() < deadline) {
      try {
        latencies.push(await probe(url));
      } catch (e) {
        probeErrors.push((e as Error).message);
      }
      peakRss = Math.max(peakRss, rssMiB(pid));
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await cannonDone).toBe(0);
    const sorted = [...latencies].sort((a, b) => a - b);
    const p99 = sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)] ?? Infinity;
    return { result: JSON.parse(out) as AutocannonResult, probeErrors, sorted, p99, peakRss };
  };

  // The p99 is the daemon's, but on a shared two-core machine another process can stall the
  // prober or the daemon for longer than 50 ms now and then. A window spoilt that way is
  // measured again, at most WINDOWS times; errors, memory and the load itself are checked in
  // every window, so only the latency gets a second chance.
  const windows: Window[] = [];
  for (let i = 0; i < WINDOWS; i++) {
    const w = await loadWindow();
    windows.push(w);
    console.log(
      `load window ${i + 1}: ${w.result.requests.total} scrapes in ${SECONDS} s by ${CONNECTIONS} connections; /liveness p50 ${w.sorted[w.sorted.length >> 1]?.toFixed(1)} ms, p99 ${w.p99.toFixed(1)} ms over ${w.sorted.length} probes; RSS idle ${idleRss.toFixed(0)} MiB, peak ${w.peakRss.toFixed(0)} MiB`,
    );
    expect({ errors: w.result.errors, timeouts: w.result.timeouts, non2xx: w.result.non2xx }).toEqual({ errors: 0, timeouts: 0, non2xx: 0 });
    expect(w.result['2xx']).toBe(w.result.requests.total);
    expect(w.result.requests.total).toBeGreaterThan((RATE * SECONDS) / 2); // the load did happen
    expect(w.probeErrors).toEqual([]);
    expect(w.sorted.length).toBeGreaterThanOrEqual(SECONDS * 10); // measured during the load, not after
    expect(w.peakRss).toBeLessThan(RSS_LIMIT_MIB);
    if (w.p99 < 50) break;
  }
  expect(Math.min(...windows.map((w) => w.p99))).toBeLessThan(50);

  // Still exact after the load.
  const after = await get(url.href);
  expect(mergedLines(after.body)).toEqual(mergedLines(first.body));
}, scaled(90_000, 300_000));
