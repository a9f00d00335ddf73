/**
 * Files at and past the sizes the native reader can map, against the built CLI (`render` and
 * `serve`, real processes): a file over maxLength() (4 GiB on Node 20) once aborted the whole
 * process (free(): double free, SIGABRT), then was skipped. `used` is an int32, so a reader never
 * needs more than a file's first 2^31 bytes: now a larger file maps only that prefix and is served
 * like any other — at start and when a file grows past the limit while the daemon runs. A mapping
 * the kernel refuses is still skipped with a reason. Sparse files: nothing is written past the
 * entries.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadNative, nativeLoadError } from '../../src/native.js';
import { buildDb } from '../helpers/db-bytes.js';
import { BIN, startDaemon, type Daemon } from '../helpers/daemon.js';
import { parseExposition, sampleLines } from '../helpers/parse-exposition.js';
import { get, mergedLines, until } from '../helpers/scrape.js';

const isCI = process.env.CI === 'true' || process.env.CI === '1';
const native = loadNative();
if (!native && !isCI) console.warn(`native file-size tests skipped: ${nativeLoadError()}`);

const GiB = 2 ** 30;
const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const GOOD_FIXTURES = ['v025-counter_basic', 'rb-basic'];
const GOOD_LINES = GOOD_FIXTURES.flatMap((f) => sampleLines(parseExposition(readFileSync(join(FIXTURES, f, 'expected.txt'), 'utf8')).samples)).sort();
const LIBRARY_SEMANTICS = ['--liveness', 'off'];
// Generous: `npm run test:native-asan` runs these against the ASan build (2-3x slower to start).
const START_MS = 30_000;

const tmp = mkdtempSync(join(tmpdir(), 'mpe-filesizes-'));
const running: Daemon[] = [];
afterAll(async () => {
  await Promise.all(running.map((d) => d.stop()));
  rmSync(tmp, { recursive: true, force: true });
});

/** A valid file holding `big_total <value>`, `size` bytes long (sparse past its entries). */
function bigFile(path: string, value: number, size: number): void {
  writeFileSync(path, buildDb([{ key: '["big", "big_total", {}, "A file at the size limit."]', value }], { slot: 16 }));
  truncateSync(path, size);
}

/** An empty file extended to `size` bytes: all zeros, no blocks on disk. */
function sparse(path: string, size: number): void {
  writeFileSync(path, '');
  truncateSync(path, size);
}

let dirCount = 0;
function goodDir(): string {
  const dir = join(tmp, `d${dirCount++}`);
  mkdirSync(dir);
  for (const f of GOOD_FIXTURES) cpSync(join(FIXTURES, f), dir, { recursive: true, filter: (src) => !/\.(txt|jsonl|json)$|README$/.test(src) });
  return dir;
}

const skippedReasons = (body: string, metric: string): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const s of parseExposition(body).samples) if (s.name === `multiproc_exporter_${metric}`) out[s.labels.find((l) => l[0] === 'reason')![1]] = s.value;
  return out;
};

interface Kind {
  readonly name: string;
  readonly file: string;
  readonly setup: (path: string) => void;
  /** The samples it adds (none: a file of zeros is header-only). */
  readonly served: readonly string[];
}

const KINDS: readonly Kind[] = [
  { name: 'a sparse 5 GiB file of zeros (header only)', file: 'counter_2.db', setup: (p) => sparse(p, 5 * GiB), served: [] },
  { name: 'a valid file extended to 5 GiB', file: 'counter_3.db', setup: (p) => bigFile(p, 3, 5 * GiB), served: ['big_total 3'] },
  { name: 'a valid file extended to 4 GiB + 1 byte', file: 'counter_4.db', setup: (p) => bigFile(p, 4, 4 * GiB + 1), served: ['big_total 4'] },
  { name: 'a valid file extended to 1 TiB', file: 'counter_5.db', setup: (p) => bigFile(p, 5, 1024 * GiB), served: ['big_total 5'] },
  { name: 'a valid file of exactly 4 GiB', file: 'counter_6.db', setup: (p) => bigFile(p, 6, 4 * GiB), served: ['big_total 6'] },
  { name: 'a valid file of 2 GiB + 8 bytes (just past the mapped prefix)', file: 'counter_9.db', setup: (p) => bigFile(p, 9, 2 * GiB + 8), served: ['big_total 9'] },
];

describe.skipIf(!native && !isCI)('files at and past the mappable size (native reader)', { timeout: 60_000 }, () => {
  it('the addon is loaded and maps at most 4 GiB here (the sizes below are chosen for that)', () => {
    expect(nativeLoadError()).toBeNull();
    expect(native?.maxLength()).toBe(4 * GiB);
  });

  describe.concurrent('render', () => {
    it.each(KINDS.map((k) => [k.name, k] as const))('%s', (_name, kind) => {
      const dir = goodDir();
      kind.setup(join(dir, kind.file));
      const r = spawnSync(process.execPath, [BIN, 'render', '--dir', dir, ...LIBRARY_SEMANTICS], { encoding: 'utf8', timeout: 30_000 });
      expect({ status: r.status, signal: r.signal }).toEqual({ status: 0, signal: null });
      expect(mergedLines(r.stdout)).toEqual([...GOOD_LINES, ...kind.served].sort());
      expect(r.stderr).toBe('');
      rmSync(dir, { recursive: true, force: true });
    });
  });

  describe.concurrent('serve', () => {
    it.each(KINDS.map((k) => [k.name, k] as const))('%s', async (_name, kind) => {
      const dir = goodDir();
      kind.setup(join(dir, kind.file));
      const d = await startDaemon(['--dir', dir, ...LIBRARY_SEMANTICS], { timeoutMs: START_MS });
      running.push(d);
      for (let i = 0; i < 2; i++) {
        const r = await get(`${d.url}/metrics`);
        expect(r.status).toBe(200);
        expect(mergedLines(r.body)).toEqual([...GOOD_LINES, ...kind.served].sort());
        expect(skippedReasons(r.body, 'files_skipped')).toEqual({});
        expect(skippedReasons(r.body, 'skipped_files_total')).toEqual({});
      }
      expect(d.logs.filter((l) => l['file'] === kind.file)).toEqual([]);
      expect(d.logs.filter((l) => l['level'] === 'error')).toEqual([]);
      expect((await get(`${d.url}/liveness`)).status).toBe(200);
      expect(await d.stop()).toBe(0);
      rmSync(dir, { recursive: true, force: true });
    });

    it('a served file that grows past 4 GiB at the next scan is still served, as is a new 6 GiB one, and both follow a shrink back', async () => {
      const dir = goodDir();
      const file = join(dir, 'counter_7.db');
      bigFile(file, 7, 4096);
      const d = await startDaemon(['--dir', dir, ...LIBRARY_SEMANTICS], { timeoutMs: START_MS });
      running.push(d);
      const url = `${d.url}/metrics`;
      const first = await get(url);
      expect(mergedLines(first.body)).toEqual([...GOOD_LINES, 'big_total 7'].sort());

      truncateSync(file, 5 * GiB); // mapped at 4 KiB; the next scan remaps its first 2 GiB
      bigFile(join(dir, 'counter_8.db'), 8, 6 * GiB); // and a new one appears
      const grown = await until('both big files served', async () => {
        const r = await get(url);
        return mergedLines(r.body).includes('big_total 15') ? r : undefined;
      }, START_MS);
      expect(mergedLines(grown.body)).toEqual([...GOOD_LINES, 'big_total 15'].sort());

      truncateSync(file, 4096); // the entry is still there
      rmSync(join(dir, 'counter_8.db'));
      const shrunk = await until('the removed file gone', async () => {
        const r = await get(url);
        return mergedLines(r.body).includes('big_total 7') ? r : undefined;
      }, START_MS);
      expect(mergedLines(shrunk.body)).toEqual([...GOOD_LINES, 'big_total 7'].sort());
      expect(skippedReasons(shrunk.body, 'skipped_files_total')).toEqual({});
      expect(d.logs.filter((l) => l['level'] === 'error')).toEqual([]);
      expect({ exitCode: d.child.exitCode, signal: d.child.signalCode }).toEqual({ exitCode: null, signal: null });
      expect(await d.stop()).toBe(0);
      rmSync(dir, { recursive: true, force: true });
    });
  });
});

describe.skipIf(!native && !isCI)('a mapping the kernel refuses', { timeout: 60_000 }, () => {
  it('under an address-space limit (ulimit -v) a 4 GiB file is skipped with ENOMEM, the others served', () => {
    const dir = goodDir();
    bigFile(join(dir, 'counter_6.db'), 6, 4 * GiB);
    // The plain build: ASan's shadow memory cannot live under an address-space limit, so the
    // sanitizer run (LD_PRELOAD) runs this one case without it.
    const env: Record<string, string | undefined> = { ...process.env, LD_PRELOAD: undefined, MULTIPROC_EXPORTER_NATIVE_ADDON: undefined, ASAN_OPTIONS: undefined };
    for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
    const script = 'ulimit -v 3000000 && exec "$0" "$@"'; // 3 GB: node runs, a 4 GiB mapping does not fit
    const r = spawnSync('/bin/sh', ['-c', script, process.execPath, BIN, 'render', '--dir', dir, ...LIBRARY_SEMANTICS], { encoding: 'utf8', timeout: 30_000, env: env as NodeJS.ProcessEnv });
    expect({ status: r.status, signal: r.signal }).toEqual({ status: 0, signal: null });
    expect(mergedLines(r.stdout)).toEqual(GOOD_LINES);
    expect(r.stderr).toMatch(
      new RegExp(`^skipped \\[open_failed\\] ${join(dir, 'counter_6.db').replace(/[.]/g, '\\.')}: cannot be mapped \\(${4 * GiB} bytes\\): mmap failed: ENOMEM \\(fd \\d+, length ${2 * GiB}\\); skipped, other files served\\n$`),
    );
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('without the addon (plain reads), the same files', { timeout: 60_000 }, () => {
  it('render reads only the used bytes: a valid 5 GiB file is served', () => {
    const dir = goodDir();
    bigFile(join(dir, 'counter_3.db'), 3, 5 * GiB);
    const r = spawnSync(process.execPath, [BIN, 'render', '--dir', dir, ...LIBRARY_SEMANTICS], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, MULTIPROC_EXPORTER_NO_NATIVE: '1' },
    });
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({
      status: 0,
      signal: null,
      stderr: 'multiproc-exporter: native mmap addon unavailable (disabled by MULTIPROC_EXPORTER_NO_NATIVE); reading files with plain reads\n',
    });
    expect(mergedLines(r.stdout)).toEqual([...GOOD_LINES, 'big_total 3'].sort());
    rmSync(dir, { recursive: true, force: true });
  });
});
