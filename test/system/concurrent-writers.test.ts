/**
 * Concurrent writers: 8 worker processes using the writer library each make
 * 1,000,000 increments (10,000,000 under `npm run soak`) on two series they all share, while the
 * daemon is scraped at 100 Hz. No merged counter ever decreases between consecutive scrapes,
 * and once the workers have exited the totals are exact.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { parseExposition } from '../helpers/parse-exposition.js';
import { get } from '../helpers/scrape.js';
import { scaled } from '../helpers/soak.js';

const WRITERS = 8;
const INCREMENTS = scaled(1_000_000, 10_000_000);
const DURATION_MS = scaled(2_500, 30_000);
const WRITER = join(import.meta.dirname, '..', 'helpers', 'counter-writer.ts');

const tmp = mkdtempSync(join(tmpdir(), 'mpe-writers-'));
let daemon: Daemon | undefined;
afterAll(async () => {
  await daemon?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const series = (body: string): { a: number; b: number } => {
  const samples = parseExposition(body).samples.filter((s) => s.name === 'shared_total');
  const value = (v: string): number => samples.find((s) => s.labels[0]?.[1] === v)?.value ?? 0;
  return { a: value('a'), b: value('b') };
};

it(`${WRITERS} writers x ${INCREMENTS.toLocaleString('en')} increments, scraped at 100 Hz: never decreasing, exact at the end`, async () => {
  daemon = await startDaemon(['--dir', tmp]);
  const url = `${daemon.url}/metrics`;
  const writers = Array.from({ length: WRITERS }, (_, i) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, tmp, String(i), String(INCREMENTS), String(DURATION_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    return new Promise<{ code: number | null; out: string }>((resolve) => child.once('exit', (code) => resolve({ code, out })));
  });
  let writing = true;
  const finished = Promise.all(writers).finally(() => (writing = false));

  const decreases: string[] = [];
  const failures: string[] = [];
  let previous = { a: 0, b: 0 };
  let scrapes = 0;
  let scrapesWithProgress = 0;
  const deadline = Date.now() + DURATION_MS * 4 + 30_000;
  while (writing && Date.now() < deadline) {
    const started = Date.now();
    const r = await get(url);
    scrapes++;
    if (r.status !== 200) failures.push(`status ${r.status}`);
    const now = series(r.body);
    if (now.a < previous.a || now.b < previous.b) decreases.push(`scrape ${scrapes}: ${JSON.stringify(previous)} -> ${JSON.stringify(now)}`);
    if (now.a > previous.a) scrapesWithProgress++;
    previous = now;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 10 - (Date.now() - started)))); // 100 Hz
  }
  const results = await finished;
  expect(results.map((r) => r.code)).toEqual(Array(WRITERS).fill(0));
  expect(results.map((r) => JSON.parse(r.out) as { increments: number }).map((r) => r.increments)).toEqual(Array(WRITERS).fill(INCREMENTS));

  expect(failures).toEqual([]);
  expect(decreases).toEqual([]);
  expect(scrapesWithProgress).toBeGreaterThan(10); // the scrapes did overlap the writing

  const final = await get(url);
  expect(series(final.body)).toEqual({ a: (WRITERS * INCREMENTS) / 2, b: (WRITERS * INCREMENTS) / 4 });
  // The writers have exited: their files are folded (read once more, then never again).
  expect(final.body).toContain(`multiproc_exporter_writer_files{state="dead"} ${WRITERS}\n`);
  console.log(`concurrent writers: ${scrapes} scrapes, ${scrapesWithProgress} saw progress`);
}, scaled(60_000, 600_000));
