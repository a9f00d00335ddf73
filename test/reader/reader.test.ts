/**
 * A long-lived Collector over a changing directory: only new bytes are parsed, values are read
 * in place, files come and go, and a file that shrinks under the mapping is skipped, not fatal.
 * Run with the native mapping and with the plain-read fallback; both must agree.
 */
import { closeSync, cpSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, truncateSync, unlinkSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Collector } from '../../src/collector.js';
import { renderText } from '../../src/exposition/index.js';
import { loadNative } from '../../src/native.js';
import { buildDb } from '../helpers/db-bytes.js';
import { parseExposition, sampleLines } from '../helpers/parse-exposition.js';
import { IN_CI } from '../helpers/peers.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const tmp = mkdtempSync(join(tmpdir(), 'mpe-reader-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const HELP = 'Total requests handled.';
const requestKey = (code: string, method: string): string =>
  `["requests", "requests_total", {"code": "${code}", "method": "${method}"}, "${HELP}"]`;

/** Append one entry to a Python ≥ 0.18 file the way the library does: entry first, then `used`. */
function appendEntry(path: string, key: string, value: number): void {
  const one = buildDb([{ key, value }], { slot: 16 });
  const entry = one.subarray(8, new DataView(one.buffer, one.byteOffset).getInt32(0, true));
  const file = readFileSync(path);
  const used = file.readInt32LE(0);
  const fd = openSync(path, 'r+');
  writeSync(fd, entry, 0, entry.length, used);
  const header = Buffer.alloc(4);
  header.writeInt32LE(used + entry.length, 0);
  writeSync(fd, header, 0, 4, 0);
  closeSync(fd);
}

/** Overwrite the value of the entry whose value sits at `offset` (a plain store, as writers do). */
function setValue(path: string, offset: number, value: number): void {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(value, 0);
  const fd = openSync(path, 'r+');
  writeSync(fd, b, 0, 8, offset);
  closeSync(fd);
}

function lines(c: Collector): string[] {
  return sampleLines(parseExposition(renderText(c.collect().families)).samples);
}

const modes = [
  { name: 'native mapping', disableNative: false },
  { name: 'plain-read fallback', disableNative: true },
];

describe.each(modes)('incremental reading ($name)', ({ disableNative }) => {
  let dir: string;
  let collector: Collector;

  beforeEach(() => {
    if (disableNative) process.env['MULTIPROC_EXPORTER_NO_NATIVE'] = '1';
    dir = mkdtempSync(join(tmp, 'dir-'));
    cpSync(join(FIXTURES, 'v025-counter_basic'), dir, { recursive: true });
    collector = new Collector(dir);
  });
  afterEach(() => {
    collector.close();
    delete process.env['MULTIPROC_EXPORTER_NO_NATIVE'];
  });

  it('uses the mapping it was asked for', () => {
    collector.collect();
    const mapped = collector.directory.scan().files.reduce((n, f) => n + f.mappedBytes, 0);
    if (disableNative) expect(mapped).toBe(0);
    else if (loadNative() !== null || IN_CI) expect(mapped).toBe(4 * 65536);
  });

  it('does not look at a skipped file again until it changes (size, used or mtime)', () => {
    const bad = join(dir, 'counter_8888.db');
    const bytes = buildDb([{ key: requestKey('500', 'GET'), value: 1 }], { slot: 16, size: 65536 });
    bytes[12 + requestKey('500', 'GET').length] = 0x41; // padding that is not a space: bad_padding
    writeFileSync(bad, bytes);
    const before = lines(collector);
    const attempts = collector.directory.failedIndexUpdates;
    expect(attempts).toBe(1);
    for (let i = 0; i < 3; i++) expect(lines(collector)).toEqual(before);
    expect(collector.directory.failedIndexUpdates).toBe(attempts); // skipped, unchanged: not re-read
    expect(collector.directory.scan().skipped.map((s) => [s.fileName, s.reason, s.isNew])).toEqual([['counter_8888.db', 'bad_padding', false]]);
    utimesSync(bad, new Date(), new Date(Date.now() + 5000)); // mtime changes: looked at once more
    lines(collector);
    expect(collector.directory.failedIndexUpdates).toBe(attempts + 1);
    lines(collector);
    expect(collector.directory.failedIndexUpdates).toBe(attempts + 1);
  });

  it('parses appended entries and new files only, and sees value updates without parsing', () => {
    const before = lines(collector);
    expect(before).toContain('requests_total{code="200",method="GET"} 15.75');
    const parsedFirst = collector.directory.entriesParsed;
    expect(parsedFirst).toBe(11); // 3 + 4 + 4 entries, and counter_999999.db has none

    // Unchanged directory: nothing parsed again.
    expect(lines(collector)).toEqual(before);
    expect(collector.directory.entriesParsed).toBe(parsedFirst);

    // A value update in place (jobs_processed in counter_5585.db, value at offset 96).
    setValue(join(dir, 'counter_5585.db'), 96, 41);
    // One appended entry in an existing file, and a new file with one entry.
    appendEntry(join(dir, 'counter_5585.db'), requestKey('418', 'BREW'), 2.5);
    writeFileSync(join(dir, 'counter_7777.db'), buildDb([{ key: requestKey('200', 'GET'), value: 100 }], { slot: 16, size: 65536 }));

    const after = lines(collector);
    expect(collector.directory.entriesParsed).toBe(parsedFirst + 2);
    expect(after).toContain('requests_total{code="418",method="BREW"} 2.5');
    expect(after).toContain('requests_total{code="200",method="GET"} 115.75');
    expect(after).toContain('jobs_processed_total 151'); // 111 - 1 + 41
  });

  it('drops a deleted file and re-indexes a file replaced under the same name', () => {
    lines(collector);
    unlinkSync(join(dir, 'counter_5587.db'));
    expect(lines(collector)).toContain('jobs_processed_total 11'); // 111 minus the deleted file's 100

    const replacement = join(dir, 'replacement.tmp');
    writeFileSync(replacement, buildDb([{ key: requestKey('201', 'PUT'), value: 1000 }], { slot: 16, size: 65536 }));
    renameSync(replacement, join(dir, 'counter_5585.db'));
    const after = lines(collector);
    expect(after).toContain('requests_total{code="201",method="PUT"} 1016');
    expect(after).not.toContain('requests_total{code="200",method="GET"} 15.75');
  });

  it('skips a file truncated to 0 bytes while mapped, serves the rest, and takes it back when rewritten', () => {
    lines(collector);
    const path = join(dir, 'counter_5585.db');
    const original = readFileSync(path);
    truncateSync(path, 0);
    const res = collector.collect();
    expect(res.skipped.map((s) => [s.fileName, s.reason, s.isNew])).toEqual([['counter_5585.db', 'empty_file', true]]);
    expect(collector.collect().skipped[0]?.isNew).toBe(false); // reported once, not per scrape
    expect(sampleLines(parseExposition(renderText(res.families)).samples)).toContain('jobs_processed_total 110');

    writeFileSync(path, original); // same inode, rewritten: indexed again from scratch
    expect(lines(collector)).toContain('jobs_processed_total 111');
  });

  it('skips a file shrunk in the middle of an entry while mapped', () => {
    lines(collector);
    const path = join(dir, 'counter_5585.db');
    truncateSync(path, 100); // used (344) now beyond the 100-byte file
    const res = collector.collect();
    expect(res.skipped.map((s) => s.reason)).toEqual(['used_out_of_range']);
    expect(res.filesServed).toBe(3);
  });
});
