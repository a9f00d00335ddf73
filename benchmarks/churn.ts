/**
 * Churn: worker recycling leaves the files of exited processes behind (Python never deletes
 * counter and histogram files; docs/FORMAT.md §5.1 item 4). Starting from the large Python directory,
 * add ~10,000 such files carrying series the live processes already have, and compare the
 * daemon's scrapes before and after (and Python's own reader, for scale).
 *
 *   npm run bench -- churn
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, linkSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  checkSamples,
  copyDirectory,
  describeCheck,
  expectedSamples,
  LARGE,
  largeDirectory,
  parseSamples,
  type SampleCheck,
} from './harness/data.js';
import { DRIVERS, PYTHON, pool, RUBY, runProgram } from './harness/drivers.js';
import {
  httpGet,
  keepAliveAgent,
  memory,
  openFds,
  profileDaemon,
  withDaemon,
  type DaemonProcess,
} from './harness/processes.js';
import {
  barChart,
  formatMiB,
  formatMs,
  median,
  profileTable,
  PROFILE_NOTE,
  ratio,
  table,
  writeChart,
} from './harness/report.js';
import { tempDir, track } from './harness/resources.js';

/** Each live process's counter, histogram and max-gauge files are copied this many times under new pids (26 × 384 = 9,984 files). */
const COPIES = 26;
const WARM_SCRAPES = 60;
const COLD_STARTS = 3;
const PYTHON_RUNS = 3;
const PROFILED_SCRAPES = 30;
/** Exited processes get pids from here up (above any pid of the live writers). */
const FIRST_DEAD_PID = 3_000_000;

interface Scrapes {
  readonly ms: number[];
  readonly check: SampleCheck;
}

async function warmScrapes(daemon: DaemonProcess, n: number, expected: Map<string, number>): Promise<Scrapes> {
  const agent = keepAliveAgent();
  const ms: number[] = [];
  let body = '';
  for (let i = 0; i < n; i++) {
    const r = await httpGet(daemon.metricsUrl, agent);
    ms.push(r.ms);
    if (i === n - 1) body = r.body.toString('utf8');
  }
  agent.destroy();
  return { ms, check: checkSamples(expected, parseSamples(body, 'bench_')) };
}

async function pythonReader(dir: string): Promise<number> {
  const json = await runProgram(PYTHON, [join(DRIVERS, 'read_python.py'), dir, String(PYTHON_RUNS)]);
  return median((JSON.parse(json) as { times_s: number[] }).times_s) * 1000;
}

interface LiveChurn {
  readonly files: number;
  readonly added: number;
  readonly warmBefore: Scrapes;
  readonly firstAfterMs: number;
  readonly warmAfter: Scrapes;
  readonly rubyBefore: number;
  readonly rubyAfter: number;
  readonly rssBefore: number;
  readonly rssAfter: number;
  readonly fdsAfter: number;
  readonly folded: number;
}

async function rubyReader(dir: string): Promise<number> {
  const json = await runProgram(RUBY, [join(DRIVERS, 'read_ruby.rb'), dir, String(PYTHON_RUNS)]);
  return median((JSON.parse(json) as { times_s: number[] }).times_s) * 1000;
}

/** The Ruby gem's writers, left running (each holds its files' locks) until stopped. */
async function liveRubyWriters(dir: string, processes: number): Promise<ChildProcess[]> {
  const env = { ...process.env, prometheus_multiproc_dir: dir };
  const shape = [String(LARGE.routes), String(LARGE.histogramRoutes), String(LARGE.queues)];
  return pool(processes, 4, (p) => {
    const child = track(spawn(RUBY, [join(DRIVERS, 'write_ruby.rb'), String(p), ...shape, 'hold'], { env, stdio: ['pipe', 'pipe', 'inherit'] }));
    return new Promise<ChildProcess>((resolve, reject) => {
      child.stdout!.once('data', () => resolve(child));
      child.once('exit', (code) => reject(new Error(`write_ruby.rb ${p} exited with ${code} before it was ready`)));
    });
  });
}

/**
 * The realistic churn: 128 writers alive (the Ruby gem, which locks its files), then the files of
 * ~10,000 exited workers appear. The daemon (default `--liveness auto`) sees their locks free,
 * folds each once and stops reading it.
 */
async function liveChurn(): Promise<LiveChurn> {
  const dir = tempDir('churn-live-ruby');
  const grown = tempDir('churn-live-ruby-grown');
  const writers = await liveRubyWriters(dir, LARGE.processes);
  try {
    // The same live files in a second directory (hard links: the same inodes, so the writers'
    // locks show there too); two daemons, one on each, are scraped in turn, so that before and
    // after see the same moments of this noisy machine.
    const liveFiles = readdirSync(dir);
    for (const f of liveFiles) linkSync(join(dir, f), join(grown, f));
    const before = expectedSamples(LARGE);
    const after = expectedSamples(LARGE, 1 + COPIES);
    const rubyBefore = await rubyReader(dir);
    return await withDaemon(dir, (a) =>
      withDaemon(grown, async (b) => {
        await httpGet(a.metricsUrl);
        await httpGet(b.metricsUrl);
        const rssBefore = memory(b.pid).rss;
        let added = 0;
        for (let c = 0; c < COPIES; c++) {
          for (const name of liveFiles.filter((f) => f.startsWith('counter_') || f.startsWith('histogram_') || f.startsWith('gauge_max_'))) {
            const prefix = name.slice(0, name.lastIndexOf('_')); // counter, histogram, gauge_max
            copyFileSync(join(dir, name), join(grown, `${prefix}_exited${c}x${added}-0.db`));
            added++;
          }
        }
        const first = await httpGet(b.metricsUrl);
        // The listing is reused once the directory's mtime is a second old: wait that long, as a
        // real scrape interval would, so the warm figures are the steady state.
        await new Promise((r) => setTimeout(r, 1100));
        const agentA = keepAliveAgent();
        const agentB = keepAliveAgent();
        const msA: number[] = [];
        const msB: number[] = [];
        let bodyA = '';
        let bodyB = '';
        for (let i = 0; i < WARM_SCRAPES * 2; i++) {
          const ra = await httpGet(a.metricsUrl, agentA);
          const rb = await httpGet(b.metricsUrl, agentB);
          msA.push(ra.ms);
          msB.push(rb.ms);
          if (i === WARM_SCRAPES * 2 - 1) {
            bodyA = ra.body.toString('utf8');
            bodyB = rb.body.toString('utf8');
          }
        }
        agentA.destroy();
        agentB.destroy();
        const status = await httpGet(b.metricsUrl.replace(/\/metrics$/, '/status'), undefined, { accept: 'application/json' });
        const folded = (JSON.parse(status.body.toString('utf8')) as { counts: { dead: number } }).counts.dead;
        return {
          files: readdirSync(grown).length,
          added,
          warmBefore: { ms: msA, check: checkSamples(before, parseSamples(bodyA, 'bench_')) },
          firstAfterMs: first.ms,
          warmAfter: { ms: msB, check: checkSamples(after, parseSamples(bodyB, 'bench_')) },
          rubyBefore,
          rubyAfter: await rubyReader(grown),
          rssBefore,
          rssAfter: memory(b.pid).rss,
          fdsAfter: openFds(b.pid),
          folded,
        };
      }),
    );
  } finally {
    for (const w of writers) w.stdin!.end();
    await Promise.all(writers.map((w) => new Promise<void>((r) => (w.exitCode !== null ? r() : w.once('exit', () => r())))));
  }
}

function liveChurnSection(l: LiveChurn): string[] {
  const wb = median(l.warmBefore.ms);
  const wa = median(l.warmAfter.ms);
  const rows = [
    ['', `before: ${l.files - l.added} files (128 live writers)`, `after: ${l.files} files (+${l.added.toLocaleString('en')} of exited workers)`, 'after / before'],
    ['ours, warm scrape (median)', `${formatMs(wb)} ms`, `${formatMs(wa)} ms`, ratio(wa, wb)],
    ['ours, first scrape after the files appear (folds them)', '', `${formatMs(l.firstAfterMs)} ms`, ''],
    ["Ruby's marshal_multiprocess (median of 3)", `${formatMs(l.rubyBefore)} ms`, `${formatMs(l.rubyAfter)} ms`, ratio(l.rubyAfter, l.rubyBefore)],
    ['daemon RSS (the daemon of "after", before and after the files appeared)', `${formatMiB(l.rssBefore)} MiB`, `${formatMiB(l.rssAfter)} MiB`, ratio(l.rssAfter, l.rssBefore)],
    ['daemon open file descriptors', '', String(l.fdsAfter), ''],
  ];
  const within = wa <= 1.1 * wb;
  return [
    '### With live writers: dead writers\' files folded',
    '',
    `${LARGE.processes} Ruby gem writers stay alive (each holds its files' locks, as a live worker does), then ${l.added.toLocaleString('en')} files of exited workers appear: copies of the live files under Ruby names of workers that are gone (\`counter_exited…-0.db\`, …). ` +
      `The daemon runs with its default \`--liveness auto\`: it sees those files' locks free, folds each into its series' totals once (the first scrape after they appear), unmaps it, and from then on reads only the live files. ` +
      `${l.folded.toLocaleString('en')} files were folded. "Before" and "after" are two daemons scraped in turn (A, B, A, B …, ${WARM_SCRAPES * 2} each, medians, starting a second after the last file appeared): one on the live files alone, one on a directory holding the same live files (hard links, so their locks show) and the exited workers' files.`,
    '',
    table(rows),
    '',
    `Goal (worker lifecycle): with 10,000 dead writers' files, scrape time within 1.1× of the time with only the live files: **${within ? 'met' : 'missed'}** (${formatMs(wa)} ms against ${formatMs(wb)} ms, ${ratio(wa, wb)}).`,
    '',
    `Correctness: before ${describeCheck(l.warmBefore.check)}; warm after ${describeCheck(l.warmAfter.check)}.`,
    '',
  ];
}

export async function churnScenario(): Promise<string> {
  const liveRuby = await liveChurn();
  const base = await largeDirectory('python');
  const dir = copyDirectory(base, 'churn');
  // What Python leaves of an exited worker: every file but its live-mode gauges (removed by mark_process_dead).
  const live = readdirSync(base).filter((f) => f.startsWith('counter_') || f.startsWith('histogram_') || f.startsWith('gauge_max_'));
  const before = expectedSamples(LARGE);
  const after = expectedSamples(LARGE, 1 + COPIES);

  const pythonBefore = await pythonReader(dir);
  const run = await withDaemon(dir, async (daemon) => {
    await httpGet(daemon.metricsUrl);
    const warmBefore = await warmScrapes(daemon, WARM_SCRAPES, before);
    const memBefore = memory(daemon.pid);

    // What COPIES × 128 exited workers leave: the live ones' files under new pids.
    let added = 0;
    let pid = FIRST_DEAD_PID;
    for (let c = 0; c < COPIES; c++) {
      for (const name of live) {
        const prefix = name.slice(0, name.lastIndexOf('_')); // counter, histogram, gauge_max
        copyFileSync(join(base, name), join(dir, `${prefix}_${pid++}.db`));
        added++;
      }
    }
    // The daemon's fs.watch hint may have started indexing the new files already; this scrape waits for them.
    const first = await httpGet(daemon.metricsUrl);
    const firstAfterCheck = checkSamples(after, parseSamples(first.body.toString('utf8'), 'bench_'));
    const warmAfter = await warmScrapes(daemon, WARM_SCRAPES, after);
    return { added, warmBefore, memBefore, firstAfterMs: first.ms, firstAfterCheck, warmAfter, memAfter: memory(daemon.pid), fdsAfter: openFds(daemon.pid) };
  });
  const { added, warmBefore, memBefore, firstAfterMs, firstAfterCheck, warmAfter, memAfter, fdsAfter } = run;

  const coldMs: number[] = [];
  for (let i = 0; i < COLD_STARTS; i++) {
    await withDaemon(dir, async (d) => {
      const r = await httpGet(d.metricsUrl);
      coldMs.push(Number(r.endedAt - d.listeningAt) / 1e6);
    });
  }
  const pythonAfter = await pythonReader(dir);

  const files = readdirSync(dir).length;
  const rows: string[][] = [];
  const wb = median(warmBefore.ms);
  const wa = median(warmAfter.ms);
  rows.push(
    ['', `before: ${files - added} files`, `after: ${files} files (+${added.toLocaleString('en')})`, 'after / before'],
    ['ours, warm scrape (median)', `${formatMs(wb)} ms`, `${formatMs(wa)} ms`, ratio(wa, wb)],
    ['ours, first scrape after the files appear', '', `${formatMs(firstAfterMs)} ms`, ''],
    ['ours, cold start: listener up → first response (median of 3)', '', `${formatMs(median(coldMs))} ms`, ''],
    ['Python MultiProcessCollector + generate_latest (median of 3)', `${formatMs(pythonBefore)} ms`, `${formatMs(pythonAfter)} ms`, ratio(pythonAfter, pythonBefore)],
    ['daemon RSS (anonymous + file pages)', `${formatMiB(memBefore.rss)} MiB (${formatMiB(memBefore.anon)} + ${formatMiB(memBefore.file + memBefore.shmem)})`, `${formatMiB(memAfter.rss)} MiB (${formatMiB(memAfter.anon)} + ${formatMiB(memAfter.file + memAfter.shmem)})`, ratio(memAfter.rss, memBefore.rss)],
    ['daemon open file descriptors', '', String(fdsAfter), ''],
  );

  const profile = await profileDaemon(dir, 3, async (url) => {
    const agent = keepAliveAgent();
    for (let i = 0; i < PROFILED_SCRAPES; i++) await httpGet(url, agent);
    agent.destroy();
  });

  const chart = writeChart(
    'churn',
    barChart(`Scrape before / after ${added.toLocaleString('en')} files of exited processes (median ms, lower is better)`, [
      {
        title: `Before (${files - added} files) and after (${files} files); one log scale`,
        bars: [
          { label: `ours warm, before`, value: wb, text: `${formatMs(wb)} ms`, ours: true },
          { label: `ours warm, after`, value: wa, text: `${formatMs(wa)} ms`, ours: true },
          { label: 'ours, first scrape after the files appear', value: firstAfterMs, text: `${formatMs(firstAfterMs)} ms`, ours: true },
          { label: `ours cold start, after`, value: median(coldMs), text: `${formatMs(median(coldMs))} ms`, ours: true },
          { label: "Python's reader, before", value: pythonBefore, text: `${formatMs(pythonBefore)} ms` },
          { label: "Python's reader, after", value: pythonAfter, text: `${formatMs(pythonAfter)} ms` },
        ],
        log: true,
      },
    ]),
  );

  return [
    ...liveChurnSection(liveRuby),
    '### Python files, writers not visible: every file still read',
    '',
    `The large Python directory of the scrape scenario (${LARGE.processes} live processes, ${files - added} files), then ${added.toLocaleString('en')} files of exited processes: ` +
      `${COPIES} copies of every live process's \`counter_<pid>.db\`, \`histogram_<pid>.db\` and \`gauge_max_<pid>.db\` under new pids (${(COPIES * LARGE.processes).toLocaleString('en')} exited workers). ` +
      `The bytes are those Python wrote, which is what an exited worker with the same series leaves behind: Python never deletes these files, only the live-mode gauge files (\`gauge_livesum_<pid>.db\`, through \`mark_process_dead\`). ` +
      `Every series they carry is already known, so the output keeps its ${after.size.toLocaleString('en')} samples; counters and histograms grow ×${1 + COPIES}, the max gauges stay.`,
    '',
    `Warm: ${WARM_SCRAPES} sequential \`GET /metrics\` on a kept-alive connection, median; the daemon runs through the change (files added while it runs). ` +
      `Here every writer has exited and the daemon has never seen one (Python takes no lock, and no process maps these files), so with the default \`--liveness auto\` it cannot tell the dead from writers in another pid namespace: every file is \`unknown\`, served as live and read on every scrape. ` +
      `This is the cost of not knowing; the live-writer case above is what a sidecar that shares the workers' pid namespace (or whose writers lock) sees.`,
    '',
    table(rows),
    '',
    chart,
    '',
    `Correctness: before ${describeCheck(warmBefore.check)}; first scrape after ${describeCheck(firstAfterCheck)}; warm after ${describeCheck(warmAfter.check)}.`,
    '',
    `Profile of the daemon answering ${PROFILED_SCRAPES} warm scrapes of the ${files}-file directory (CPU profile of those scrapes only, \`drivers/profile_on_signal.ts\`), per scrape:`,
    '',
    profileTable(profile, PROFILED_SCRAPES),
    '',
    PROFILE_NOTE,
    '',
  ].join('\n');
}
