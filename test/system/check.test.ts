/**
 * `multiproc-exporter check` as an operator runs it (the built binary, a real process): the
 * report on a directory of real Python, Ruby and our writer's files, one with skipped files, one
 * the exposition gate trims, a missing one; the exit codes 0/1/2; and that it never writes to the
 * directory. Expected counts come from the fixtures' files and the libraries' own expected.txt.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckReport } from '../../src/check/report.js';
import { buildHostileDir, type HostileDir } from '../helpers/hostile-dir.js';
import { parseExposition } from '../helpers/parse-exposition.js';
import { peerAvailableUnderCi, peers } from '../helpers/peers.js';
import { type HeldWriter, holdProcess, holdWriter } from '../helpers/writer-process.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'multiproc-exporter');
const DIST = join(import.meta.dirname, '..', '..', 'dist');
const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const TMPFS_MAGIC = 0x01021994;
const tmp = mkdtempSync(join(tmpdir(), 'mpe-check-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function check(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, 'check', ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The report as printed by `--json` (the fields a readable directory has, typed as present). */
function checkJson(...args: string[]): { status: number | null; report: Required<CheckReport>; stderr: string } {
  const r = check(...args, '--json');
  return { status: r.status, report: JSON.parse(r.stdout) as Required<CheckReport>, stderr: r.stderr };
}

function copyDbFiles(fixture: string, dir: string): string[] {
  const names = readdirSync(join(FIXTURES, fixture)).filter((n) => n.endsWith('.db'));
  for (const n of names) copyFileSync(join(FIXTURES, fixture, n), join(dir, n));
  return names;
}

/** Every file's name, size and mtime, and the directory's mtime: what a write would change. */
function snapshot(dir: string): string[] {
  return [`. ${lstatSync(dir).mtimeMs}`, ...readdirSync(dir).sort().map((n) => { const st = lstatSync(join(dir, n)); return `${n} ${st.size} ${st.mtimeMs}`; })];
}

function sizeOf(dir: string): { bytes: number; allocatedBytes: number } {
  let bytes = 0;
  let allocatedBytes = 0;
  for (const n of readdirSync(dir).filter((x) => x.endsWith('.db'))) {
    const st = lstatSync(join(dir, n));
    bytes += st.size;
    allocatedBytes += st.blocks * 512;
  }
  return { bytes, allocatedBytes };
}

const onTmpfs = (dir: string): boolean => statfsSync(dir).type === TMPFS_MAGIC;
/** The warning for a directory on a disk filesystem (`name` as the report names it: ext2/3/4 on this machine's /tmp). */
const notTmpfs = (name: string | undefined): string => `on ${name}, not tmpfs: every writer pays page write-back faults; put the directory on tmpfs`;
const counts = (c: Partial<Record<'live' | 'unknown' | 'dead' | 'skipped' | 'absorbed', number>>) => {
  const all = { live: 0, unknown: 0, dead: 0, skipped: 0, absorbed: 0, ...c };
  return { ...all, total: all.live + all.unknown + all.dead + all.skipped + all.absorbed };
};

describe('check: real Python, Ruby and writer files with a live writer', () => {
  const dir = join(tmp, 'mixed');
  let writer: HeldWriter;
  let python: string[];
  let ruby: string[];
  beforeAll(async () => {
    mkdirSync(dir);
    python = copyDbFiles('counter_basic', dir);
    ruby = copyDbFiles('rb-basic', dir);
    // Our writer, Python layout, holding its files (and their locks) until released.
    writer = holdWriter(dir, 'python', 'w1', 'lifecycle', [0]);
    await writer.ready;
  });
  afterAll(async () => {
    writer.release();
    await writer.exited;
  });

  it('reports files by dialect and state, writers, families, size; verdict ok, exit 0', () => {
    const ours = readdirSync(dir).filter((n) => n.endsWith('_w1.db'));
    expect(python).toHaveLength(4);
    expect(ruby).toHaveLength(24);
    expect(ours).toHaveLength(6); // counter, histogram, gauge_all, gauge_max, gauge_livesum, gauge_liveall
    const before = snapshot(dir);
    const { status, report } = checkJson('--dir', dir);
    expect(snapshot(dir)).toEqual(before);
    expect(status).toBe(0);
    expect(report.version).toBe(1);
    expect(report.dir).toBe(dir);
    expect(report.verdict).toBe('ok');
    expect(report.exitCode).toBe(0);
    expect(report.problems).toEqual([]);
    expect(report.warnings).toEqual(onTmpfs(dir) ? [] : [notTmpfs(report.filesystem?.name)]);
    expect(report.liveness).toBe('auto');
    expect(report.native).toBe(true);
    expect(report.filesystem?.tmpfs).toBe(onTmpfs(dir));
    expect(report.size).toEqual(sizeOf(dir));
    // Our writer's files are locked: live. Ruby's unlocked `-0.db` files: dead. A writer being
    // visible, the Python files no process maps are dead too (their writers exited long ago).
    expect(report.files.byState).toEqual(counts({ live: 6, dead: 28 }));
    expect(report.files.byDialect).toEqual({
      python: counts({ live: 6 }),
      // prometheus_client 0.16 files (8-byte slots); counter_999999.db holds no entry to tell by.
      'python-legacy': counts({ dead: 3 }),
      ruby: counts({ dead: 24 }),
      unknown: counts({ dead: 1 }),
    });
    expect(report.files.skipped).toEqual([]);
    expect(report.files.skippedByReason).toEqual({});
    expect(report.files.partlySkipped).toEqual([]);
    expect(report.writers).toEqual({ visible: true, processes: 1, filesWithProcess: 6, filesServed: 6 });
    expect(report.gate).toEqual({ rejections: 0, byReason: {}, rejected: [] });

    // Families and series: the libraries' own expositions (dead Ruby writers' live* gauges left
    // out) plus the writer's lifecycle scenario: 6 families, 9 series.
    const libs = [...parseExposition(readFileSync(join(FIXTURES, 'counter_basic', 'expected.txt'), 'utf8')).samples, ...parseExposition(readFileSync(join(FIXTURES, 'rb-basic', 'expected.txt'), 'utf8')).samples].filter((s) => !s.name.startsWith('rb_g_live'));
    expect(report.families.series).toBe(libs.length + 9);
    expect(report.families.series).toBe(70);
    expect(report.families.total).toBe(15);
    expect(report.families.top).toEqual([
      { name: 'rb_latency_seconds', type: 'histogram', series: 32 },
      { name: 'rb_g_all', type: 'gauge', series: 9 },
      { name: 'rb_g_max', type: 'gauge', series: 5 },
      { name: 'rb_g_min', type: 'gauge', series: 5 },
      { name: 'lc_latency_seconds', type: 'histogram', series: 4 },
      { name: 'requests', type: 'counter', series: 4 },
      { name: 'rb_payload_bytes', type: 'summary', series: 2 },
      { name: 'rb_requests', type: 'counter', series: 2 },
      { name: 'jobs_processed', type: 'counter', series: 1 },
      { name: 'lc_connected', type: 'gauge', series: 1 },
    ]);
  });

  it('prints the same as an aligned table for a person', () => {
    const r = check('--dir', dir);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.split('\n');
    const at = lines.indexOf('files by dialect and state');
    expect(lines.slice(at, at + 7)).toEqual([
      'files by dialect and state',
      '  dialect        live  unknown  dead  skipped  absorbed  total',
      '  python            6        0     0        0         0      6',
      '  python-legacy     0        0     3        0         0      3',
      '  ruby              0        0    24        0         0     24',
      '  unknown           0        0     1        0         0      1',
      '  all               6        0    28        0         0     34',
    ]);
    const { bytes, allocatedBytes } = sizeOf(dir);
    expect(lines).toContain(`size on disk  ${bytes} bytes (${allocatedBytes} allocated)`);
    expect(lines).toContain('writers       visible: 1 process(es) found for 6 of 6 served file(s)');
    expect(lines).toContain('families: 15, series: 70');
    expect(lines).toContain('  rb_latency_seconds  histogram      32');
    expect(lines.at(-2)).toBe('verdict: ok (exit 0)');
  });
});

describe('check: a directory with skipped files and no visible writer', () => {
  const dir = join(tmp, 'bad');
  beforeAll(() => {
    mkdirSync(dir);
    copyDbFiles('counter_basic', dir);
    const good = readFileSync(join(FIXTURES, 'counter_basic', 'counter_5466.db'));
    const broken = Buffer.from(good);
    broken.writeInt32LE(broken.length + 8, 0); // used beyond the file size
    writeFileSync(join(dir, 'counter_9002.db'), broken);
    writeFileSync(join(dir, 'exemplar_1-0.db'), good); // not a type the libraries write
  });

  it('lists each skipped file with its reason; verdict problems, exit 1', () => {
    const before = snapshot(dir);
    const { status, report } = checkJson('--dir', dir);
    expect(snapshot(dir)).toEqual(before);
    expect(status).toBe(1);
    expect(report.verdict).toBe('problems');
    expect(report.exitCode).toBe(1);
    expect(report.problems).toEqual(['2 file(s) skipped: their values are not served']);
    expect(report.files.byState).toEqual(counts({ unknown: 4, skipped: 2 }));
    expect(report.files.skippedByReason).toEqual({ file_name: 1, used_out_of_range: 1 });
    expect(report.files.skipped).toEqual([
      { file: 'counter_9002.db', reason: 'used_out_of_range', message: `${dir}/counter_9002.db: header says 65544 bytes are used, but the file has 65536 bytes (valid: 8..size, a multiple of 8); skipped, other files served` },
      { file: 'exemplar_1-0.db', reason: 'file_name', message: `${dir}/exemplar_1-0.db: file name metric type prefix "exemplar" is not counter, gauge, histogram or summary; skipped, other files served` },
    ]);
    // The Python writers exited and nothing maps a file here: they cannot be told dead.
    expect(report.writers).toEqual({ visible: false, processes: 0, filesWithProcess: 0, filesServed: 4 });
    expect(report.warnings).toEqual([
      ...(onTmpfs(dir) ? [] : [notTmpfs(report.filesystem?.name)]),
      "no served file's writer process is visible from here (another pid namespace, hidepid, or no writer running): dead Python writers cannot be told from live ones",
      '4 file(s) with a writer neither seen alive nor dead: served as live',
    ]);
    const want = parseExposition(readFileSync(join(FIXTURES, 'counter_basic', 'expected.txt'), 'utf8'));
    expect(report.families.total).toBe(want.types.size);
    expect(report.families.series).toBe(want.samples.length);
    expect(report.gate.rejections).toBe(0);
  });

  it('prints the skipped files and the verdict for a person', () => {
    const r = check('--dir', dir);
    expect(r.status).toBe(1);
    const lines = r.stdout.split('\n');
    const at = lines.indexOf('skipped files: 2');
    expect(lines.slice(at, at + 5)).toEqual([
      'skipped files: 2',
      '  file_name          1',
      '  used_out_of_range  1',
      `  [used_out_of_range] ${dir}/counter_9002.db: header says 65544 bytes are used, but the file has 65536 bytes (valid: 8..size, a multiple of 8); skipped, other files served`,
      `  [file_name] ${dir}/exemplar_1-0.db: file name metric type prefix "exemplar" is not counter, gauge, histogram or summary; skipped, other files served`,
    ]);
    expect(lines).toContain('  - 2 file(s) skipped: their values are not served');
    expect(lines.at(-2)).toBe('verdict: problems (exit 1)');
  });
});

const { python: pythonPeer, ruby: rubyPeer } = peers();
peerAvailableUnderCi(pythonPeer);
peerAvailableUnderCi(rubyPeer);

describe.skipIf(!(pythonPeer.available && rubyPeer.available))('check: what the exposition gate leaves out', () => {
  const dir = join(tmp, 'hostile');
  let hostile: HostileDir;
  beforeAll(() => {
    mkdirSync(dir);
    hostile = buildHostileDir(dir, DIST);
  });

  it('counts every rejection by reason, and the skipped and partly served files; exit 1', () => {
    // The writers have exited: read their files as the libraries do, as the daemon test does.
    const { status, report } = checkJson('--dir', dir, '--liveness', 'off');
    expect(status).toBe(1);
    expect(report.verdict).toBe('problems');
    expect(report.liveness).toBe('off');
    const rejections = Object.values(hostile.rejected).reduce((a, b) => a + b, 0);
    expect(report.gate.byReason).toEqual(Object.fromEntries(Object.entries(hostile.rejected).sort(([a], [b]) => (a < b ? -1 : 1))));
    expect(report.gate.rejections).toBe(rejections);
    expect(report.gate.rejected).toHaveLength(rejections);
    const skipped = Object.entries(hostile.skipped).filter(([, reason]) => reason !== 'type_conflict');
    const partly = Object.entries(hostile.skipped).filter(([, reason]) => reason === 'type_conflict').map(([file]) => file);
    expect(report.files.skippedByReason).toEqual({ bad_key_shape: skipped.length });
    expect(report.files.skipped.map((s) => s.file)).toEqual(skipped.map(([file]) => file).sort());
    expect(report.files.partlySkipped.map((p) => p.file)).toEqual(partly);
    expect(report.problems).toEqual([
      `${skipped.length} file(s) skipped: their values are not served`,
      `${partly.length} file(s) served only in part: some entries could not be merged`,
      `${rejections} family or series rejection(s) by the exposition gate: left out of every scrape`,
    ]);
    const r = check('--dir', dir, '--liveness', 'off');
    expect(r.status).toBe(1);
    expect(r.stdout.split('\n')).toContain(`left out by the exposition gate: ${rejections}`);
  });
});

/** A real prometheus_client writer that keeps its file mapped until stdin closes; argv[1]: a custom process id, or none (its pid). */
const PYTHON_HOLDER = String.raw`
import sys
from prometheus_client import Counter, values
if len(sys.argv) > 1:
    values.ValueClass = values.MultiProcessValue(lambda: sys.argv[1])
Counter('held_requests', 'Requests.', registry=None).inc(3)
print('ready', flush=True)
sys.stdin.read()
`;

describe.skipIf(!pythonPeer.available)('check: live Python writers, found by their mappings', () => {
  const dir = join(tmp, 'python-live');
  const held: HeldWriter[] = [];
  beforeAll(async () => {
    mkdirSync(dir);
    const env = { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir, prometheus_multiproc_dir: dir };
    held.push(holdProcess('/usr/bin/python3', ['-c', PYTHON_HOLDER], env), holdProcess('/usr/bin/python3', ['-c', PYTHON_HOLDER, 'web1'], env));
    await Promise.all(held.map((h) => h.ready));
    copyDbFiles('counter_basic', dir); // their writers long gone
  });
  afterAll(async () => {
    for (const h of held) h.release();
    await Promise.all(held.map((h) => h.exited));
  });

  it('a pid-named file by its pid, a custom-id file by a walk over /proc; the others dead', () => {
    expect(readdirSync(dir).sort()).toEqual([...readdirSync(join(FIXTURES, 'counter_basic')).filter((n) => n.endsWith('.db')), `counter_${held[0]!.pid}.db`, 'counter_web1.db'].sort());
    const { status, report } = checkJson('--dir', dir);
    expect(status).toBe(0);
    expect(report.files.byState).toEqual(counts({ live: 2, dead: 4 }));
    expect(report.writers).toEqual({ visible: true, processes: 2, filesWithProcess: 2, filesServed: 2 });
    expect(report.families.top).toEqual([{ name: 'held_requests', type: 'counter', series: 1 }, { name: 'requests', type: 'counter', series: 4 }, { name: 'jobs_processed', type: 'counter', series: 1 }].sort((a, b) => b.series - a.series || (a.name < b.name ? -1 : 1)));
  });
});

describe('check: cannot read', () => {
  it('a missing directory: exit 2, the reason on stderr, and as JSON', () => {
    const missing = join(tmp, 'nope');
    const r = check('--dir', missing);
    expect(r.status).toBe(2);
    const message = `metrics directory ${missing} cannot be read: ENOENT: no such file or directory, stat '${missing}'`;
    expect(r.stderr).toBe(`multiproc-exporter: ${message}\n`);
    expect(r.stdout.split('\n').at(-2)).toBe('verdict: unreadable (exit 2)');
    const j = checkJson('--dir', missing);
    expect(j.status).toBe(2);
    expect(j.report).toEqual({ version: 1, dir: missing, verdict: 'unreadable', exitCode: 2, problems: [message], warnings: [], error: message });
  });

  it('a file instead of a directory: exit 2', () => {
    const file = join(tmp, 'plain-file');
    writeFileSync(file, '');
    expect(check('--dir', file).status).toBe(2);
  });

  it('bad flags: exit 2', () => {
    expect(check().status).toBe(2); // --dir is required
    expect(check('--dir', tmp, '--liveness', 'sometimes').status).toBe(2);
    expect(check('--dir', tmp, '--verbose').status).toBe(2);
  });

  it('--help names the options and the exit codes', () => {
    const r = check('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('--dir <dir>');
    expect(r.stdout).toContain('--json');
    expect(r.stdout).toContain('--liveness <mode>');
    expect(r.stdout.replace(/\s+/g, ' ')).toContain('Exit 0: ok (warnings allowed); 1: problems found (skipped files, files served in part, gate rejections); 2: the directory cannot be read, or a bad flag');
    expect(spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' }).stdout).toMatch(/^ {2}check \[options\] +read a metrics directory once/m);
  });
});
