/**
 * The bad-file corpus: each kind of bad (or merely unusual) file, in a
 * directory beside good files written by the real Python and Ruby libraries. For every kind,
 * against the real daemon over 127.0.0.1: no crash, no failed scrape, every good sample served
 * with its exact value, the bad file counted in `multiproc_exporter_files_skipped` and
 * `multiproc_exporter_skipped_files_total` by its reason, and exactly one log line for it however
 * often it is scraped. Kinds that are not bad (`reason: null`: a file replaced under its name,
 * NaN/±Inf counters, duplicate keys, 100k entries, 10,000 files …) must be served exactly and
 * counted nowhere. The same table runs in-process through the Collector (fast, no daemon).
 *
 * A file deleted between listing and opening is a race, proved separately at the end against a
 * process that creates and deletes files while the daemon is scraped.
 */
import type { SkipReason } from '../../src/reader/mapped-file.js';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, cpSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Collector } from '../../src/collector.js';
import { renderText } from '../../src/exposition/index.js';
import { buildDb, dbLayout, type DbEntry } from '../helpers/db-bytes.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { copyPackageForOtherUsers } from '../helpers/package-copy.js';
import { parseExposition, sampleLines } from '../helpers/parse-exposition.js';
import { get, mergedLines, selfValue, until } from '../helpers/scrape.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const GOOD_FIXTURES = ['v025-counter_basic', 'rb-basic'];
const GOOD_LINES = GOOD_FIXTURES.flatMap((f) => sampleLines(parseExposition(readFileSync(join(FIXTURES, f, 'expected.txt'), 'utf8')).samples)).sort();

const tmp = mkdtempSync(join(tmpdir(), 'mpe-badfiles-'));
chmodSync(tmp, 0o755); // the mode-000 kind runs the daemon unprivileged: it must reach the directories
const running: Daemon[] = [];
afterAll(async () => {
  await Promise.all(running.map((d) => d.stop()));
  rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Building bad files

const key = (metric: string, labels = '{}'): string => `["${metric}", "${metric}_total", ${labels}, "Bad-file corpus."]`;
const one = (value = 1): DbEntry[] => [{ key: key('bad'), value }];

/** A well-formed 16-byte-slot file, then `edit` on its bytes (offsets from dbLayout). */
function edited(entries: readonly DbEntry[], edit: (bytes: Uint8Array, view: DataView) => void, size?: number): Uint8Array {
  const bytes = buildDb(entries, { slot: 16, size: size ?? dbLayout(entries, 16).used + 64 });
  edit(bytes, new DataView(bytes.buffer));
  return bytes;
}

/**
 * A file whose entries walk validly with both strides, ending exactly at `used` (docs/FORMAT.md §3.1):
 * the first entry's timestamp slot starts a stride-8 entry whose key swallows the second
 * stride-16 entry and ends inside its value, so both walks meet at the same end.
 */
function ambiguousSlots(): Uint8Array {
  const k1 = Buffer.from(key('amb'));
  const k2 = Buffer.from(key('amb2'));
  const pad = (n: number): number => 8 - ((4 + n) % 8);
  const v1 = 8 + 4 + k1.length + pad(k1.length);
  const p = v1 + 8; // stride 8: next entry; stride 16: the timestamp of entry 1
  const q = p + 8; // stride 16: next entry
  const v2 = q + 4 + k2.length + pad(k2.length);
  const used = v2 + 16;
  const k = 1; // the stride-8 entry's padding: its key ends 1 byte before entry 2's timestamp
  const n8 = v2 + 8 - k - (p + 4);
  const b = Buffer.alloc(used + 64);
  b.writeInt32LE(used, 0);
  b.writeUInt32LE(k1.length, 8);
  k1.copy(b, 12);
  b.fill(0x20, 12 + k1.length, v1);
  b.writeDoubleLE(1, v1);
  b.writeUInt32LE(n8, p);
  b.write('[xxx', p + 4, 'latin1');
  b.writeUInt32LE(k2.length, q);
  k2.copy(b, q + 4);
  b.fill(0x20, q + 4 + k2.length, v2);
  b.fill(0x30, v2, v2 + 8 - k - 1);
  b.write(']', v2 + 8 - k - 1, 'latin1');
  b.fill(0x20, v2 + 8 - k, v2 + 8);
  return b;
}

type Reason = SkipReason;

interface Kind {
  readonly name: string;
  /** The file the kind is about (as readdir names it): its log lines and metrics are looked up by it. */
  readonly file: string;
  /** Written before the daemon starts. */
  readonly setup: (dir: string) => void;
  /** Done after a first scrape, while the daemon holds the file open and mapped. */
  readonly whileMapped?: (dir: string) => void;
  /** Why the file is not served; null = it is served (not bad). */
  readonly reason: Reason | null;
  /** Merged samples the kind adds to the good ones (exact lines), after whileMapped. */
  readonly extra?: () => readonly string[];
  /** Of `extra`, the lines the exposition gate leaves out of the daemon's response, and its count of them by reason. */
  readonly leftOut?: { readonly lines: readonly string[]; readonly rejected: Readonly<Record<string, number>> };
  /** Samples it adds only before whileMapped (it was served, then broken). */
  readonly extraBefore?: () => readonly string[];
  /** Only meaningful for a reader without root's privileges: not run in-process as root. */
  readonly needsUnprivileged?: boolean;
  /** Large: proved against the daemon only (the in-process table stays fast). */
  readonly large?: boolean;
}

const write = (dir: string, file: string, bytes: Uint8Array | string): void => writeFileSync(join(dir, file), bytes);
const OUTSIDE = join(tmp, 'outside');
mkdirSync(OUTSIDE);
writeFileSync(join(OUTSIDE, 'counter_1.db'), buildDb(one(1000), { slot: 16 }));

/**
 * A sparse file whose one entry has a key of `n` bytes that fits inside `used`: `[`, then zeros
 * (never written: no blocks on disk), `]`, valid padding and value. Decoding a key that long would
 * throw ERR_STRING_TOO_LONG (V8 strings end at ~512 MiB) out of the scan.
 */
function hugeKeyFile(path: string, n: number): void {
  const pad = 8 - ((4 + n) % 8);
  const used = 8 + 4 + n + pad + 16;
  const head = Buffer.alloc(13);
  head.writeInt32LE(used, 0);
  head.writeUInt32LE(n, 8);
  head.write('[', 12, 'latin1');
  const tail = Buffer.alloc(1 + pad + 16, 0x20);
  tail.write(']', 0, 'latin1');
  tail.writeDoubleLE(5, 1 + pad);
  tail.writeDoubleLE(0, 1 + pad + 8);
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, head, 0, head.length, 0);
    writeSync(fd, tail, 0, tail.length, 12 + n - 1);
  } finally {
    closeSync(fd);
  }
  truncateSync(path, used + 64);
}

/** A valid metric key exactly `n` bytes long (ASCII), its label value padding it out. */
function keyOfLength(n: number): string {
  const [head, tail] = ['["bad", "bad_total", {"x": "', '"}, "h"]'];
  return head + 'x'.repeat(n - head.length - tail.length) + tail;
}

const HUGE_ENTRIES = 100_000;
const MANY_FILES = 10_000;

const KINDS: readonly Kind[] = [
  { name: '0-byte file', file: 'counter_101.db', setup: (d) => write(d, 'counter_101.db', ''), reason: 'empty_file' },
  { name: 'shorter than the header (3 bytes)', file: 'counter_102.db', setup: (d) => write(d, 'counter_102.db', Buffer.from([8, 0, 0])), reason: 'empty_file' },
  { name: 'header only (used = 8, no entries)', file: 'counter_103.db', setup: (d) => write(d, 'counter_103.db', buildDb([], { slot: 16 })), reason: null },
  { name: 'all zeros (a fresh 64 KiB file, used = 0)', file: 'counter_104.db', setup: (d) => write(d, 'counter_104.db', new Uint8Array(65_536)), reason: null },
  { name: 'used > file size', file: 'counter_105.db', setup: (d) => write(d, 'counter_105.db', edited(one(), (_, v) => v.setInt32(0, 1 << 20, true))), reason: 'used_out_of_range' },
  { name: 'used < 8', file: 'counter_106.db', setup: (d) => write(d, 'counter_106.db', edited(one(), (_, v) => v.setInt32(0, 4, true))), reason: 'used_out_of_range' },
  { name: 'used negative', file: 'counter_107.db', setup: (d) => write(d, 'counter_107.db', edited(one(), (_, v) => v.setInt32(0, -8, true))), reason: 'used_out_of_range' },
  {
    name: 'used not 8-aligned',
    file: 'counter_108.db',
    setup: (d) => write(d, 'counter_108.db', edited(one(), (_, v) => v.setInt32(0, dbLayout(one(), 16).used + 4, true))),
    reason: 'used_out_of_range',
  },
  { name: 'entry length 0', file: 'counter_109.db', setup: (d) => write(d, 'counter_109.db', edited(one(), (_, v) => v.setUint32(8, 0, true))), reason: 'bad_entry_length' },
  { name: 'entry length 2^31', file: 'counter_110.db', setup: (d) => write(d, 'counter_110.db', edited(one(), (_, v) => v.setUint32(8, 2 ** 31, true))), reason: 'bad_entry_length' },
  { name: 'entry length 2^32 - 1', file: 'counter_111.db', setup: (d) => write(d, 'counter_111.db', edited(one(), (_, v) => v.setUint32(8, 2 ** 32 - 1, true))), reason: 'bad_entry_length' },
  {
    name: 'entry crossing used (used ends inside the second entry)',
    file: 'counter_112.db',
    setup: (d) => {
      const two = [...one(), { key: key('bad', '{"second": "entry"}'), value: 2 }];
      write(d, 'counter_112.db', edited(two, (_, v) => v.setInt32(0, dbLayout(two, 16).entries[1]!.offset + 8, true)));
    },
    reason: 'entry_crosses_used',
  },
  {
    name: 'key not UTF-8',
    file: 'counter_113.db',
    setup: (d) => write(d, 'counter_113.db', edited(one(), (b) => (b[14] = 0xff))),
    reason: 'bad_key_utf8',
  },
  { name: 'key not JSON', file: 'counter_114.db', setup: (d) => write(d, 'counter_114.db', buildDb([{ key: '[this is not json]', value: 1 }], { slot: 16 })), reason: 'bad_key_json' },
  {
    name: 'key JSON nested too deep',
    file: 'counter_115.db',
    setup: (d) => write(d, 'counter_115.db', buildDb([{ key: `${'['.repeat(40)}${']'.repeat(40)}`, value: 1 }], { slot: 16 })),
    reason: 'bad_key_json',
  },
  { name: 'key JSON of the wrong shape (2 elements)', file: 'counter_116.db', setup: (d) => write(d, 'counter_116.db', buildDb([{ key: '["bad", "bad_total"]', value: 1 }], { slot: 16 })), reason: 'bad_key_shape' },
  {
    name: 'key with an invalid label name',
    file: 'counter_117.db',
    setup: (d) => write(d, 'counter_117.db', buildDb([{ key: key('bad', '{"not-a-name": "x"}'), value: 1 }], { slot: 16 })),
    reason: 'bad_key_shape',
  },
  {
    name: 'key with the same label twice (JSON allows duplicate members)',
    file: 'counter_139.db',
    setup: (d) => write(d, 'counter_139.db', buildDb([{ key: key('bad', '{"a": "1", "a": "2"}'), value: 1 }], { slot: 16 })),
    reason: 'bad_key_shape',
  },
  {
    name: 'key whose label name is a lone surrogate (decoded to U+FFFD: not a label name)',
    file: 'counter_140.db',
    setup: (d) => write(d, 'counter_140.db', buildDb([{ key: key('bad', '{"\\ud800": "x"}'), value: 1 }], { slot: 16 })),
    reason: 'bad_key_shape',
  },
  {
    name: 'lone surrogates in label values, as Python writes them (served as U+FFFD, one series)',
    file: 'counter_141.db',
    setup: (d) => write(d, 'counter_141.db', buildDb([{ key: key('surr', '{"v": "a\\ud800"}'), value: 1 }, { key: key('surr', '{"v": "a\\udc00"}'), value: 2 }], { slot: 16 })),
    reason: null,
    extra: () => [`surr_total{v=${JSON.stringify('a\ufffd')}} 3`],
  },
  {
    name: 'a process id with a quote, a backslash and a newline (served as the pid label)',
    file: 'gauge_all_q"b\\n\nx.db',
    setup: (d) => write(d, 'gauge_all_q"b\\n\nx.db', buildDb([{ key: '["g", "g", {}, "h"]', value: 1 }], { slot: 16 })),
    reason: null,
    extra: () => [`g{pid=${JSON.stringify('q"b\\n\nx')}} 1`],
  },
  {
    name: 'Ruby key with more label names than values',
    file: 'counter_118-0.db',
    setup: (d) => write(d, 'counter_118-0.db', buildDb([{ key: '["bad_total","bad_total",["a","b"],["1"]]', value: 1 }], { slot: 8 })),
    reason: 'bad_key_shape',
  },
  {
    name: 'padding not spaces',
    file: 'counter_119.db',
    setup: (d) => write(d, 'counter_119.db', edited(one(), (b) => b.fill(0, 8 + 4 + dbLayout(one(), 16).entries[0]!.keyLength, dbLayout(one(), 16).entries[0]!.valueOffset))),
    reason: 'bad_padding',
  },
  { name: '8/16-byte slot ambiguity', file: 'counter_120.db', setup: (d) => write(d, 'counter_120.db', ambiguousSlots()), reason: 'ambiguous_slot_width' },
  {
    name: 'mixed dialect keys in one file (Python, then Ruby)',
    file: 'counter_121.db',
    setup: (d) => write(d, 'counter_121.db', buildDb([{ key: key('bad'), value: 1 }, { key: '["bad_total","bad_total",[],[]]', value: 2 }], { slot: 16 })),
    reason: 'mixed_key_shapes',
  },
  {
    name: 'unknown type prefix (a Vinted exemplar_ file)',
    file: 'exemplar_puma_0-0.db',
    setup: (d) => write(d, 'exemplar_puma_0-0.db', new Uint8Array(4096)),
    reason: 'file_name',
  },
  { name: 'unknown gauge mode', file: 'gauge_median_122.db', setup: (d) => write(d, 'gauge_median_122.db', buildDb([{ key: '["g", "g", {}, "h"]', value: 1 }], { slot: 16 })), reason: 'file_name' },
  { name: 'name without process id', file: 'counter.db', setup: (d) => write(d, 'counter.db', buildDb(one(), { slot: 16 })), reason: 'file_name' },
  { name: 'name with an empty process id', file: 'counter_.db', setup: (d) => write(d, 'counter_.db', buildDb(one(), { slot: 16 })), reason: 'file_name' },
  {
    name: 'name not valid UTF-8',
    file: 'counter_\uFFFD.db',
    setup: (d) => writeFileSync(Buffer.concat([Buffer.from(`${d}/counter_`), Buffer.from([0xff]), Buffer.from('.db')]), buildDb(one(), { slot: 16 })),
    reason: 'file_name',
  },
  { name: 'a directory named x.db', file: 'counter_123.db', setup: (d) => mkdirSync(join(d, 'counter_123.db')), reason: 'not_regular_file' },
  {
    name: 'a FIFO named x.db (never opened: it would block)',
    file: 'counter_124.db',
    setup: (d) => {
      const r = spawnSync('/usr/bin/mkfifo', [join(d, 'counter_124.db')], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`mkfifo failed: ${r.stderr}`);
    },
    reason: 'not_regular_file',
  },
  {
    name: 'a symlink to a file outside the directory (not followed)',
    file: 'counter_125.db',
    setup: (d) => symlinkSync(join(OUTSIDE, 'counter_1.db'), join(d, 'counter_125.db')),
    reason: 'symlink',
  },
  {
    name: 'a symlink to a file inside the directory (not followed; the target is served once)',
    file: 'counter_126.db',
    setup: (d) => {
      write(d, 'counter_127.db', buildDb(one(5), { slot: 16 }));
      symlinkSync('counter_127.db', join(d, 'counter_126.db'));
    },
    reason: 'symlink',
    extra: () => ['bad_total 5'],
  },
  {
    name: 'an unreadable file (mode 000, daemon not root)',
    file: 'counter_128.db',
    setup: (d) => {
      write(d, 'counter_128.db', buildDb(one(), { slot: 16 }));
      chmodSync(join(d, 'counter_128.db'), 0o000);
    },
    reason: 'open_failed',
    needsUnprivileged: true,
  },
  {
    name: 'a file replaced by a different one with the same name',
    file: 'counter_129.db',
    setup: (d) => write(d, 'counter_129.db', buildDb(one(7), { slot: 16 })),
    whileMapped: (d) => {
      write(d, 'replacement.tmp', buildDb([{ key: key('replaced'), value: 8 }], { slot: 8 }));
      renameSync(join(d, 'replacement.tmp'), join(d, 'counter_129.db'));
    },
    reason: null,
    extraBefore: () => ['bad_total 7'],
    extra: () => ['replaced_total 8'],
  },
  {
    name: 'a file truncated to 0 while mapped',
    file: 'counter_130.db',
    setup: (d) => write(d, 'counter_130.db', buildDb(one(3), { slot: 16, size: 65_536 })),
    whileMapped: (d) => truncateSync(join(d, 'counter_130.db'), 0),
    reason: 'empty_file',
    extraBefore: () => ['bad_total 3'],
  },
  {
    name: 'a file shrunk mid-entry while mapped',
    file: 'counter_131.db',
    setup: (d) => write(d, 'counter_131.db', buildDb([...one(3), { key: key('bad', '{"x": "y"}'), value: 4 }], { slot: 16, size: 65_536 })),
    whileMapped: (d) => truncateSync(join(d, 'counter_131.db'), dbLayout(one(), 16).used + 20),
    reason: 'used_out_of_range',
    extraBefore: () => ['bad_total 3', 'bad_total{x="y"} 4'],
  },
  {
    name: 'NaN and ±Inf values in counters (merged as they are, summed across files; the daemon serves only +Inf)',
    file: 'counter_132.db',
    setup: (d) => {
      const entries = [
        { key: key('special', '{"v": "nan"}'), value: NaN },
        { key: key('special', '{"v": "inf"}'), value: Infinity },
        { key: key('special', '{"v": "-inf"}'), value: -Infinity },
        { key: key('special', '{"v": "inf-inf"}'), value: Infinity },
      ];
      write(d, 'counter_132.db', buildDb(entries, { slot: 16 }));
      write(d, 'counter_133.db', buildDb([{ key: key('special', '{"v": "inf"}'), value: 1 }, { key: key('special', '{"v": "inf-inf"}'), value: -Infinity }], { slot: 16 }));
    },
    reason: null,
    extra: () => ['special_total{v="-inf"} -Infinity', 'special_total{v="inf"} Infinity', 'special_total{v="inf-inf"} NaN', 'special_total{v="nan"} NaN'],
    // A NaN or negative counter makes OpenMetrics parsers reject the whole scrape.
    leftOut: { lines: ['special_total{v="-inf"} -Infinity', 'special_total{v="inf-inf"} NaN', 'special_total{v="nan"} NaN'], rejected: { bad_counter_value: 3 } },
  },
  {
    name: 'duplicate keys in one file (summed, as Python does)',
    file: 'counter_134.db',
    setup: (d) => write(d, 'counter_134.db', buildDb([{ key: key('dup'), value: 2 }, { key: key('dup'), value: 3.5 }], { slot: 16 })),
    reason: null,
    extra: () => ['dup_total 5.5'],
  },
  {
    name: 'garbage past used (ignored)',
    file: 'counter_135.db',
    setup: (d) => {
      const b = buildDb(one(9), { slot: 16, size: 4096 });
      b.fill(0xff, dbLayout(one(), 16).used);
      write(d, 'counter_135.db', b);
    },
    reason: null,
    extra: () => ['bad_total 9'],
  },
  {
    name: 'one metric a counter here and a gauge there (the gauge entries are not served)',
    file: 'gauge_all_136.db',
    setup: (d) => write(d, 'gauge_all_136.db', buildDb([{ key: '["requests", "requests", {}, "Not a counter."]', value: 1 }, { key: '["fine", "fine", {}, "h"]', value: 2 }], { slot: 16 })),
    reason: 'type_conflict',
    extra: () => ['fine{pid="136"} 2'],
  },
  {
    name: 'files that do not end in .db (ignored, not counted)',
    file: 'counter_137.db.tmp',
    setup: (d) => {
      write(d, 'counter_137.db.tmp', buildDb(one(), { slot: 16 }));
      write(d, 'README', 'not metrics');
    },
    reason: null,
  },
  {
    name: `${HUGE_ENTRIES.toLocaleString('en')} entries in one file`,
    file: 'counter_138.db',
    setup: (d) => write(d, 'counter_138.db', buildDb(Array.from({ length: HUGE_ENTRIES }, (_, i) => ({ key: key('huge', `{"i": "${i}"}`), value: i })), { slot: 16 })),
    reason: null,
    large: true,
    extra: () => Array.from({ length: HUGE_ENTRIES }, (_, i) => `huge_total{i="${i}"} ${i}`),
  },
  {
    name: `a ${MANY_FILES.toLocaleString('en')}-file directory`,
    file: 'counter_m9999.db',
    setup: (d) => {
      for (let i = 0; i < MANY_FILES; i++) {
        write(d, `counter_m${i}.db`, buildDb([{ key: key('many'), value: i }, { key: key('many', `{"f": "${i % 10}"}`), value: 1 }], { slot: 16 }));
      }
    },
    reason: null,
    large: true,
    extra: () => [`many_total ${(MANY_FILES * (MANY_FILES - 1)) / 2}`, ...Array.from({ length: 10 }, (_, f) => `many_total{f="${f}"} ${MANY_FILES / 10}`)],
  },
  {
    name: 'a 600 MiB key inside used (sparse file; valid length field)',
    file: 'counter_139.db',
    setup: (d) => hugeKeyFile(join(d, 'counter_139.db'), 600 * 2 ** 20),
    reason: 'key_too_long',
  },
  {
    name: 'a key 1 byte longer than the 1 MiB maximum',
    file: 'counter_140.db',
    setup: (d) => write(d, 'counter_140.db', buildDb([...one(2), { key: keyOfLength(2 ** 20 + 1), value: 3 }], { slot: 16 })),
    reason: 'key_too_long',
  },
];

const IS_ROOT = process.getuid?.() === 0;
/**
 * The unprivileged user the mode-000 kind runs the daemon as when the tests run as root, with a
 * copy of the package it can read (the checkout may be under a directory closed to it).
 */
const NOBODY = { uid: 65534, gid: 65534, ...(IS_ROOT ? { bin: copyPackageForOtherUsers(join(tmp, 'package')) } : {}) };

let dirCount = 0;
function kindDir(kind: Kind): string {
  const dir = join(tmp, `k${dirCount++}`);
  mkdirSync(dir, { mode: 0o755 });
  chmodSync(dir, 0o755);
  for (const f of GOOD_FIXTURES) cpSync(join(FIXTURES, f), dir, { recursive: true, filter: (src) => !/\.(txt|jsonl|json)$|README$/.test(src) });
  if (kind.needsUnprivileged === true) for (const f of readdirSync(dir)) chmodSync(join(dir, f), 0o644); // the checkout's modes follow its umask
  kind.setup(dir);
  return dir;
}

it('the corpus has at least 30 kinds', () => {
  expect(KINDS.length).toBeGreaterThanOrEqual(30);
  expect(new Set(KINDS.map((k) => k.name)).size).toBe(KINDS.length);
});

// The good files are fixtures whose writers exited long ago: read them as the libraries do (with
// liveness on, their live* gauges would be left out; lifecycle.test.ts covers that).
const LIBRARY_SEMANTICS = ['--liveness', 'off'];

const skippedReasons = (body: string, metric: string): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const s of parseExposition(body).samples) if (s.name === `multiproc_exporter_${metric}`) out[s.labels.find((l) => l[0] === 'reason')![1]] = s.value;
  return out;
};

describe.concurrent('against the daemon', () => {
  it.each(KINDS.map((k) => [k.name, k] as const))('%s', async (_name, kind) => {
    const dir = kindDir(kind);
    const d = await startDaemon(['--dir', dir, ...LIBRARY_SEMANTICS], kind.needsUnprivileged === true && IS_ROOT ? NOBODY : {});
    running.push(d);
    const url = `${d.url}/metrics`;
    if (kind.whileMapped !== undefined) {
      const first = await get(url);
      expect(first.status).toBe(200);
      expect(mergedLines(first.body)).toEqual([...GOOD_LINES, ...(kind.extraBefore?.() ?? [])].sort());
      kind.whileMapped(dir);
    }
    const leftOut = new Set(kind.leftOut?.lines ?? []);
    const expected = [...GOOD_LINES, ...(kind.extra?.() ?? [])].filter((l) => !leftOut.has(l)).sort();
    for (let i = 0; i < 2; i++) {
      const r = await get(url);
      expect(r.status).toBe(200);
      expect(mergedLines(r.body)).toEqual(expected);
      expect(skippedReasons(r.body, 'exposition_rejected')).toEqual(kind.leftOut?.rejected ?? {});
      const reasons = kind.reason === null ? {} : { [kind.reason]: 1 };
      expect(skippedReasons(r.body, 'files_skipped')).toEqual(reasons);
      expect(skippedReasons(r.body, 'skipped_files_total')).toEqual(reasons);
      expect(selfValue(r.body, 'directory_readable')).toBe(1);
    }
    expect((await get(`${d.url}/readiness`)).status).toBe(200);
    const lines = d.logs.filter((l) => l['file'] === kind.file);
    if (kind.reason === null || kind.reason === 'empty_file') {
      // A file caught before its header is written is how every new worker's file starts: logged at debug only.
      expect(lines).toEqual([]);
    } else {
      expect(lines).toEqual([expect.objectContaining({ level: 'warn', reason: kind.reason })]);
      expect(String(lines[0]!['msg'])).toMatch(kind.reason === 'type_conflict' ? /^.+: metric requests is a gauge here but a counter in other files; its gauge samples are not served$/ : /^.+; skipped, other files served$/);
    }
    expect(d.logs.filter((l) => l['level'] === 'error')).toEqual([]);
    expect({ exitCode: d.child.exitCode, signal: d.child.signalCode }).toEqual({ exitCode: null, signal: null });
    expect(await d.stop()).toBe(0); // and it still shuts down cleanly
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('in-process (Collector)', () => {
  it.each(KINDS.filter((k) => k.large !== true && !(k.needsUnprivileged === true && IS_ROOT)).map((k) => [k.name, k] as const))('%s', (_name, kind) => {
    const dir = kindDir(kind);
    const collector = new Collector(dir, { liveness: 'off' });
    try {
      if (kind.whileMapped !== undefined) {
        const first = collector.collect();
        expect(sampleLines(parseExposition(renderText(first.families)).samples)).toEqual([...GOOD_LINES, ...(kind.extraBefore?.() ?? [])].sort());
        kind.whileMapped(dir);
      }
      for (let i = 0; i < 2; i++) {
        const c = collector.collect();
        expect(sampleLines(parseExposition(renderText(c.families)).samples)).toEqual([...GOOD_LINES, ...(kind.extra?.() ?? [])].sort());
        const reported = [...c.skipped.map((s) => [s.fileName, s.reason]), ...c.problems.map((p) => [p.fileName, 'type_conflict'])];
        expect(reported).toEqual(kind.reason === null ? [] : [[kind.file, kind.reason]]);
        expect(c.skipped.map((s) => s.isNew)).toEqual(c.skipped.map(() => i === 0)); // reported as new once
      }
    } finally {
      collector.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('a file deleted between listing and opening', () => {
  it('is simply gone: not a skipped file, not logged, and never fails a scrape', async () => {
    const dir = join(tmp, 'race');
    mkdirSync(dir);
    for (const f of GOOD_FIXTURES) cpSync(join(FIXTURES, f), dir, { recursive: true, filter: (src) => !/\.(txt|jsonl|json)$|README$/.test(src) });
    // Many files make each scan's walk from readdir to the last lstat take a few milliseconds.
    for (let i = 0; i < 2_000; i++) write(dir, `counter_pad${i}.db`, buildDb([{ key: key('pad'), value: 1 }], { slot: 16 }));
    const d = await startDaemon(['--dir', dir, ...LIBRARY_SEMANTICS]);
    running.push(d);
    const churner = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '..', 'helpers', 'churner.ts'), dir, '20', '30000'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const churnerExit = new Promise<void>((resolve) => churner.once('exit', () => resolve()));
    const expected = new Set([...GOOD_LINES, 'pad_total 2000']);
    let scrapes = 0;
    let churnSeen = 0;
    try {
      // Files appear and vanish every few milliseconds while the scans list and open them (a scan
      // lists far more files than vanish in it: the race between listing and opening is hit often).
      for (const end = Date.now() + 5_000; Date.now() < end; ) {
        const r = await get(`${d.url}/metrics`);
        scrapes++;
        expect(r.status).toBe(200);
        const lines = mergedLines(r.body);
        // Good samples exact every time; a churned file, when served, has its exact value.
        expect(lines.filter((l) => !l.startsWith('churn_total')).filter((l) => !expected.has(l))).toEqual([]);
        for (const l of lines.filter((x) => x.startsWith('churn_total'))) expect(l).toMatch(/^churn_total\{n="\d+"\} 1$/);
        churnSeen += lines.filter((x) => x.startsWith('churn_total')).length;
        expect(selfValue(r.body, 'skipped_files_total', { reason: 'open_failed' })).toBeUndefined();
      }
    } finally {
      churner.kill('SIGTERM');
      await churnerExit;
    }
    expect(d.logs.filter((l) => l['reason'] === 'open_failed')).toEqual([]);
    expect({ exitCode: d.child.exitCode, signal: d.child.signalCode, scrapesAtLeast: scrapes > 5, churnSeen: churnSeen > 0 }).toEqual({ exitCode: null, signal: null, scrapesAtLeast: true, churnSeen: true });
  }, 40_000);
});
