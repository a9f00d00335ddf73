/**
 * The /status page as a person sees it: the built daemon over a directory with live writers that
 * beat, one that exited, a corrupt file and a file whose name is hostile (quotes, `<`, a newline),
 * read in headless Chromium (Debian's, driven by playwright-core) with JavaScript off. The test
 * asserts the text on the page, never pixels, and takes a screenshot (a PNG); with
 * MULTIPROC_EXPORTER_UPDATE_SCREENSHOT=1 it replaces docs/status-page.png (otherwise the tree stays clean).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { buildDb } from '../helpers/db-bytes.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { peerAvailableUnderCi, peers } from '../helpers/peers.js';
import { holdProcess, WRITER_WORKER, writerEnv, type HeldWriter } from '../helpers/writer-process.js';

const { chromium: browserPeer } = peers();
const DOCS_SCREENSHOT = join(import.meta.dirname, '..', '..', 'docs', 'status-page.png');
/** A process id with a quote, markup and a newline: its file is served like any other. */
const HOSTILE_ID = `q"<b>x&'\nid`; // no "/": it is a file name
const HOSTILE_FILE = `counter_${HOSTILE_ID}.db`;

const tmp = mkdtempSync(join(tmpdir(), 'mpe-status-page-'));
const running: { writers: HeldWriter[]; daemon: Daemon | null; browser: Browser | null } = { writers: [], daemon: null, browser: null };
afterAll(async () => {
  await running.browser?.close();
  await running.daemon?.stop();
  for (const w of running.writers) w.kill();
  rmSync(tmp, { recursive: true, force: true });
});

async function worker(dir: string, beatSeconds: number): Promise<HeldWriter> {
  const w = holdProcess(process.execPath, [WRITER_WORKER, 'hold', '0'], { ...writerEnv(dir, 'python', undefined), WRITER_HEARTBEAT: String(beatSeconds) });
  running.writers.push(w);
  await w.ready;
  return w;
}

peerAvailableUnderCi(browserPeer);

describe.runIf(browserPeer.available)('/status in a browser', () => {
  it('shows workers with pid and state, the skipped file with its reason, and a hostile file name literally', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmp, 'dir-'));
    const live1 = await worker(dir, 0.5);
    const live2 = await worker(dir, 0.5);
    const gone = await worker(dir, 0.5);
    gone.release();
    expect(await gone.exited).toBe(0);
    // Used (1000) beyond the file's 64 bytes: the reader must skip it.
    const corrupt = Buffer.alloc(64);
    corrupt.writeUInt32LE(1000, 0);
    writeFileSync(join(dir, 'counter_broken.db'), corrupt);
    writeFileSync(join(dir, HOSTILE_FILE), buildDb([{ key: JSON.stringify(['hostile', 'hostile_total', {}, 'Hostile.']), value: 7 }], { slot: 16 }));

    const d = await startDaemon(['--dir', dir]);
    running.daemon = d;
    // Two scrapes, so the page has timings to show.
    for (let i = 0; i < 2; i++) expect((await request(`${d.url}/metrics`)).statusCode).toBe(200);

    const browser = await chromium.launch({ executablePath: browserPeer.command, timeout: 30_000 });
    running.browser = browser;
    const page = await browser.newPage({ javaScriptEnabled: false, viewport: { width: 1100, height: 900 } });
    const response = await page.goto(`${d.url}/status`, { timeout: 20_000 });
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-type']).toBe('text/html; charset=utf-8');
    expect(await page.title()).toBe('multiproc-exporter status');

    const rows = async (selector: string): Promise<string[][]> =>
      page.$$eval(`${selector} tr:has(td)`, (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => (td.textContent ?? '').trim())));
    expect(await page.locator('h2', { hasText: 'Workers' }).textContent()).toBe('Workers (4)');
    const workers = await rows('#workers');
    // Live workers first, then the dead: the one that exited and the hostile file's (no process holds it).
    const live = [String(live1.pid), String(live2.pid)].sort();
    expect(workers.map((r) => [r[0], r[1], r[2]])).toEqual([
      [live[0], 'live', '2'],
      [live[1], 'live', '2'],
      [String(gone.pid), 'dead', '2'],
      [`q"<b>x&'\\nid`, 'dead', '1'],
    ]);
    for (const w of workers.filter((r) => r[1] === 'live')) {
      expect(w[4]).toMatch(/^\d+\.\d s$/); // heartbeat age
      expect(Number.parseFloat(w[4]!)).toBeLessThan(10);
      expect(w[5]).toBe('yes');
    }

    const skipped = await rows('#files-skipped');
    expect(skipped).toEqual([['counter_broken.db', 'used_out_of_range', 'header says 1000 bytes are used, but the file has 64 bytes (valid: 8..size, a multiple of 8)', '64']]);

    // The hostile name: its quote and markup as text, its newline as a visible \n.
    const dead = await rows('#files-dead');
    expect(dead.map((r) => [r[0], r[1]])).toContainEqual([`counter_q"<b>x&'\\nid.db`, `q"<b>x&'\\nid`]);
    expect(dead).toHaveLength(3);
    expect(await page.locator('b').count()).toBe(0); // no markup of the file's made it into the page

    const scrapes = await rows('#scrapes');
    expect(scrapes.length).toBeGreaterThanOrEqual(2);
    for (const s of scrapes) {
      expect(s[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(Number(s[1])).toBeGreaterThan(0);
      expect(s[2]).toBe('4'); // files read: the two live workers' (dead writers' files are folded, not read again)
    }

    const png = await page.screenshot({ fullPage: true });
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    if (process.env['MULTIPROC_EXPORTER_UPDATE_SCREENSHOT'] === '1') writeFileSync(DOCS_SCREENSHOT, png);
  });
});
