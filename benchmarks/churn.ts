/**
 * Churn: worker recycling leaves the files of exited processes behind (Python never deletes
 * counter and histogram files; FORMAT.md §5.1 item 4). Starting from the large Python directory,
 * add ~10,000 such files carrying series the live processes already have, and compare the
 * daemon's scrapes before and after (and Python's own reader, for scale).
 *
 *   npm run bench -- churn
 */
import { copyFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  barChart,
  checkSamples,
  copyDirectory,
  describeCheck,
  DRIVERS,
  expectedSamples,
  formatMiB,
  formatMs,
  httpGet,
  keepAliveAgent,
  LARGE,
  largeDirectory,
  median,
  memory,
  openFds,
  parseSamples,
  profileDaemon,
  profileTable,
  PROFILE_NOTE,
  PYTHON,
  ratio,
  runProgram,
  table,
  writeChart,
  withDaemon,
  type DaemonProcess,
  type SampleCheck,
} from './harness.js';

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

export async function churnScenario(): Promise<string> {
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
    `The large Python directory of the scrape scenario (${LARGE.processes} live processes, ${files - added} files), then ${added.toLocaleString('en')} files of exited processes: ` +
      `${COPIES} copies of every live process's \`counter_<pid>.db\`, \`histogram_<pid>.db\` and \`gauge_max_<pid>.db\` under new pids (${(COPIES * LARGE.processes).toLocaleString('en')} exited workers). ` +
      `The bytes are those Python wrote, which is what an exited worker with the same series leaves behind: Python never deletes these files, only the live-mode gauge files (\`gauge_livesum_<pid>.db\`, through \`mark_process_dead\`). ` +
      `Every series they carry is already known, so the output keeps its ${after.size.toLocaleString('en')} samples; counters and histograms grow ×${1 + COPIES}, the max gauges stay.`,
    '',
    `Warm: ${WARM_SCRAPES} sequential \`GET /metrics\` on a kept-alive connection, median; the daemon runs through the change (files added while it runs). ` +
      `This measures the code as it is (commit below): every file of an exited process stays mapped, indexed and folded on every scrape. ` +
      `Folding dead writers' files in memory (being built separately) is meant to bring "after" back to about "before"; rerun this scenario to see it.`,
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
