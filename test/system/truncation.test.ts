/**
 * Truncation while mapped: a helper process cuts metric files under the
 * daemon's mappings and grows them back, 1,000 times (20,000 under `npm run soak`), while the
 * daemon is scraped continuously. Touching a mapped page past a file's new end raises SIGBUS;
 * the daemon must neither crash nor fail a scrape, must keep serving the other files exactly,
 * and must serve the restored files exactly once the helper is done.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { buildDb } from '../helpers/db-bytes.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { parseExposition, sampleLines } from '../helpers/parse-exposition.js';
import { get, mergedLines, selfValue } from '../helpers/scrape.js';
import { scaled } from '../helpers/soak.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const TRUNCATOR = join(import.meta.dirname, '..', 'helpers', 'truncator.ts');
const CYCLES = scaled(1_000, 20_000);
const VICTIMS = 4;
const SERIES = 1_200;

const tmp = mkdtempSync(join(tmpdir(), 'mpe-trunc-'));
let daemon: Daemon | undefined;
afterAll(async () => {
  await daemon?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const victimKey = (v: number, i: number): string => `["victim${v}", "victim${v}_total", {"i": "${i}"}, "Cut and regrown."]`;

it(`survives ${CYCLES} truncations of mapped files while being scraped: no crash, no failed scrape, exact values`, async () => {
  const dir = join(tmp, 'dir');
  cpSync(join(FIXTURES, 'v025-counter_basic'), dir, { recursive: true, filter: (src) => !/\.(txt|jsonl|json)$|README$/.test(src) });
  const good = sampleLines(parseExposition(readFileSync(join(FIXTURES, 'v025-counter_basic', 'expected.txt'), 'utf8')).samples);
  const victims: string[] = [];
  const victimLines: string[] = [];
  for (let v = 0; v < VICTIMS; v++) {
    const path = join(tmp, 'dir', `counter_${9000 + v}.db`);
    // 1,200 entries (~105 KiB) in a 128 KiB file: several pages, so cuts land on mapped pages.
    writeFileSync(path, buildDb(Array.from({ length: SERIES }, (_, i) => ({ key: victimKey(v, i), value: v * 10_000 + i })), { slot: 16, size: 131_072 }));
    victims.push(path);
    for (let i = 0; i < SERIES; i++) victimLines.push(`victim${v}_total{i="${i}"} ${v * 10_000 + i}`);
  }
  const everything = [...good, ...victimLines].sort();

  daemon = await startDaemon(['--dir', dir]);
  const url = `${daemon.url}/metrics`;
  expect(mergedLines((await get(url)).body)).toEqual(everything);

  const helper = spawn(process.execPath, ['--import', 'tsx', TRUNCATOR, String(CYCLES), ...victims], { stdio: ['ignore', 'pipe', 'inherit'] });
  let helperOut = '';
  helper.stdout.setEncoding('utf8').on('data', (c: string) => (helperOut += c));
  const helperDone = new Promise<number | null>((resolve) => helper.once('exit', resolve));
  let running = true;
  void helperDone.then(() => (running = false));

  const failures: string[] = [];
  let scrapes = 0;
  const deadline = Date.now() + scaled(60_000, 600_000);
  const scraper = async (): Promise<void> => {
    while (running && Date.now() < deadline) {
      try {
        const r = await get(url);
        scrapes++;
        if (r.status !== 200) failures.push(`status ${r.status}`);
        // The files nobody touches are served exactly in every scrape.
        const lines = new Set(mergedLines(r.body));
        const missing = good.filter((l) => !lines.has(l));
        if (missing.length > 0) failures.push(`good samples missing or wrong: ${missing.slice(0, 3).join(', ')}`);
      } catch (e) {
        failures.push(`request failed: ${(e as Error).message}`);
        if (daemon!.child.exitCode !== null || daemon!.child.signalCode !== null) break;
      }
    }
  };
  await Promise.all([scraper(), scraper(), scraper(), scraper()]);
  helper.kill('SIGKILL'); // only if the deadline passed first
  expect(await helperDone).toBe(0);
  expect(JSON.parse(helperOut)).toEqual({ cycles: CYCLES });

  expect({ exitCode: daemon.child.exitCode, signal: daemon.child.signalCode }).toEqual({ exitCode: null, signal: null });
  expect(failures).toEqual([]);
  expect(scrapes).toBeGreaterThan(50);

  // Restored in place: every value is exact again (no zero page left behind).
  const final = await get(url);
  expect(mergedLines(final.body)).toEqual(everything);
  expect(selfValue(final.body, 'files_skipped', { reason: 'empty_file' })).toBeUndefined();
  // The daemon did see the files cut (it skipped them while they were short).
  const skips = ['empty_file', 'used_out_of_range', 'entry_crosses_used', 'bad_entry_length']
    .map((reason) => selfValue(final.body, 'skipped_files_total', { reason }) ?? 0)
    .reduce((a, b) => a + b, 0);
  expect(skips).toBeGreaterThan(0);
  console.log(
    `truncation: ${CYCLES} cycles, ${scrapes} scrapes, ${skips} skips, ${selfValue(final.body, 'shrunk_file_faults_total')} SIGBUS faults absorbed`,
  );
  expect(await daemon.stop()).toBe(0);
}, scaled(90_000, 900_000));
