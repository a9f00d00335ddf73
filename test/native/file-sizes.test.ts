/**
 * Files at and past the sizes the native reader can map, against the built CLI (`render` and
 * `serve`, real processes): a file over maxLength() (4 GiB on Node 20) once aborted the whole
 * process (free(): double free, SIGABRT). Now it is skipped with a reason, logged once, counted in
 * the self metrics, and every other file is still served exactly — at start and when a file
 * grows past the limit while the daemon runs. Sparse files: nothing is written past the header.
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
import { get, mergedLines, selfValue, until } from '../helpers/scrape.js';

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

/** What the reader says of a file it cannot map: `size` bytes, over maxLength(). */
const tooLarge = (size: number): RegExp =>
  new RegExp(`^cannot be mapped \\(${size} bytes\\): mmap: length is more than the ${native?.maxLength() ?? 0} bytes a buffer can hold in this Node\\.js \\(fd \\d+, length ${size}\\)$`);

const skippedReasons = (body: string, metric: string): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const s of parseExposition(body).samples) if (s.name === `multiproc_exporter_${metric}`) out[s.labels.find((l) => l[0] === 'reason')![1]] = s.value;
  return out;
};

interface Kind {
  readonly name: string;
  readonly file: string;
  readonly size: number;
  readonly setup: (path: string) => void;
  /** Served: the sample it adds; null = skipped as too large to map. */
  readonly served: string | null;
}

const KINDS: readonly Kind[] = [
  { name: 'a sparse 5 GiB file of zeros', file: 'counter_2.db', size: 5 * GiB, setup: (p) => sparse(p, 5 * GiB), served: null },
  { name: 'a valid file extended to 5 GiB', file: 'counter_3.db', size: 5 * GiB, setup: (p) => bigFile(p, 3, 5 * GiB), served: null },
  { name: 'a valid file extended to 4 GiB + 1 byte', file: 'counter_4.db', size: 4 * GiB + 1, setup: (p) => bigFile(p, 4, 4 * GiB + 1), served: null },
  { name: 'a valid file extended to 1 TiB', file: 'counter_5.db', size: 1024 * GiB, setup: (p) => bigFile(p, 5, 1024 * GiB), served: null },
  { name: 'a valid file of exactly 4 GiB (the largest mappable on Node 20)', file: 'counter_6.db', size: 4 * GiB, setup: (p) => bigFile(p, 6, 4 * GiB), served: 'big_total 6' },
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
      expect(mergedLines(r.stdout)).toEqual([...GOOD_LINES, ...(kind.served === null ? [] : [kind.served])].sort());
      if (kind.served === null) {
        const prefix = `skipped [open_failed] ${join(dir, kind.file)}: `;
        expect(r.stderr.startsWith(prefix)).toBe(true);
        expect(r.stderr.endsWith('; skipped, other files served\n')).toBe(true);
        expect(r.stderr.split('\n')).toHaveLength(2);
        expect(r.stderr.slice(prefix.length, -'; skipped, other files served\n'.length)).toMatch(tooLarge(kind.size));
      } else {
        expect(r.stderr).toBe('');
      }
      rmSync(dir, { recursive: true, force: true });
    });
  });

  describe.concurrent('serve', () => {
    it.each(KINDS.map((k) => [k.name, k] as const))('%s', async (_name, kind) => {
      const dir = goodDir();
      kind.setup(join(dir, kind.file));
      const d = await startDaemon(['--dir', dir, ...LIBRARY_SEMANTICS], { timeoutMs: START_MS });
      running.push(d);
      const reasons = kind.served === null ? { open_failed: 1 } : {};
      for (let i = 0; i < 2; i++) {
        const r = await get(`${d.url}/metrics`);
        expect(r.status).toBe(200);
        expect(mergedLines(r.body)).toEqual([...GOOD_LINES, ...(kind.served === null ? [] : [kind.served])].sort());
        expect(skippedReasons(r.body, 'files_skipped')).toEqual(reasons);
        expect(skippedReasons(r.body, 'skipped_files_total')).toEqual(reasons);
      }
      const lines = d.logs.filter((l) => l['file'] === kind.file);
      if (kind.served === null) {
        expect(lines).toEqual([expect.objectContaining({ level: 'warn', reason: 'open_failed' })]);
        expect(String(lines[0]!['msg'])).toMatch(/; skipped, other files served$/);
        expect(JSON.stringify(lines[0])).toContain(`a buffer can hold in this Node.js (fd `);
      } else {
        expect(lines).toEqual([]);
      }
      expect(d.logs.filter((l) => l['level'] === 'error')).toEqual([]);
      expect((await get(`${d.url}/liveness`)).status).toBe(200);
      expect(await d.stop()).toBe(0);
      rmSync(dir, { recursive: true, force: true });
    });

    it('a served file that grows past 4 GiB at the next scan is skipped, and served again once it shrinks back', async () => {
      const dir = goodDir();
      const file = join(dir, 'counter_7.db');
      bigFile(file, 7, 4096);
      const d = await startDaemon(['--dir', dir, ...LIBRARY_SEMANTICS], { timeoutMs: START_MS });
      running.push(d);
      const url = `${d.url}/metrics`;
      const first = await get(url);
      expect(mergedLines(first.body)).toEqual([...GOOD_LINES, 'big_total 7'].sort());

      truncateSync(file, 5 * GiB); // mapped at 4 KiB; the next scan remaps at the new size
      sparse(join(dir, 'counter_8.db'), 6 * GiB); // and a new one appears
      const skipped = await until('both big files skipped', async () => {
        const r = await get(url);
        return selfValue(r.body, 'files_skipped', { reason: 'open_failed' }) === 2 ? r : undefined;
      }, START_MS);
      expect(mergedLines(skipped.body)).toEqual(GOOD_LINES);
      const logged = d.logs.filter((l) => l['reason'] === 'open_failed').map((l) => l['file']);
      expect(logged.sort()).toEqual(['counter_7.db', 'counter_8.db']);

      truncateSync(file, 4096); // the entry is still there: it heals
      rmSync(join(dir, 'counter_8.db'));
      const healed = await until('the file served again', async () => {
        const r = await get(url);
        return selfValue(r.body, 'files_skipped', { reason: 'open_failed' }) === undefined ? r : undefined;
      }, START_MS);
      expect(mergedLines(healed.body)).toEqual([...GOOD_LINES, 'big_total 7'].sort());
      expect(skippedReasons(healed.body, 'skipped_files_total')).toEqual({ open_failed: 2 });
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
      new RegExp(`^skipped \\[open_failed\\] ${join(dir, 'counter_6.db').replace(/[.]/g, '\\.')}: cannot be mapped \\(${4 * GiB} bytes\\): mmap failed: ENOMEM \\(fd \\d+, length ${4 * GiB}\\); skipped, other files served\\n$`),
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
