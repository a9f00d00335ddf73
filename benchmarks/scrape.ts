/**
 * Scrape cost on real files: 128 processes × 1,000 entries written by Python's prometheus_client,
 * Ruby's prometheus-client-mmap and our writer. Our daemon's first scrape after start (cold) and
 * its steady-state scrapes over HTTP (warm) against each library's own reader, timed inside its
 * own process. Every exposition is checked against the values the write pattern must give.
 *
 *   npm run bench -- scrape
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  checkSamples,
  describeCheck,
  entriesPerProcess,
  expectedSamples,
  LARGE,
  largeDirectory,
  parseSamples,
  WRITER_NAME,
  WRITERS,
  type Writer,
  type SampleCheck,
} from './harness/data.js';
import { DRIVERS, PYTHON, RUBY, runProgram } from './harness/drivers.js';
import {
  cpuProfileOf,
  httpGet,
  keepAliveAgent,
  profileDaemon,
  startDaemon,
  EVERY_FILE_LIVE,
} from './harness/processes.js';
import {
  barChart,
  formatMs,
  goal,
  median,
  profileTable,
  PROFILE_NOTE,
  speedup,
  table,
  writeChart,
} from './harness/report.js';
import { tempDir } from './harness/resources.js';

const ROUNDS = 5;
/** Library reader runs per round, inside one process of that language. */
const LIBRARY_RUNS = 3;
const WARM_SCRAPES = 40;
const PROFILED_SCRAPES = 200;
/** What Prometheus sends. */
const PROMETHEUS_HEADERS = { Accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5', 'Accept-Encoding': 'gzip' };

interface LibraryReader {
  readonly name: string;
  readonly writer: Writer;
  readonly command: string;
  readonly script: string;
}

const LIBRARY_READERS: readonly LibraryReader[] = [
  { name: 'Python MultiProcessCollector + generate_latest', writer: 'python', command: PYTHON, script: 'read_python.py' },
  { name: 'Ruby marshal_multiprocess (C reader)', writer: 'ruby', command: RUBY, script: 'read_ruby.rb' },
];

export async function scrapeScenario(): Promise<string> {
  const dirs = {} as Record<Writer, string>;
  for (const d of WRITERS) dirs[d] = await largeDirectory(d);
  const expected = expectedSamples(LARGE);
  const out = tempDir('scrape-out');

  const libraryMs = new Map<Writer, number[]>();
  const libraryCheck = new Map<Writer, SampleCheck>();
  const coldMs = new Map<Writer, number[]>();
  const coldFromSpawnMs = new Map<Writer, number[]>();
  const warmMs = new Map<Writer, number[]>();
  const warmPrometheusMs = new Map<Writer, number[]>();
  const oursCheck = new Map<Writer, SampleCheck>();
  let selfFamilies = 0;
  const push = (m: Map<Writer, number[]>, d: Writer, v: number): void => void (m.get(d) ?? m.set(d, []).get(d)!).push(v);

  // One long-running daemon per directory for the warm scrapes; cold ones are fresh every round.
  const warmDaemons = new Map<Writer, Awaited<ReturnType<typeof startDaemon>>>();
  for (const d of WRITERS) {
    const daemon = await startDaemon(dirs[d], [], {}, EVERY_FILE_LIVE);
    await httpGet(daemon.metricsUrl);
    warmDaemons.set(d, daemon);
  }
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const reader of LIBRARY_READERS) {
        const body = join(out, `${reader.writer}.txt`);
        const json = await runProgram(reader.command, [join(DRIVERS, reader.script), dirs[reader.writer], String(LIBRARY_RUNS), body]);
        for (const s of (JSON.parse(json) as { times_s: number[] }).times_s) push(libraryMs, reader.writer, s * 1000);
        if (round === 0) libraryCheck.set(reader.writer, checkSamples(expected, parseSamples(readFileSync(body, 'utf8'), 'bench_')));
      }
      for (const d of WRITERS) {
        const daemon = await startDaemon(dirs[d], [], {}, EVERY_FILE_LIVE);
        const first = await httpGet(daemon.metricsUrl);
        push(coldMs, d, Number(first.endedAt - daemon.listeningAt) / 1e6);
        push(coldFromSpawnMs, d, Number(first.endedAt - daemon.spawnedAt) / 1e6);
        if (round === 0) {
          const text = first.body.toString('utf8');
          oursCheck.set(d, checkSamples(expected, parseSamples(text, 'bench_')));
          selfFamilies = text.split('\n').filter((l) => l.startsWith('# TYPE multiproc_exporter_')).length;
        }
        await daemon.stop();
      }
      for (const d of WRITERS) {
        const url = warmDaemons.get(d)!.metricsUrl;
        const agent = keepAliveAgent();
        for (let i = 0; i < WARM_SCRAPES; i++) push(warmMs, d, (await httpGet(url, agent)).ms);
        for (let i = 0; i < WARM_SCRAPES; i++) push(warmPrometheusMs, d, (await httpGet(url, agent, PROMETHEUS_HEADERS)).ms);
        if (round === ROUNDS - 1) {
          const last = checkSamples(expected, parseSamples((await httpGet(url, agent)).body.toString('utf8'), 'bench_'));
          if (last.wrong > 0) oursCheck.set(d, last);
        }
        agent.destroy();
      }
    }
  } finally {
    for (const daemon of warmDaemons.values()) await daemon.stop();
  }

  const m = (map: Map<Writer, number[]>, d: Writer): number => median(map.get(d) ?? []);
  const rows: string[][] = [
    ['directory written by', 'entries', "library's own reader", 'ours cold (listener up → first response)', 'ours cold (spawn → first response)', 'ours warm', 'ours warm, OpenMetrics + gzip', 'warm vs library', 'cold vs library'],
  ];
  for (const d of WRITERS) {
    const lib = libraryMs.has(d) ? m(libraryMs, d) : NaN;
    rows.push([
      WRITER_NAME[d],
      (LARGE.processes * entriesPerProcess(LARGE, d)).toLocaleString('en'),
      Number.isNaN(lib) ? 'n/a (no 0.16 reader for 16-byte slots)' : `${formatMs(lib)} ms`,
      `${formatMs(m(coldMs, d))} ms`,
      `${formatMs(m(coldFromSpawnMs, d))} ms`,
      `${formatMs(m(warmMs, d))} ms`,
      `${formatMs(m(warmPrometheusMs, d))} ms`,
      Number.isNaN(lib) ? '' : speedup(lib, m(warmMs, d)),
      Number.isNaN(lib) ? '' : speedup(lib, m(coldMs, d)),
    ]);
  }

  const warmGoal = LIBRARY_READERS.every((r) => m(libraryMs, r.writer) / m(warmMs, r.writer) >= 30);
  const coldVsRuby = m(libraryMs, 'ruby') / m(coldMs, 'ruby');
  const coldGoal = coldVsRuby >= 3;
  const checks = table([
    ['directory', "ours (first scrape)", "library's reader"],
    ...WRITERS.map((d) => [d, describeCheck(oursCheck.get(d)!), libraryCheck.has(d) ? describeCheck(libraryCheck.get(d)!) : 'n/a']),
  ]);

  const profiles: string[] = [];
  if (!coldGoal) {
    const phases = await cpuProfileOf(dirs.ruby, async (url) => void (await httpGet(url)), 10, 'total', EVERY_FILE_LIVE);
    const hotSpots = await cpuProfileOf(dirs.ruby, async (url) => void (await httpGet(url)), 14, 'self', EVERY_FILE_LIVE);
    profiles.push(
      `Profiles of a cold start on the Ruby directory (\`node --cpu-prof\`: the whole daemon process, from spawn to SIGTERM after the first scrape, so module loading before the listener is up is in them). ` +
        'Phases (time including callees):',
      '',
      profileTable(phases),
      '',
      'Hot spots of another cold start (self time):',
      '',
      profileTable(hotSpots),
      '',
      PROFILE_NOTE,
      '',
    );
  }
  if (!warmGoal) {
    const profile = await profileDaemon(dirs.ruby, 10, async (url) => {
      const agent = keepAliveAgent();
      for (let i = 0; i < PROFILED_SCRAPES; i++) await httpGet(url, agent);
      agent.destroy();
    }, 14, 'total', EVERY_FILE_LIVE);
    profiles.push(
      `Profile of the daemon answering ${PROFILED_SCRAPES} warm scrapes of the Ruby directory (CPU profile of those scrapes only, \`drivers/profile_on_signal.ts\`), per scrape:`,
      '',
      profileTable(profile, PROFILED_SCRAPES),
      '',
      PROFILE_NOTE,
      '',
    );
  }
  const chart = writeChart(
    'scrape',
    barChart(`Scrape of ${LARGE.processes} processes × 1,000 entries (median ms, lower is better)`, [
      ...WRITERS.map((d) => ({
        title: `Directory written by ${WRITER_NAME[d]}`,
        log: true,
        bars: [
          ...LIBRARY_READERS.filter((r) => r.writer === d).map((r) => ({ label: r.name, value: m(libraryMs, d), text: `${formatMs(m(libraryMs, d))} ms` })),
          { label: 'ours cold (first response)', value: m(coldMs, d), text: `${formatMs(m(coldMs, d))} ms`, ours: true },
          { label: 'ours warm', value: m(warmMs, d), text: `${formatMs(m(warmMs, d))} ms`, ours: true },
          { label: 'ours warm, OpenMetrics + gzip', value: m(warmPrometheusMs, d), text: `${formatMs(m(warmPrometheusMs, d))} ms`, ours: true },
        ],
      })),
    ]),
  );

  return [
    `${LARGE.processes} real processes per directory, each writing ${LARGE.routes * 4} counter series (\`bench_requests_total{route,code}\`), ` +
      `${LARGE.histogramRoutes} histograms with 10 buckets (\`bench_latency_seconds{route}\`), ${LARGE.queues} \`livesum\` and ${LARGE.queues} \`max\` gauges ` +
      `(4 files per process, ${LARGE.processes * 4} files per directory; ${expected.size.toLocaleString('en')} merged samples). ` +
      `The directories are written at bench time by \`benchmarks/drivers/write_python.py\`, \`write_ruby.rb\` and \`write_node.ts\` (Debian's libraries and ours).`,
    '',
    `- Library readers: \`drivers/read_python.py\` (\`MultiProcessCollector\` + \`generate_latest\`) and \`drivers/read_ruby.rb\` ` +
      `(\`Prometheus::Client::Formats::Text.marshal_multiprocess\`), timed inside their own process, ${LIBRARY_RUNS} runs per process. They keep nothing between runs: cold and warm are the same for them.`,
    `- Ours: with \`--liveness off\`, so that every file is read on every scrape as it is while its writer lives (the writers here have exited; by default the daemon would fold the Ruby directory's files once and stop reading them, see the churn scenario). The default mode's own cost, a lock probe and a look at the process that maps the file, is in the churn scenario's live-writer figures.`,
    `- Ours cold: \`node bin/multiproc-exporter --dir D --web.listen-address 127.0.0.1:0 --liveness off\` spawned fresh; time from its start line (listener up) to the last byte of the first \`GET /metrics\` (text 0.0.4, no gzip), and from the spawn. Files are in the page cache (the libraries read them just before).`,
    `- Ours warm: sequential \`GET /metrics\` on a kept-alive connection to a daemon that has scraped before, ${WARM_SCRAPES} per round; the second column asks as Prometheus does (OpenMetrics, gzip).`,
    `- ${ROUNDS} interleaved rounds (library readers, cold starts, warm scrapes); medians over all runs. The response of ours includes the daemon's own metrics (${selfFamilies} families).`,
    '',
    table(rows),
    '',
    chart,
    '',
    `Goals: warm ≥ 30× faster than both libraries' readers: ${goal(warmGoal)} ` +
      `(${speedup(m(libraryMs, 'python'), m(warmMs, 'python'))} than Python's, ${speedup(m(libraryMs, 'ruby'), m(warmMs, 'ruby'))} than Ruby's). ` +
      `Cold ≥ 3× faster than the Ruby C reader: ${goal(coldGoal)} (${speedup(m(libraryMs, 'ruby'), m(coldMs, 'ruby'))}: ${formatMs(m(coldMs, 'ruby'))} ms against ${formatMs(m(libraryMs, 'ruby'))} ms; ` +
      `the cold figure is the first scan of every file, see the profiles below).`,
    '',
    'What the profiles below show. Warm: every scrape lists the directory and `lstat`s every file, folds every entry\'s value out of the mappings ' +
      '(one 8-byte value per ~100-byte entry, so the loop touches every mapped page and is bound by memory, not arithmetic), and collects the daemon\'s own metrics ' +
      'through prom-client (its `process_open_fds` lists /proc/self/fd, one entry per mapped file). Cold: the first scan decodes every entry\'s key to a string to find it in the shared key cache, ' +
      'walks each file\'s entries twice (once to detect the slot width, where the wrong width fails by throwing an error, once to index them), opens and maps every file, and collects garbage; the C reader hashes key bytes. ' +
      'All of this is in src/reader and src/merge, which are being reworked; the benchmark changes nothing there.',
    '',
    'Correctness: every `bench_` sample of each exposition against the values the write pattern must give (counts, sums, cumulative buckets, livesum, max):',
    '',
    checks,
    '',
    ...profiles,
  ].join('\n');
}
