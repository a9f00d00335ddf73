/**
 * `multiproc-exporter render` as a user runs it (the built binary, a real process): good files
 * are all served, each bad file is one stderr line with its reason, the exit code says whether
 * the directory itself was usable.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseExposition, sampleLines } from '../helpers/parse-exposition.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'multiproc-exporter');
const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const tmp = mkdtempSync(join(tmpdir(), 'mpe-render-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function render(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, 'render', ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** counter_basic's good files plus one broken copy of counter_5466.db per kind of damage. */
function dirWithBadFiles(): string {
  const dir = join(tmp, 'bad');
  cpSync(join(FIXTURES, 'counter_basic'), dir, { recursive: true });
  const good = readFileSync(join(dir, 'counter_5466.db'));
  const variant = (name: string, damage: (b: Buffer) => void): void => {
    const b = Buffer.from(good);
    damage(b);
    writeFileSync(join(dir, name), b);
  };
  writeFileSync(join(dir, 'counter_9001.db'), ''); // 0 bytes: a Python writer between open and truncate
  variant('counter_9002.db', (b) => b.writeInt32LE(b.length + 8, 0)); // used beyond the file size
  variant('counter_9003.db', (b) => b.writeInt32LE(200, 0)); // 2nd entry (104..208) crosses used
  variant('counter_9004.db', (b) => (b[0x70] = 0xff)); // invalid UTF-8 inside the 2nd key
  variant('counter_9005.db', (b) => (b[0x0d] = 0x78)); // ["jobs… → [xjobs…: not JSON
  writeFileSync(join(dir, 'exemplar_1-0.db'), good); // Vinted fork's exemplar files: unknown type
  writeFileSync(join(dir, 'notes.txt'), 'not a .db file: ignored silently');
  return dir;
}

describe('render', () => {
  it('prints the merged exposition of a real directory on stdout, exit 0', () => {
    const r = render('--dir', join(FIXTURES, 'v025-counter_basic'));
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(
      [
        '# HELP jobs_processed_total Jobs processed (no labels).',
        '# TYPE jobs_processed_total counter',
        'jobs_processed_total 111',
        '# HELP requests_total Total requests handled.',
        '# TYPE requests_total counter',
        'requests_total{code="200",method="GET"} 15.75',
        'requests_total{code="201",method="PUT"} 16',
        'requests_total{code="404",method="DELETE"} 0',
        'requests_total{code="500",method="POST"} 6',
        '',
      ].join('\n'),
    );
  });

  it('prints OpenMetrics with --format openmetrics', () => {
    const r = render('--dir', join(FIXTURES, 'rb-same_worker_id'), '--format', 'openmetrics');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(
      [
        '# TYPE rb_same_id counter',
        '# HELP rb_same_id Multiprocess metric',
        'rb_same_id_total 3',
        '# TYPE rb_same_id_gauge gauge',
        '# HELP rb_same_id_gauge Multiprocess metric',
        'rb_same_id_gauge{pid="sidekiq_0"} 1',
        '# EOF',
        '',
      ].join('\n'),
    );
  });

  it('skips each bad file with one stderr line giving path and reason, and serves every good sample', () => {
    const dir = dirWithBadFiles();
    const r = render('--dir', dir);
    expect(r.status).toBe(0);
    const want = parseExposition(readFileSync(join(FIXTURES, 'counter_basic', 'expected.txt'), 'utf8'));
    expect(sampleLines(parseExposition(r.stdout).samples)).toEqual(sampleLines(want.samples));
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toEqual([
      `skipped [empty_file] ${dir}/counter_9001.db: has 0 bytes, fewer than the 8-byte header (still being created?); skipped, other files served`,
      `skipped [used_out_of_range] ${dir}/counter_9002.db: header says 65544 bytes are used, but the file has 65536 bytes (valid: 8..size, a multiple of 8); skipped, other files served`,
      `skipped [entry_crosses_used] ${dir}/counter_9003.db: entry at offset 104 (key length 91) ends at 208, past used=200; skipped, other files served`,
      `skipped [bad_key_utf8] ${dir}/counter_9004.db: key at offset 108 is not valid UTF-8; skipped, other files served`,
      `skipped [bad_key_json] ${dir}/counter_9005.db: key at offset 12 is not JSON (unexpected character at character 1): ` +
        `"[xjobs_processed\\", \\"jobs_processed_total\\", {}, \\"Jobs processed (no labels).\\"]"; skipped, other files served`,
      `skipped [file_name] ${dir}/exemplar_1-0.db: file name metric type prefix "exemplar" is not counter, gauge, histogram or summary; skipped, other files served`,
    ]);
  });

  it('exits 2 with a clear message when the directory does not exist', () => {
    const r = render('--dir', join(tmp, 'nope'));
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`multiproc-exporter: metrics directory ${join(tmp, 'nope')} cannot be read: ENOENT: no such file or directory, stat '${join(tmp, 'nope')}'\n`);
  });

  it('exits 2 when the directory is a file or unreadable', () => {
    const file = join(tmp, 'plain-file');
    writeFileSync(file, '');
    expect(render('--dir', file).status).toBe(2);
    const locked = join(tmp, 'locked');
    mkdirSync(locked);
    chmodSync(locked, 0o000);
    const r = render('--dir', locked);
    chmodSync(locked, 0o700);
    // root reads any directory; everyone else gets EACCES
    expect(r.status).toBe(process.getuid?.() === 0 ? 0 : 2);
  });

  it('exits 2 on a usage error', () => {
    expect(render().status).toBe(2);
    expect(render('--dir', FIXTURES, '--format', 'xml').status).toBe(2);
  });
});
