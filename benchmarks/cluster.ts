/**
 * In-process vs sidecar (the headline): a Node cluster of 8 HTTP workers under autocannon load,
 * every request recorded in a labelled counter and a histogram, each worker holding 10,000 more
 * series; /metrics scraped every 100 ms during the load. Configurations (drivers/cluster_app.ts):
 * (a) no metrics, (b) prom-client + AggregatorRegistry in the primary, (c) prom-client with each
 * worker serving its own /metrics on the shared port, (d) our writer + the daemon as a sidecar.
 *
 *   npm run bench -- cluster
 */
import { fork, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import type { ClusterMode, PrimaryMessage } from './drivers/cluster_app.js';
import type { ScrapeLoopResult } from './drivers/scrape_loop.js';
import { DRIVERS } from './harness/drivers.js';
import { cpuSeconds, httpGet, startDaemon, waitForFile, type DaemonProcess } from './harness/processes.js';
import {
  barChart,
  formatMs,
  goal,
  median,
  percentile,
  PROFILE_NOTE,
  profileTable,
  table,
  summarizeCpuProfile,
  writeChart,
} from './harness/report.js';
import { removeTempDir, tempDir, track } from './harness/resources.js';

const WORKERS = 8;
const SERIES_PER_WORKER = 10_000;
const ROUNDS = 5;
const CONNECTIONS = 32;
const WARM_UP_SECONDS = 2;
const LOAD_SECONDS = 8;
const SCRAPE_INTERVAL_MS = 100;

interface Configuration {
  readonly key: 'a' | 'b' | 'c' | 'd';
  readonly mode: ClusterMode;
  readonly title: string;
}

const CONFIGURATIONS: readonly Configuration[] = [
  { key: 'a', mode: 'none', title: '(a) no metrics' },
  { key: 'b', mode: 'aggregator', title: '(b) prom-client, AggregatorRegistry in the primary' },
  { key: 'c', mode: 'per-worker', title: '(c) prom-client, each worker serves /metrics' },
  { key: 'd', mode: 'sidecar', title: '(d) our writer + daemon (sidecar)' },
];

interface RoundResult {
  readonly requestsPerSecond: number;
  readonly scrapeMs: readonly number[];
  readonly scrapeFailures: number;
  readonly scrapeBytes: number;
  /** CPU cores used during the measured load, by process group. */
  readonly exporterCores: number;
  /** Exporter (primary or daemon) CPU per scrape answered. */
  readonly exporterCpuMsPerScrape: number;
  readonly workerCores: number;
  readonly scraperCores: number;
  readonly loadGeneratorCores: number;
  /** Scraped http_requests_total after the load, and the requests the workers served. */
  readonly scrapedTotal: number;
  readonly served: number;
}

interface ClusterApp {
  readonly child: ChildProcess;
  readonly ready: Extract<PrimaryMessage, { type: 'ready' }>;
  served(): Promise<number>;
  stop(): Promise<void>;
}

function message<T extends PrimaryMessage['type']>(child: ChildProcess, type: T, timeoutMs: number): Promise<Extract<PrimaryMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`cluster app sent no ${type} message in ${timeoutMs} ms`)), timeoutMs);
    const on = (m: PrimaryMessage): void => {
      if (m.type !== type) return;
      clearTimeout(timer);
      child.off('message', on);
      resolve(m as Extract<PrimaryMessage, { type: T }>);
    };
    child.on('message', on);
  });
}

async function startCluster(mode: ClusterMode, dir: string | null): Promise<ClusterApp> {
  const env = { ...process.env, BENCH_MODE: mode, BENCH_WORKERS: String(WORKERS), BENCH_SERIES: String(SERIES_PER_WORKER), BENCH_DIR: dir ?? '' };
  const child = track(fork(join(DRIVERS, 'cluster_app.ts'), [], { env, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await message(child, 'ready', 120_000);
  return {
    child,
    ready,
    served: async () => {
      const answer = message(child, 'served', 10_000);
      child.send({ type: 'served?' });
      return (await answer).total;
    },
    stop: async () => {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

async function scrapeLoop(url: string): Promise<{ pid: number; stop: () => Promise<ScrapeLoopResult> }> {
  const child = track(fork(join(DRIVERS, 'scrape_loop.ts'), [url, String(SCRAPE_INTERVAL_MS)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  await new Promise<void>((resolve) => child.once('message', () => resolve()));
  return {
    pid: child.pid!,
    stop: () =>
      new Promise((resolve) => {
        child.once('message', (m: ScrapeLoopResult) => resolve(m));
        child.send({ type: 'stop' });
      }),
  };
}

/** Sum of `http_requests_total` samples in a text exposition. */
function requestsTotal(text: string): number {
  let total = 0;
  for (const line of text.split('\n')) if (line.startsWith('http_requests_total')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  return total;
}

const sumCpu = (pids: readonly number[]): number => pids.reduce((s, pid) => s + cpuSeconds(pid), 0);

/** One measured run of a configuration; `profile` (sidecar only): CPU-profile the daemon during the load into that file. */
async function runRound(c: Configuration, profile: string | null = null): Promise<RoundResult> {
  const dir = c.mode === 'sidecar' ? tempDir('cluster') : null;
  const app = await startCluster(c.mode, dir);
  let daemon: DaemonProcess | null = null;
  try {
    if (dir !== null) {
      daemon =
        profile === null
          ? await startDaemon(dir)
          : await startDaemon(dir, ['--import', 'tsx', '--import', join(DRIVERS, 'profile_on_signal.ts')], { MPE_BENCH_PROFILE: profile });
    }
    const appUrl = `http://127.0.0.1:${app.ready.appPort}/`;
    const metricsUrl =
      c.mode === 'aggregator' ? `http://127.0.0.1:${app.ready.metricsPort}/metrics` : c.mode === 'per-worker' ? `${appUrl}metrics` : daemon !== null ? daemon.metricsUrl : null;
    // Not measured: a first scrape (the daemon's cold one; JIT for the others) and a short load.
    if (metricsUrl !== null) await httpGet(metricsUrl);
    await autocannon({ url: appUrl, connections: CONNECTIONS, duration: WARM_UP_SECONDS });

    const exporterPids = daemon !== null ? [daemon.pid] : [app.child.pid!];
    const scraper = metricsUrl !== null ? await scrapeLoop(metricsUrl) : null;
    if (profile !== null && daemon !== null) {
      daemon.child.kill('SIGUSR2');
      await waitForFile(`${profile}.started`, 10_000);
    }
    const cpu0 = { exporter: sumCpu(exporterPids), workers: sumCpu(app.ready.workerPids), scraper: scraper === null ? 0 : cpuSeconds(scraper.pid), self: process.cpuUsage() };
    const t0 = performance.now();
    const load = await autocannon({ url: appUrl, connections: CONNECTIONS, duration: LOAD_SECONDS });
    const seconds = (performance.now() - t0) / 1000;
    const cpu1 = { exporter: sumCpu(exporterPids), workers: sumCpu(app.ready.workerPids), scraper: scraper === null ? 0 : cpuSeconds(scraper.pid), self: process.cpuUsage(cpu0.self) };
    const scrapes = scraper === null ? null : await scraper.stop();
    if (profile !== null && daemon !== null) {
      daemon.child.kill('SIGUSR2');
      await waitForFile(profile, 30_000);
    }

    await new Promise((r) => setTimeout(r, 200));
    const served = await app.served();
    const scrapedTotal = metricsUrl === null ? NaN : requestsTotal((await httpGet(metricsUrl)).body.toString('utf8'));
    if (load.errors > 0 || load.non2xx > 0) throw new Error(`${c.title}: ${load.errors} errors, ${load.non2xx} non-2xx responses under load`);
    return {
      requestsPerSecond: load['2xx'] / load.duration,
      scrapeMs: scrapes?.latenciesMs ?? [],
      scrapeFailures: scrapes?.failures ?? 0,
      scrapeBytes: scrapes?.bytes ?? 0,
      exporterCores: (cpu1.exporter - cpu0.exporter) / seconds,
      exporterCpuMsPerScrape: scrapes === null || scrapes.latenciesMs.length === 0 ? NaN : ((cpu1.exporter - cpu0.exporter) * 1000) / scrapes.latenciesMs.length,
      workerCores: (cpu1.workers - cpu0.workers) / seconds,
      scraperCores: (cpu1.scraper - cpu0.scraper) / seconds,
      loadGeneratorCores: (cpu1.self.user + cpu1.self.system) / 1e6 / seconds,
      scrapedTotal,
      served,
    };
  } finally {
    await daemon?.stop();
    await app.stop();
    if (dir !== null) removeTempDir(dir);
  }
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

export async function clusterScenario(): Promise<string> {
  const results = new Map<Configuration['key'], RoundResult[]>(CONFIGURATIONS.map((c) => [c.key, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of CONFIGURATIONS) {
      process.stderr.write(`  round ${round + 1}/${ROUNDS} ${c.title}\n`);
      results.get(c.key)!.push(await runRound(c));
    }
  }
  // One more (d) run, not in the figures: a CPU profile of the daemon while it is scraped under load.
  const profileFile = join(tempDir('cluster-profile'), 'daemon.cpuprofile');
  process.stderr.write('  profiled extra run of (d)\n');
  const profiled = await runRound(CONFIGURATIONS.find((c) => c.key === 'd')!, profileFile);
  const profile = summarizeCpuProfile(profileFile, 14);

  const of = (k: Configuration['key']): RoundResult[] => results.get(k)!;
  /** Per round, against the same round's (a); median over rounds. */
  const loss = (k: Configuration['key']): number => median(of(k).map((r, i) => 1 - r.requestsPerSecond / of('a')[i]!.requestsPerSecond));
  const scrapes = (k: Configuration['key']): number[] => of(k).flatMap((r) => r.scrapeMs);
  const med = (k: Configuration['key'], f: (r: RoundResult) => number): number => median(of(k).map(f));

  const rpsA = med('a', (r) => r.requestsPerSecond);
  const rows: string[][] = [
    ['configuration', 'requests/s (median)', 'lost vs (a), paired per round', 'lost vs (a), of the medians', 'scrape p50', 'scrape p99', 'scrapes (all rounds)', 'exporter CPU (cores)', 'exporter CPU per scrape', 'workers CPU', 'scraper CPU', 'scraped counter vs requests served'],
  ];
  for (const c of CONFIGURATIONS) {
    const s = scrapes(c.key);
    const exporter = c.key === 'd' ? 'daemon' : c.key === 'c' ? 'primary; the workers answer scrapes' : 'primary';
    const correctness = of(c.key).map((r) => r.scrapedTotal / r.served);
    const exact = of(c.key).every((r) => r.scrapedTotal === r.served);
    rows.push([
      c.title,
      med(c.key, (r) => r.requestsPerSecond).toFixed(0),
      c.key === 'a' ? '—' : pct(loss(c.key)),
      c.key === 'a' ? '—' : pct(1 - med(c.key, (r) => r.requestsPerSecond) / rpsA),
      s.length === 0 ? '—' : `${formatMs(percentile(s, 50))} ms`,
      s.length === 0 ? '—' : `${formatMs(percentile(s, 99))} ms`,
      s.length === 0 ? '—' : `${s.length} (${of(c.key).reduce((n, r) => n + r.scrapeFailures, 0)} failed)`,
      `${med(c.key, (r) => r.exporterCores).toFixed(2)} (${exporter})`,
      c.key === 'a' || c.key === 'c' ? '—' : `${formatMs(med(c.key, (r) => r.exporterCpuMsPerScrape))} ms`,
      med(c.key, (r) => r.workerCores).toFixed(2),
      c.key === 'a' ? '—' : med(c.key, (r) => r.scraperCores).toFixed(2),
      c.key === 'a'
        ? '—'
        : exact
          ? `exact in every round (${of(c.key).at(-1)!.served.toLocaleString('en')} = ${of(c.key).at(-1)!.scrapedTotal.toLocaleString('en')} in the last)`
          : `${pct(median(correctness))} of served (median; rounds: ${correctness.map(pct).join(', ')})`,
    ]);
  }

  const perRound = table([
    ['round', ...CONFIGURATIONS.map((c) => `${c.key} req/s`), ...CONFIGURATIONS.filter((c) => c.key !== 'a').map((c) => `${c.key} lost`)],
    ...of('a').map((a, i) => [
      String(i + 1),
      ...CONFIGURATIONS.map((c) => of(c.key)[i]!.requestsPerSecond.toFixed(0)),
      ...CONFIGURATIONS.filter((c) => c.key !== 'a').map((c) => pct(1 - of(c.key)[i]!.requestsPerSecond / a.requestsPerSecond)),
    ]),
  ]);

  const lossD = loss('d');
  const lossB = loss('b');
  const p99B = percentile(scrapes('b'), 99);
  const p99D = percentile(scrapes('d'), 99);
  const throughputGoal = lossD <= 0.03 && lossD <= lossB / 2;
  const latencyGoal = p99D <= p99B / 10;

  const chart = writeChart(
    'cluster',
    barChart(`Node cluster, ${WORKERS} workers × ${SERIES_PER_WORKER.toLocaleString('en')} series, scraped every ${SCRAPE_INTERVAL_MS} ms`, [
      {
        title: 'Worker requests/s (median of rounds, higher is better)',
        bars: CONFIGURATIONS.map((c) => {
          const rps = med(c.key, (r) => r.requestsPerSecond);
          const l = loss(c.key);
          return { label: c.title, value: rps, text: `${rps.toFixed(0)}${c.key === 'a' ? '' : ` (${l >= 0 ? '−' : '+'}${pct(Math.abs(l))} vs (a))`}`, ours: c.key === 'd' };
        }),
      },
      {
        title: 'Scrape latency p99 (ms, lower is better)',
        log: true,
        bars: CONFIGURATIONS.filter((c) => c.key !== 'a').map((c) => {
          const p99 = percentile(scrapes(c.key), 99);
          return { label: c.title, value: p99, text: `${formatMs(p99)} ms (p50 ${formatMs(percentile(scrapes(c.key), 50))} ms)`, ours: c.key === 'd' };
        }),
      },
    ]),
  );

  const lastD = of('d').at(-1)!;
  const lastB = of('b').at(-1)!;
  return [
    `**This machine has ${cpus().length} cores.** Eight workers, the primary (or the daemon), the scraper and autocannon all share them, so every CPU cycle a configuration spends on ` +
      `metrics is taken from the workers' throughput; on a machine with a core per worker the losses would be smaller and the latencies lower. The figures compare the configurations ` +
      `with each other on this machine; they are not capacity numbers. The machine was also shared with other engineers' test runs, hence interleaving and medians.`,
    '',
    `- App (\`drivers/cluster_app.ts\`): \`node:cluster\` primary + ${WORKERS} workers on one 127.0.0.1 port; each request increments \`http_requests_total{method,route,code}\` and observes ` +
      `\`http_request_duration_seconds{method,route}\` (default buckets). Before the load each worker creates ${SERIES_PER_WORKER.toLocaleString('en')} series of its own ` +
      `(8,000 counter series, 143 histograms × 14 samples), the same names in every worker, so a merged scrape has ~10,000 series from ${(WORKERS * SERIES_PER_WORKER).toLocaleString('en')} worker series.`,
    `- Load: autocannon ${CONNECTIONS} connections (programmatic API, in the benchmark process), ${WARM_UP_SECONDS} s warm-up, then ${LOAD_SECONDS} s measured. ` +
      `Scraper (\`drivers/scrape_loop.ts\`, its own process): \`GET /metrics\` every ${SCRAPE_INTERVAL_MS} ms on a fresh connection, never two at once (a tick that finds a scrape running is skipped, as in Prometheus); ` +
      `(a) has nothing to scrape. Scrape bodies: (b) ${(lastB.scrapeBytes / 1024).toFixed(0)} KiB, (d) ${(lastD.scrapeBytes / 1024).toFixed(0)} KiB (with the daemon's own metrics).`,
    `- ${ROUNDS} rounds, configurations interleaved (a, b, c, d, a, b, …), each round a fresh cluster (and, for (d), a fresh directory and daemon). Requests/s: median over rounds; ` +
      `"lost" is 1 − rps / rps(a) of the same round, median over rounds (the goal is judged on this), and for comparison 1 − median rps / median rps(a). ` +
      `Scrape latency: percentiles of all scrapes of all rounds. CPU: user + system from /proc over the measured ${LOAD_SECONDS} s, in cores (1.00 = one core busy), median over rounds; ` +
      `per scrape: the exporter's CPU divided by the scrapes it answered (for (b) the workers also spend CPU serializing their metrics for the primary; that shows in their column). ` +
      `Correctness: after the load, one more scrape; \`http_requests_total\` summed against the requests the workers counted themselves.`,
    '',
    table(rows),
    '',
    'Every round (the spread is the machine, shared with other work; the paired loss is judged):',
    '',
    perRound,
    '',
    chart,
    '',
    `Goals: (d) loses ≤ 3% throughput and ≤ half of (b)'s loss: ${goal(throughputGoal)} ((d) ${pct(lossD)}, (b) ${pct(lossB)}). ` +
      `(d)'s scrape p99 ≤ 1/10 of (b)'s: ${goal(latencyGoal)} (${formatMs(p99D)} ms against ${formatMs(p99B)} ms, ${(p99B / p99D).toFixed(1)}×).`,
    '',
    ...(latencyGoal
      ? []
      : [
          `Why (d)'s tail is long here: a scrape needs ${formatMs(med('d', (r) => r.exporterCpuMsPerScrape))} ms of the daemon's CPU, yet takes ${formatMs(percentile(scrapes('d'), 50))} ms at p50 and ` +
            `${formatMs(p99D)} ms at p99: the rest is waiting, as the daemon and the scraper compete with ${WORKERS} busy workers for ${cpus().length} cores (the profile below is wall-clock, so the wait shows in its longest steps).`,
          '',
        ]),
    `What (d) costs, as arithmetic on the figures above: the daemon spent ${formatMs(med('d', (r) => r.exporterCpuMsPerScrape))} ms of CPU per scrape; ` +
      `at ${(1000 / SCRAPE_INTERVAL_MS).toFixed(0)} scrapes/s that is ${med('d', (r) => r.exporterCores).toFixed(2)} cores of this ${cpus().length}-core machine, taken from the workers. ` +
      `At one scrape every 15 s (a common Prometheus interval) the same work would be ${(med('d', (r) => r.exporterCpuMsPerScrape) / 15_000).toFixed(4)} cores (not measured here). ` +
      `(b) pays its aggregation in the primary (${formatMs(med('b', (r) => r.exporterCpuMsPerScrape))} ms per scrape) and in every worker, which must serialize its 10,000 series for each scrape.`,
    '',
    `Profile of the daemon in one more (d) run (not in the figures above; CPU profile of the measured ${LOAD_SECONDS} s only, \`drivers/profile_on_signal.ts\`), per scrape answered (${profiled.scrapeMs.length} scrapes). ` +
      'V8 samples wall-clock time on the main thread, so on a saturated machine a long step (such as encoding the 530 KiB body in `Buffer.from`) also collects the time the daemon waited for a core:',
    '',
    profileTable(profile, profiled.scrapeMs.length),
    '',
    PROFILE_NOTE,
    '',
    `(c) is wrong by design: whichever worker accepts the scrape's connection answers with its own counts only (about 1/${WORKERS} of the requests), and successive scrapes jump between workers, so rates computed from it are garbage.`,
    `The load generator used ${median(CONFIGURATIONS.map((c) => med(c.key, (r) => r.loadGeneratorCores))).toFixed(2)} cores (median), on the same machine.`,
    '',
  ].join('\n');
}
