/**
 * Memory: the daemon's resident memory on each large directory after its first scrape, and on
 * the Python one through 10,000 sequential scrapes (it must not grow).
 *
 *   npm run bench -- memory
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  checkSamples,
  describeCheck,
  expectedSamples,
  LARGE,
  largeDirectory,
  parseSamples,
  WRITER_NAME,
  WRITERS,
  type Writer,
} from './harness/data.js';
import { httpGet, keepAliveAgent, memory, withDaemon, type DaemonProcess, type Memory } from './harness/processes.js';
import { barChart, formatMiB, goal, table, writeChart } from './harness/report.js';
import { tempDir } from './harness/resources.js';

/**
 * Preloaded into the daemon (with --expose-gc): SIGUSR2 runs a full GC and writes
 * process.memoryUsage() to $MPE_BENCH_GC_OUT, so retained memory is compared, not GC timing.
 * Inline (a data: URL) so the daemon runs without a TypeScript loader.
 */
const GC_ON_SIGNAL =
  'data:text/javascript,' +
  encodeURIComponent(
    "import { writeFileSync } from 'node:fs'; process.on('SIGUSR2', () => { globalThis.gc(); writeFileSync(process.env.MPE_BENCH_GC_OUT, JSON.stringify(process.memoryUsage())); });",
  );

const SCRAPES = 10_000;
const SAMPLE_EVERY = 500;
/** Growth from scrape 1,000 to 10,000 above these counts as growth. */
const RETAINED_GROWTH_LIMIT_MIB = 1;
const RSS_GROWTH_LIMIT_MIB = 5;

const signed = (bytes: number): string => `${bytes >= 0 ? '+' : ''}${formatMiB(bytes)}`;

interface Point {
  readonly scrapes: number;
  readonly mem: Memory;
  /** The daemon's own V8 heap in use (its self metric `multiproc_exporter_nodejs_heap_size_used_bytes`). */
  readonly heapUsed: number;
}

function heapUsedOf(body: string): number {
  const m = /^multiproc_exporter_nodejs_heap_size_used_bytes (\S+)$/m.exec(body);
  return m === null ? NaN : Number(m[1]);
}

interface AfterGc {
  readonly scrapes: number;
  readonly mem: Memory;
  /** V8 heap in use right after a full GC: what the daemon retains. */
  readonly heapUsed: number;
  /** V8 heap reserved, and memory of Buffers/ArrayBuffers outside it (process.memoryUsage()). */
  readonly heapTotal: number;
  readonly external: number;
}

async function afterFullGc(daemon: DaemonProcess, out: string, scrapes: number): Promise<AfterGc> {
  rmSync(out, { force: true });
  daemon.child.kill('SIGUSR2');
  const deadline = Date.now() + 10_000;
  while (!existsSync(out)) {
    if (Date.now() > deadline) throw new Error('the daemon did not answer SIGUSR2 (full GC) in 10 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 20)); // written in one call; let it land
  const usage = JSON.parse(readFileSync(out, 'utf8')) as { heapUsed: number; heapTotal: number; external: number };
  return { scrapes, mem: memory(daemon.pid), heapUsed: usage.heapUsed, heapTotal: usage.heapTotal, external: usage.external };
}

export async function memoryScenario(): Promise<string> {
  const dirs = {} as Record<Writer, string>;
  for (const d of WRITERS) dirs[d] = await largeDirectory(d);
  const expected = expectedSamples(LARGE);

  const first = new Map<Writer, { atStart: Memory; afterScrape: Memory }>();
  for (const d of WRITERS) {
    await withDaemon(dirs[d], async (daemon) => {
      const atStart = memory(daemon.pid);
      await httpGet(daemon.metricsUrl);
      first.set(d, { atStart, afterScrape: memory(daemon.pid) });
    });
  }
  const firstRows: string[][] = [
    ['directory written by', 'RSS after start', 'RSS after the first scrape', 'of which anonymous', 'of which file pages (mapped .db files, code)', 'peak RSS'],
    ...WRITERS.map((d) => {
      const { atStart, afterScrape: m } = first.get(d)!;
      return [WRITER_NAME[d], `${formatMiB(atStart.rss)} MiB`, `${formatMiB(m.rss)} MiB`, `${formatMiB(m.anon)} MiB`, `${formatMiB(m.file + m.shmem)} MiB`, `${formatMiB(m.peak)} MiB`];
    }),
  ];

  const points: Point[] = [];
  const gcPoints: AfterGc[] = [];
  let check = '';
  const gcOut = join(tempDir('memory'), 'memory-usage.json');
  await withDaemon(
    dirs.python,
    async (daemon) => {
      const agent = keepAliveAgent();
      for (let i = 1; i <= SCRAPES; i++) {
        const r = await httpGet(daemon.metricsUrl, agent);
        if (i === 1 || i % SAMPLE_EVERY === 0) {
          const body = r.body.toString('utf8');
          points.push({ scrapes: i, mem: memory(daemon.pid), heapUsed: heapUsedOf(body) });
          if (i === SCRAPES) check = describeCheck(checkSamples(expected, parseSamples(body, 'bench_')));
        }
        if (i === 1 || i === 1000 || i === SCRAPES / 2 || i === SCRAPES) gcPoints.push(await afterFullGc(daemon, gcOut, i));
      }
      agent.destroy();
    },
    ['--expose-gc', '--import', GC_ON_SIGNAL],
    { MPE_BENCH_GC_OUT: gcOut },
  );

  const at = (n: number): AfterGc => gcPoints.find((p) => p.scrapes === n)!;
  const retainedGrowth = at(SCRAPES).heapUsed - at(1000).heapUsed;
  const rssGrowth = at(SCRAPES).mem.rss - at(1000).mem.rss;
  const ok = retainedGrowth / 2 ** 20 <= RETAINED_GROWTH_LIMIT_MIB && rssGrowth / 2 ** 20 <= RSS_GROWTH_LIMIT_MIB;
  const gcRows: string[][] = [
    ['after a full GC, at scrape', 'V8 heap used (retained)', 'V8 heap reserved', 'external (Buffers, mappings)', 'RSS', 'anonymous'],
    ...gcPoints.map((p) => [
      p.scrapes.toLocaleString('en'),
      `${formatMiB(p.heapUsed)} MiB`,
      `${formatMiB(p.heapTotal)} MiB`,
      `${formatMiB(p.external)} MiB`,
      `${formatMiB(p.mem.rss)} MiB`,
      `${formatMiB(p.mem.anon)} MiB`,
    ]),
  ];
  const shown = points.filter((p) => p.scrapes === 1 || p.scrapes % 1000 === 0);
  const growthRows: string[][] = [
    ['scrapes', 'RSS', 'anonymous', 'file pages', 'V8 heap used', 'peak RSS'],
    ...shown.map((p) => [p.scrapes.toLocaleString('en'), `${formatMiB(p.mem.rss)} MiB`, `${formatMiB(p.mem.anon)} MiB`, `${formatMiB(p.mem.file + p.mem.shmem)} MiB`, `${formatMiB(p.heapUsed)} MiB`, `${formatMiB(p.mem.peak)} MiB`]),
  ];

  const chart = writeChart(
    'memory',
    barChart('Daemon resident memory (MiB, lower is better)', [
      {
        title: 'After the first scrape, by directory (128 processes × 1,000 entries)',
        bars: WRITERS.map((d) => {
          const rss = first.get(d)!.afterScrape.rss;
          return { label: WRITER_NAME[d], value: rss, text: `${formatMiB(rss)} MiB`, ours: true };
        }),
      },
      {
        title: `Python directory, through ${SCRAPES.toLocaleString('en')} scrapes`,
        bars: shown.map((p) => ({ label: `after ${p.scrapes.toLocaleString('en')} scrape${p.scrapes === 1 ? '' : 's'}`, value: p.mem.rss / 2 ** 20, text: `${formatMiB(p.mem.rss)} MiB`, ours: true })),
      },
    ]),
  );

  return [
    `Resident memory of \`node bin/multiproc-exporter\` from /proc/PID/status (VmRSS = RssAnon + RssFile + RssShmem; the mapped \`.db\` pages it has touched count as file pages, shared with the writers). ` +
      `The large directories of the scrape scenario (${LARGE.processes} processes × 1,000 entries, ${LARGE.processes * 4} files).`,
    '',
    table(firstRows),
    '',
    `Then ${SCRAPES.toLocaleString('en')} sequential \`GET /metrics\` (text, kept-alive connection) on the Python directory, memory read every ${SAMPLE_EVERY} (shown every 1,000); the V8 heap figure is the daemon's own self metric in that scrape's body.`,
    '',
    table(growthRows),
    '',
    `Between scrapes the V8 heap saw-tooths with garbage collection, so retained memory is read after a full GC (the daemon runs with \`--expose-gc\` and a one-line preload that runs \`gc()\` on SIGUSR2):`,
    '',
    table(gcRows),
    '',
    chart,
    '',
    `Goal: no growth over ${SCRAPES.toLocaleString('en')} scrapes (from scrape 1,000 to 10,000, retained heap ≤ +${RETAINED_GROWTH_LIMIT_MIB} MiB and RSS ≤ +${RSS_GROWTH_LIMIT_MIB} MiB): ` +
      `${goal(ok)} (retained heap ${signed(retainedGrowth)} MiB, RSS ${signed(rssGrowth)} MiB). Last scrape: ${check}. ` +
      `The retained heap is what a leak would grow; RSS also moves by a few MiB with the V8 heap it keeps reserved and with the allocator (columns above), in either direction.`,
    '',
  ].join('\n');
}
