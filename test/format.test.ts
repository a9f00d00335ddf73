/**
 * src/format/: the byte layout of `.db` files (docs/FORMAT.md §2–§3), slot-width detection (§3.1),
 * the strict JSON parser and key decoding (§4), and file names (§1). Checked against bytes built
 * from the spec (test/helpers/db-bytes.ts) and against the real Python/Ruby fixture files.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GAUGE_MODES, parseFileName, processIdOf, type ParsedFileName } from '../src/format/filename.js';
import { JsonNumber, JsonSyntaxError, parseJson, type JsonValue } from '../src/format/json.js';
import { decodeKey } from '../src/format/key.js';
import {
  checkUsed,
  detectSlotWidth,
  entryBounds,
  entrySize,
  FormatError,
  HEADER_SIZE,
  paddingLength,
  readUsed,
  type FormatErrorReason,
  type SlotWidth,
} from '../src/format/layout.js';
import { buildDb, dbLayout, type DbEntry } from './helpers/db-bytes.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

const viewOf = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** Run `fn`, require a FormatError with this reason (and offset, when given); return it. */
function formatErrorOf(fn: () => unknown, reason: FormatErrorReason, offset?: number): FormatError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected a FormatError').toBeInstanceOf(FormatError);
  const err = caught as FormatError;
  expect(err.reason).toBe(reason);
  if (offset !== undefined) expect(err.offset).toBe(offset);
  return err;
}

// Keys as the writers produce them (docs/FORMAT.md §3.2, §4).
const PY_JOBS = '["jobs_processed", "jobs_processed_total", {}, "Jobs processed (no labels)."]'; // n = 77
const PY_GET = '["requests", "requests_total", {"code": "200", "method": "GET"}, "Total requests handled."]'; // n = 91
const PY_POST = '["requests", "requests_total", {"code": "500", "method": "POST"}, "Total requests handled."]'; // n = 92
const RB_GET = '["rb_requests_total","rb_requests_total",["code","method"],["200","GET"]]'; // n = 73
const TS = 1795417819.0347357;

// ---------------------------------------------------------------------------------------------
describe('layout: padding and entry size (FORMAT.md §3)', () => {
  it('pads a key whose 4+n is already a multiple of 8 with a full 8 spaces, never 0', () => {
    expect(paddingLength(4)).toBe(8);
    expect(paddingLength(12)).toBe(8);
    expect(paddingLength(92)).toBe(8);
  });

  it('matches the worked examples of §3.2: n=5 → 7, n=77 → 7, n=91 → 1, n=73 → 3, n=94 → 6', () => {
    expect(paddingLength(5)).toBe(7);
    expect(paddingLength(77)).toBe(7);
    expect(paddingLength(91)).toBe(1);
    expect(paddingLength(73)).toBe(3);
    expect(paddingLength(94)).toBe(6);
  });

  it('always gives 1..8 spaces that make the value 8-byte aligned', () => {
    for (let n = 1; n <= 200; n++) {
      const p = paddingLength(n);
      expect(p).toBeGreaterThanOrEqual(1);
      expect(p).toBeLessThanOrEqual(8);
      expect((4 + n + p) % 8).toBe(0);
    }
  });

  it('sizes an entry as 4 + n + p + 8 with an 8-byte slot and 4 + n + p + 16 with a 16-byte slot', () => {
    expect(entrySize(77, 8)).toBe(96); // counter_5466.db: entry 1 @0x08, entry 2 @0x68
    expect(entrySize(91, 8)).toBe(104); // entry 2 @0x68, entry 3 @0xd0
    expect(entrySize(77, 16)).toBe(104); // v025: value @0x60, ts @0x68, next entry @0x70
    expect(entrySize(91, 16)).toBe(112);
    expect(entrySize(4, 8)).toBe(24);
    expect(entrySize(4, 16)).toBe(32);
  });
});

describe('layout: header (FORMAT.md §2)', () => {
  const header = (used: number): DataView => {
    const v = new DataView(new ArrayBuffer(16));
    v.setInt32(0, used, true);
    return v;
  };

  it('reads used = 0 (a new Ruby file) as 8, i.e. an empty file', () => {
    expect(readUsed(header(0))).toBe(HEADER_SIZE);
    expect(HEADER_SIZE).toBe(8);
  });

  it('reads used as a little-endian int32 otherwise', () => {
    expect(readUsed(header(8))).toBe(8);
    expect(readUsed(header(320))).toBe(320);
    expect(readUsed(header(0x12345678))).toBe(0x12345678);
  });

  it('reads used as signed, so a header with the top bit set is negative and rejected', () => {
    const v = header(0);
    v.setUint32(0, 0xfffffff8, true);
    expect(readUsed(v)).toBe(-8);
    formatErrorOf(() => checkUsed(readUsed(v), 65536), 'used_out_of_range', 0);
  });

  it('accepts used from 8 up to and including the file size, in multiples of 8', () => {
    expect(() => checkUsed(8, 8)).not.toThrow();
    expect(() => checkUsed(8, 65536)).not.toThrow();
    expect(() => checkUsed(320, 65536)).not.toThrow();
    expect(() => checkUsed(65536, 65536)).not.toThrow(); // a file may be filled exactly to capacity
  });

  it('rejects used < 8 (used_out_of_range at offset 0)', () => {
    for (const used of [0, 4, 7, -8]) formatErrorOf(() => checkUsed(used, 65536), 'used_out_of_range', 0);
  });

  it('rejects used beyond the file size (used_out_of_range at offset 0)', () => {
    formatErrorOf(() => checkUsed(65544, 65536), 'used_out_of_range', 0);
    formatErrorOf(() => checkUsed(16, 8), 'used_out_of_range', 0);
    formatErrorOf(() => checkUsed(8, 0), 'used_out_of_range', 0); // a 0-byte file
  });

  it('rejects used that is not a multiple of 8 (used_out_of_range at offset 0)', () => {
    for (const used of [12, 321, 65535]) formatErrorOf(() => checkUsed(used, 65536), 'used_out_of_range', 0);
  });
});

describe('layout: entryBounds (FORMAT.md §3)', () => {
  /** Two slot-8 entries: PY_JOBS (n=77) @8 and PY_GET (n=91) @104; used = 208. */
  const twoEntries = (): { bytes: Uint8Array; view: DataView; used: number } => {
    const bytes = buildDb(
      [
        { key: PY_JOBS, value: 1 },
        { key: PY_GET, value: 3.5 },
      ],
      { slot: 8, size: 4096 },
    );
    return { bytes, view: viewOf(bytes), used: 208 };
  };

  it('returns the key length of a well-formed entry at any position', () => {
    const { bytes, view, used } = twoEntries();
    expect(entryBounds(bytes, view, 8, used, 8)).toBe(77);
    expect(entryBounds(bytes, view, 104, used, 8)).toBe(91);
  });

  it('rejects a key length of 0 (bad_entry_length at the entry offset)', () => {
    const { bytes, view, used } = twoEntries();
    view.setUint32(104, 0, true);
    formatErrorOf(() => entryBounds(bytes, view, 104, used, 8), 'bad_entry_length', 104);
  });

  it('rejects a key length ≥ 2^31 (bad_entry_length at the entry offset)', () => {
    for (const n of [0x80000000, 0xc0000000, 0xffffffff]) {
      const { bytes, view, used } = twoEntries();
      view.setUint32(8, n, true);
      formatErrorOf(() => entryBounds(bytes, view, 8, used, 8), 'bad_entry_length', 8);
    }
  });

  it('treats a key length of 2^31 - 1 as a length, which then crosses used', () => {
    const { bytes, view, used } = twoEntries();
    view.setUint32(8, 0x7fffffff, true);
    formatErrorOf(() => entryBounds(bytes, view, 8, used, 8), 'entry_crosses_used', 8);
  });

  it('rejects an entry whose value slot ends past used (entry_crosses_used at the entry offset)', () => {
    const { bytes, view } = twoEntries();
    formatErrorOf(() => entryBounds(bytes, view, 104, 200, 8), 'entry_crosses_used', 104);
    // the value bytes count: an entry ending 1 byte past used is rejected, ending at used is fine
    expect(entryBounds(bytes, view, 104, 208, 8)).toBe(91);
    formatErrorOf(() => entryBounds(bytes, view, 104, 207, 8), 'entry_crosses_used', 104);
  });

  it('rejects a 16-byte slot on the last entry of an 8-byte-slot file (entry_crosses_used)', () => {
    const { bytes, view, used } = twoEntries();
    formatErrorOf(() => entryBounds(bytes, view, 104, used, 16), 'entry_crosses_used', 104);
  });

  it('rejects an entry whose length field itself does not fit before used (entry_crosses_used)', () => {
    const { bytes, view } = twoEntries();
    formatErrorOf(() => entryBounds(bytes, view, 8, 10, 8), 'entry_crosses_used', 8);
  });

  it('rejects padding that is not all spaces (bad_padding at the offending byte)', () => {
    // entry @8, n = 77: key 12..88, padding 89..95 (7 spaces), value @96
    for (const at of [89, 92, 95]) {
      for (const bad of [0x00, 0x09, 0x5d]) {
        const { bytes, view, used } = twoEntries();
        bytes[at] = bad;
        formatErrorOf(() => entryBounds(bytes, view, 8, used, 8), 'bad_padding', at);
      }
    }
    // entry @104, n = 91: a single padding space at 199
    const { bytes, view, used } = twoEntries();
    bytes[199] = 0;
    formatErrorOf(() => entryBounds(bytes, view, 104, used, 8), 'bad_padding', 199);
  });

  it('does not look at the key text or the value bytes', () => {
    const { bytes, view, used } = twoEntries();
    bytes.fill(0xff, 12, 89); // key garbage
    bytes.fill(0xff, 96, 104); // value garbage
    expect(entryBounds(bytes, view, 8, used, 8)).toBe(77);
  });
});

// ---------------------------------------------------------------------------------------------
describe('buildDb helper (test/helpers/db-bytes.ts)', () => {
  it('writes the header, length, key, spaces and value exactly as the §3.2 worked example', () => {
    const bytes = buildDb(
      [
        { key: PY_JOBS, value: 1 },
        { key: PY_GET, value: 3.5 },
        { key: PY_POST, value: 1 },
      ],
      { slot: 8 },
    );
    const view = viewOf(bytes);
    expect(bytes.length).toBe(0x140);
    expect(view.getInt32(0, true)).toBe(0x140);
    expect([...bytes.subarray(4, 8)]).toEqual([0, 0, 0, 0]);
    expect(view.getUint32(0x08, true)).toBe(77);
    expect(strictUtf8.decode(bytes.subarray(0x0c, 0x0c + 77))).toBe(PY_JOBS);
    expect([...bytes.subarray(0x59, 0x60)]).toEqual(Array(7).fill(0x20));
    expect([...bytes.subarray(0x60, 0x68)]).toEqual([0, 0, 0, 0, 0, 0, 0xf0, 0x3f]);
    expect(view.getUint32(0x68, true)).toBe(91);
    expect(bytes[0xc7]).toBe(0x20);
    expect([...bytes.subarray(0xc8, 0xd0)]).toEqual([0, 0, 0, 0, 0, 0, 0x0c, 0x40]);
    expect(view.getUint32(0xd0, true)).toBe(92);
  });

  it('adds the timestamp after the value with slot 16 and zero-fills up to size', () => {
    const bytes = buildDb([{ key: PY_JOBS, value: 6, ts: TS }], { slot: 16, size: 4096 });
    const view = viewOf(bytes);
    expect(bytes.length).toBe(4096);
    expect(view.getInt32(0, true)).toBe(8 + 104);
    expect(view.getFloat64(0x60, true)).toBe(6);
    expect(view.getFloat64(0x68, true)).toBe(TS);
    expect(bytes.subarray(112).every((b) => b === 0)).toBe(true);
  });

  it('reports the layout it uses', () => {
    const layout = dbLayout([{ key: PY_JOBS, value: 0 }, { key: 'é', value: 0 }], 16);
    expect(layout.used).toBe(8 + 104 + 24);
    expect(layout.entries[0]).toEqual({ offset: 8, keyOffset: 12, keyLength: 77, padding: 7, valueOffset: 96, tsOffset: 104, end: 112 });
    expect(layout.entries[1]).toMatchObject({ offset: 112, keyLength: 2, padding: 2, valueOffset: 120, end: 136 });
  });

  it('refuses a size smaller than used and a timestamp in an 8-byte slot', () => {
    expect(() => buildDb([{ key: PY_JOBS, value: 0 }], { slot: 8, size: 64 })).toThrow();
    expect(() => buildDb([{ key: PY_JOBS, value: 0, ts: 1 }], { slot: 8 })).toThrow();
  });
});

// ---------------------------------------------------------------------------------------------
describe('slot detection on built files (FORMAT.md §3.1)', () => {
  const detect = (bytes: Uint8Array): SlotWidth | null => {
    const view = viewOf(bytes);
    const used = readUsed(view);
    checkUsed(used, bytes.length);
    return detectSlotWidth(bytes, view, used);
  };
  const three = (ts?: number): DbEntry[] => [
    { key: PY_JOBS, value: 1, ts },
    { key: PY_GET, value: 3.5, ts },
    { key: PY_POST, value: -2, ts },
  ];
  const withoutTs = (entries: DbEntry[]): DbEntry[] => entries.map(({ key, value }) => ({ key, value }));

  it('detects 8 for a 1-entry and a 3-entry 8-byte-slot file (Python ≤ 0.17 / Ruby)', () => {
    expect(detect(buildDb([{ key: PY_JOBS, value: 1 }], { slot: 8 }))).toBe(8);
    expect(detect(buildDb(withoutTs(three()), { slot: 8 }))).toBe(8);
    expect(detect(buildDb([{ key: RB_GET, value: 1 }], { slot: 8, size: 4096 }))).toBe(8);
  });

  it('detects 16 for a 1-entry and a 3-entry 16-byte-slot file with timestamp 0.0', () => {
    expect(detect(buildDb([{ key: PY_JOBS, value: 1 }], { slot: 16 }))).toBe(16);
    expect(detect(buildDb(three(0), { slot: 16, size: 65536 }))).toBe(16);
  });

  it('detects 16 for a 16-byte-slot file with a real timestamp (mostrecent gauge)', () => {
    expect(detect(buildDb([{ key: PY_JOBS, value: 6, ts: TS }], { slot: 16 }))).toBe(16);
    expect(detect(buildDb(three(TS), { slot: 16, size: 65536 }))).toBe(16);
    const mixed = [{ key: PY_JOBS, value: 1, ts: 0 }, { key: PY_GET, value: 2, ts: TS }, { key: PY_POST, value: 3 }];
    expect(detect(buildDb(mixed, { slot: 16 }))).toBe(16);
  });

  it('detects both widths for every padding length 1..8', () => {
    for (let extra = 0; extra < 8; extra++) {
      const key = `["m", "m", {"l": "${'x'.repeat(extra)}"}, "h"]`;
      const k2 = `["m","m",["a"],["${'y'.repeat(extra)}"]]`;
      const entries = [{ key, value: 1 }, { key: k2, value: 2 }];
      expect(detect(buildDb(entries, { slot: 8 })), key).toBe(8);
      expect(detect(buildDb(entries, { slot: 16 })), key).toBe(16);
      expect(detect(buildDb(entries.map((e) => ({ ...e, ts: TS })), { slot: 16 })), key).toBe(16);
    }
  });

  it('returns null for a file without entries (used = 8, or a Ruby file with used = 0)', () => {
    expect(detect(buildDb([], { slot: 16, size: 65536 }))).toBeNull();
    expect(detect(buildDb([], { slot: 8 }))).toBeNull();
    expect(detect(new Uint8Array(4096))).toBeNull();
  });

  it('throws a FormatError for a file whose entries are garbage', () => {
    const bytes = new Uint8Array(4096).fill(0xab);
    viewOf(bytes).setInt32(0, 64, true);
    bytes.fill(0, 4, 8);
    formatErrorOf(() => detect(bytes), 'bad_entry_length', 8);

    const ascii = new Uint8Array(64).fill(0x41); // n = 0x41414141 < 2^31 but far past used
    viewOf(ascii).setInt32(0, 64, true);
    ascii.fill(0, 4, 8);
    expect(() => detect(ascii)).toThrow(FormatError);
  });

  it('throws a FormatError when the keys are not JSON lists', () => {
    const bytes = buildDb([{ key: '{"a": 1}', value: 1 }], { slot: 8 });
    formatErrorOf(() => detect(bytes), 'bad_key_json', 12);
  });

  it('reports the entry crossing used when a valid file has its last entry cut off', () => {
    const bytes = buildDb(withoutTs(three()), { slot: 8, size: 4096 });
    viewOf(bytes).setInt32(0, 320 - 8, true); // entry 3 @0xd0 now ends past used
    formatErrorOf(() => detect(bytes), 'entry_crosses_used', 0xd0);
  });

  it('refuses to guess when both strides walk cleanly (ambiguous_slot_width)', () => {
    // A 2-entry 16-byte-slot file crafted so that stride 8 also works: entry 1's timestamp reads
    // as the length + '["a"' of a stride-8 entry that swallows entry 2, whose value is ']' + spaces.
    const float = (...b: number[]): number => new DataView(Uint8Array.from(b).buffer).getFloat64(0, true);
    // entry 2 has n2 = 19, p2 = 1, so the stride-8 entry's key is ts1[4..8] + entry 2 up to its
    // value + the ']' in the value's first byte: 4 + (4 + 19 + 1) + 1 = 29 bytes, then 7 spaces.
    const key2 = '["m", "m", {}, "h"]';
    const n = 29;
    const ts1 = float(n, 0, 0, 0, 0x5b, 0x22, 0x61, 0x22);
    const value2 = float(0x5d, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20);
    const bytes = buildDb(
      [
        { key: '["a", "a", {}, "h"]', value: 1, ts: ts1 },
        { key: key2, value: value2, ts: 0 },
      ],
      { slot: 16 },
    );
    formatErrorOf(() => detect(bytes), 'ambiguous_slot_width', 8);
  });
});

// ---------------------------------------------------------------------------------------------
// Real fixture files written by Python 0.16.0, Python 0.25+ and the Ruby gem 0.16.2.

const fixtureDirs = readdirSync(FIXTURES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();
const dbFilesOf = (dir: string): string[] =>
  readdirSync(join(FIXTURES, dir))
    .filter((f) => f.endsWith('.db'))
    .sort();

interface FixtureEntry {
  file: string;
  key: string;
  value: string;
  timestamp?: string;
  value_offset?: number;
  parsed_type?: string;
  parsed_mode?: string;
  parsed_pid?: string;
}
const entriesOf = (dir: string): FixtureEntry[] =>
  readFileSync(join(FIXTURES, dir, 'entries.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as FixtureEntry);

/** A value as Python's `repr` or Ruby's `to_s` wrote it. */
function numberOf(text: string): number {
  const special: Record<string, number> = { inf: Infinity, '-inf': -Infinity, nan: NaN, Infinity, '-Infinity': -Infinity, NaN };
  return special[text] ?? Number(text);
}

function loadFixture(dir: string, file: string): { bytes: Uint8Array; view: DataView; used: number } {
  const bytes = new Uint8Array(readFileSync(join(FIXTURES, dir, file)));
  const view = viewOf(bytes);
  const used = readUsed(view);
  checkUsed(used, bytes.length);
  return { bytes, view, used };
}

interface WalkedEntry {
  key: string;
  keyOffset: number;
  valueOffset: number;
  value: number;
  ts: number | undefined;
}

/** Walk a file with a known slot width using only entryBounds/paddingLength/entrySize. */
function walkFile(bytes: Uint8Array, view: DataView, used: number, slot: SlotWidth): WalkedEntry[] {
  const out: WalkedEntry[] = [];
  let pos = HEADER_SIZE;
  while (pos < used) {
    const n = entryBounds(bytes, view, pos, used, slot);
    const valueOffset = pos + 4 + n + paddingLength(n);
    out.push({
      key: strictUtf8.decode(bytes.subarray(pos + 4, pos + 4 + n)),
      keyOffset: pos + 4,
      valueOffset,
      value: view.getFloat64(valueOffset, true),
      ts: slot === 16 ? view.getFloat64(valueOffset + 8, true) : undefined,
    });
    pos += entrySize(n, slot);
  }
  expect(pos).toBe(used);
  return out;
}

describe('slot detection on the real fixture files', () => {
  it('finds the fixture directories (Python 0.16, Python 0.25+, Ruby)', () => {
    expect(fixtureDirs).toContain('counter_basic');
    expect(fixtureDirs).toContain('v025-counter_basic');
    expect(fixtureDirs).toContain('rb-basic');
    expect(fixtureDirs.length).toBeGreaterThanOrEqual(24);
  });

  it('detects 8 for Python 0.16.0 counter_basic/counter_5466.db (used = 0x140, the §3.2 example)', () => {
    const { bytes, view, used } = loadFixture('counter_basic', 'counter_5466.db');
    expect(used).toBe(0x140);
    expect(bytes.length).toBe(65536);
    expect(detectSlotWidth(bytes, view, used)).toBe(8);
  });

  it('detects 16 for Python 0.25+ v025-counter_basic/counter_5585.db (used = 0x158)', () => {
    const { bytes, view, used } = loadFixture('v025-counter_basic', 'counter_5585.db');
    expect(used).toBe(0x158);
    expect(detectSlotWidth(bytes, view, used)).toBe(16);
  });

  it('detects 16 for v025-gauge_modes/gauge_mostrecent_5589.db, whose timestamps are real', () => {
    const { bytes, view, used } = loadFixture('v025-gauge_modes', 'gauge_mostrecent_5589.db');
    expect(detectSlotWidth(bytes, view, used)).toBe(16);
    expect(view.getUint32(8, true)).toBe(94);
    expect(view.getFloat64(0x70, true)).toBe(6);
    expect(view.getFloat64(0x78, true)).toBe(TS);
  });

  it('detects 8 for Ruby rb-basic/counter_puma_master-0.db (used = 240, size 4096)', () => {
    const { bytes, view, used } = loadFixture('rb-basic', 'counter_puma_master-0.db');
    expect(used).toBe(240);
    expect(bytes.length).toBe(4096);
    expect(detectSlotWidth(bytes, view, used)).toBe(8);
  });

  it('returns null for the empty counter_999999.db files (used = 8)', () => {
    for (const dir of ['counter_basic', 'v025-counter_basic']) {
      const { bytes, view, used } = loadFixture(dir, 'counter_999999.db');
      expect(used).toBe(8);
      expect(detectSlotWidth(bytes, view, used)).toBeNull();
    }
  });

  describe.each(fixtureDirs)('%s', (dir) => {
    const expected: SlotWidth = dir.startsWith('v025-') ? 16 : 8;
    it.each(dbFilesOf(dir))(`%s has a ${expected}-byte slot (null if empty)`, (file) => {
      const { bytes, view, used } = loadFixture(dir, file);
      expect(detectSlotWidth(bytes, view, used)).toBe(used === HEADER_SIZE ? null : expected);
    });
  });
});

// ---------------------------------------------------------------------------------------------
/** What decodeKey must return for a key, computed independently with JSON.parse. */
function expectedDecode(keyText: string): { shape: string; metric: string; sample: string; labels: [string, string][]; help: string | undefined } {
  const k = JSON.parse(keyText) as unknown[];
  const [metric, sample, third, fourth] = k as [string, string, unknown, unknown];
  let pairs: [string, string][];
  let shape: string;
  if (Array.isArray(third)) {
    shape = 'ruby';
    const values = fourth as unknown[];
    pairs = (third as string[]).map((name, i) => {
      const v = values[i];
      return [name, v === null ? '' : typeof v === 'string' ? v : String(v)];
    });
  } else {
    shape = k.length === 4 ? 'python' : 'python-nohelp';
    pairs = Object.entries(third as Record<string, string>);
  }
  const labels = pairs.filter(([, v]) => v !== '').sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { shape, metric, sample, labels, help: shape === 'python' ? (fourth as string) : undefined };
}

describe.each(fixtureDirs)('fixture %s agrees with entries.jsonl (the library’s own reader)', (dir) => {
  const all = entriesOf(dir);
  const isRuby = dir.startsWith('rb-');
  const slot: SlotWidth = dir.startsWith('v025-') ? 16 : 8;

  it.each(dbFilesOf(dir))('%s: same keys in order, same values, same offsets', (file) => {
    const expected = all.filter((e) => e.file === file);
    const { bytes, view, used } = loadFixture(dir, file);
    const detected = detectSlotWidth(bytes, view, used);
    const walked = detected === null ? [] : walkFile(bytes, view, used, detected);
    if (expected.length > 0) expect(detected).toBe(slot);

    expect(walked.map((w) => w.key)).toEqual(expected.map((e) => e.key));
    walked.forEach((w, i) => {
      const e = expected[i]!;
      expect(w.value, `${file} ${e.key}`).toBe(numberOf(e.value));
      if (!isRuby) expect(w.valueOffset, `${file} ${e.key}`).toBe(e.value_offset);
      if (slot === 16) expect(w.ts, `${file} ${e.key}`).toBe(numberOf(e.timestamp!));
    });
  });

  it('every key decodes to what JSON.parse of the key says', () => {
    let checked = 0;
    for (const file of dbFilesOf(dir)) {
      const { bytes, view, used } = loadFixture(dir, file);
      const detected = detectSlotWidth(bytes, view, used);
      if (detected === null) continue;
      for (const w of walkFile(bytes, view, used, detected)) {
        const raw = bytes.subarray(w.keyOffset, w.keyOffset + utf8.encode(w.key).length);
        const got = decodeKey(raw, w.keyOffset);
        const want = expectedDecode(w.key);
        expect(got.shape, w.key).toBe(isRuby ? 'ruby' : 'python');
        expect({ ...got, labels: got.labels.map((l) => [...l]) }, w.key).toEqual(want);
        checked++;
      }
    }
    expect(checked).toBe(all.length);
  });

  it('the builder reproduces every file byte for byte from its entries', () => {
    for (const file of dbFilesOf(dir)) {
      const { bytes } = loadFixture(dir, file);
      const entries = all
        .filter((e) => e.file === file)
        .map((e) => ({ key: e.key, value: numberOf(e.value), ...(slot === 16 ? { ts: numberOf(e.timestamp!) } : {}) }));
      const built = buildDb(entries, { slot, size: bytes.length });
      // NaN payloads are whatever the writer's arithmetic produced; take them from the file.
      const view = viewOf(built);
      for (const at of dbLayout(entries, slot).entries) {
        if (Number.isNaN(view.getFloat64(at.valueOffset, true))) built.set(bytes.subarray(at.valueOffset, at.valueOffset + 8), at.valueOffset);
      }
      expect(Buffer.from(built).equals(Buffer.from(bytes)), file).toBe(true);
    }
  });

  if (isRuby) {
    it('file names parse to what the Ruby reader parsed for gauges (type, mode, pid)', () => {
      for (const e of all) {
        const r = parseFileName(e.file);
        expect(r.ok, e.file).toBe(true);
        if (!r.ok) continue;
        expect(r.name.type).toBe(e.parsed_type);
        expect(r.name.instance).toBeTypeOf('number');
        if (r.name.type === 'gauge') {
          expect(r.name.mode).toBe(e.parsed_mode);
          expect(processIdOf(r.name, true)).toBe(e.parsed_pid);
        }
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
describe('json: strict parser that keeps number text', () => {
  const num = (v: JsonValue): string => {
    expect(v).toBeInstanceOf(JsonNumber);
    return (v as JsonNumber).text;
  };
  const rejects = (text: string): void => {
    expect(() => parseJson(text), JSON.stringify(text)).toThrow(JsonSyntaxError);
  };

  it('keeps the source text of numbers (-1.0e-07, 403, 1.0, -0.5, 0, 1E+2)', () => {
    for (const t of ['-1.0e-07', '403', '1.0', '-0.5', '0', '-0', '1E+2', '2.5e10']) expect(num(parseJson(t))).toBe(t);
    const arr = parseJson('[403, -1.0e-07,1.0]') as JsonValue[];
    expect(arr.map(num)).toEqual(['403', '-1.0e-07', '1.0']);
  });

  it('rejects numbers JSON does not allow (01, 1., .5, +1, -, 0x10, NaN, Infinity)', () => {
    for (const t of ['01', '1.', '.5', '+1', '-', '0x10', 'NaN', 'Infinity', '-Infinity', '1e', '1.e5']) rejects(t);
  });

  it('parses literals, arrays and objects (members in source order, duplicates kept)', () => {
    expect(parseJson('true')).toBe(true);
    expect(parseJson('false')).toBe(false);
    expect(parseJson('null')).toBeNull();
    expect(parseJson(' [ ] ')).toEqual([]);
    expect(parseJson('{}')).toEqual({ members: [] });
    expect(parseJson('\t{ "b" : "1" ,\r\n"a":[null,true], "b": "2"}\n')).toEqual({
      members: [
        ['b', '1'],
        ['a', [null, true]],
        ['b', '2'],
      ],
    });
  });

  it('decodes every escape, including \\u00e9 and \\/', () => {
    expect(parseJson(String.raw`"a\"b\\c\/d\b\f\n\r\t"`)).toBe('a"b\\c/d\b\f\n\r\t');
    expect(parseJson(String.raw`"caf\u00e9"`)).toBe('café');
    expect(parseJson(String.raw`"caf\u00E9 \u65e5\u672c \u007f \u2028"`)).toBe('café 日本 \u007f \u2028');
    expect(parseJson(String.raw`"\u0000"`)).toBe('\u0000');
  });

  it('joins an escaped surrogate pair \\ud83d\\ude42 into 🙂, and keeps raw astral characters', () => {
    expect(parseJson(String.raw`"\ud83d\ude42"`)).toBe('🙂');
    expect(parseJson(String.raw`"x\uD83D\uDE42y"`)).toBe('x🙂y');
    expect(parseJson('"🙂"')).toBe('🙂');
  });

  it('decodes unpaired surrogates to U+FFFD, each one, so strings that render alike are equal', () => {
    expect(parseJson(String.raw`"\ud83d"`)).toBe('\ufffd');
    expect(parseJson(String.raw`"\ude42"`)).toBe('\ufffd');
    expect(parseJson(String.raw`"\ud83dx"`)).toBe('\ufffdx');
    expect(parseJson(String.raw`"\ude42\ud83d"`)).toBe('\ufffd\ufffd'); // the wrong order is no pair
    expect(parseJson(String.raw`"\ud83d\u0041"`)).toBe('\ufffdA');
    expect(parseJson(String.raw`"a\ud800" `)).toBe(parseJson(String.raw`"a\udbff"`));
    expect(parseJson('"\ud83d"')).toBe('\ufffd'); // a raw lone surrogate in the JS string
    expect(parseJson(String.raw`{"\udc00": "\ud800\ud83d\ude42"}`)).toEqual({ members: [['\ufffd', '\ufffd🙂']] });
  });

  it('rejects bad escapes and unterminated strings', () => {
    for (const t of [String.raw`"\x41"`, String.raw`"\u12"`, String.raw`"\u12g4"`, String.raw`"\'"`, '"abc', '"abc\\', "'a'"]) rejects(t);
  });

  it('rejects trailing garbage after the value', () => {
    for (const t of ['[1] x', '[1]]', '"a" "b"', '{}{}', 'truex', 'null,', '1 2']) rejects(t);
    expect(parseJson('[1] \n\t\r')).toEqual([new JsonNumber('1')]);
  });

  it('rejects raw control characters inside strings (they must be escaped)', () => {
    for (const c of ['\n', '\t', '\r', '\u0000', '\u0001', '\u001f']) rejects(`"a${c}b"`);
    expect(parseJson('"a\u007fb"')).toBe('a\u007fb'); // DEL is not a control character for JSON
  });

  it('rejects malformed structure (trailing commas, missing colons, unquoted names, empty input)', () => {
    for (const t of ['', ' ', '[1,]', '[,1]', '{"a" "b"}', '{"a":}', '{a:1}', '{"a":1,}', '[1 2]', '[', '{', '\u00a0[]']) rejects(t);
  });

  it('accepts the shallow nesting of keys but rejects deep nesting without overflowing the stack', () => {
    const nest = (d: number): string => '['.repeat(d) + ']'.repeat(d);
    expect(() => parseJson(nest(10))).not.toThrow();
    rejects(nest(100));
    rejects(nest(200_000));
    rejects('{"a":'.repeat(1000) + '1' + '}'.repeat(1000));
  });

  it('reports the position of the error', () => {
    try {
      parseJson('[1, x]');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(JsonSyntaxError);
      expect((e as JsonSyntaxError).position).toBe(4);
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe('key: decodeKey (FORMAT.md §4)', () => {
  const dec = (text: string, offset = 12) => {
    const k = decodeKey(utf8.encode(text), offset);
    return { ...k, labels: k.labels.map((l) => [...l]) };
  };
  const keyError = (bytes: Uint8Array | string, reason: FormatErrorReason, offset = 4242): FormatError =>
    formatErrorOf(() => decodeKey(typeof bytes === 'string' ? utf8.encode(bytes) : bytes, offset), reason, offset);

  it('decodes a Python ≥ 0.16 key with help (shape python)', () => {
    expect(dec(PY_GET)).toEqual({
      shape: 'python',
      metric: 'requests',
      sample: 'requests_total',
      labels: [
        ['code', '200'],
        ['method', 'GET'],
      ],
      help: 'Total requests handled.',
    });
    expect(dec(PY_JOBS)).toEqual({ shape: 'python', metric: 'jobs_processed', sample: 'jobs_processed_total', labels: [], help: 'Jobs processed (no labels).' });
  });

  it('decodes lone surrogates (Python writes a lone one as "\\ud800") in values and help to U+FFFD; in a label name they are bad_key_shape', () => {
    const key = String.raw`["m", "m_total", {"v": "a\ud800"}, "help \udfff"]`;
    expect(dec(key)).toEqual({ shape: 'python', metric: 'm', sample: 'm_total', labels: [['v', 'a\ufffd']], help: 'help \ufffd' });
    expect(dec(String.raw`["m", "m_total", {"v": "a\udc00"}, "h"]`).labels).toEqual(dec(String.raw`["m", "m_total", {"v": "a\ufffd"}, "h"]`).labels);
    expect(keyError(String.raw`["m", "m_total", {"\ud800": "v"}, "h"]`, 'bad_key_shape').message).toBe('key at offset 4242 has an invalid label name "\ufffd": "[\\"m\\", \\"m_total\\", {\\"\\\\ud800\\": \\"v\\"}, \\"h\\"]"');
  });

  it('decodes the tricky_labels key of §4.1 (backslash, newline, quotes, \\u escapes, surrogate pair)', () => {
    const key = String.raw`["tricky_labels", "tricky_labels_total", {"alpha": "a1", "mid": "m", "zeta": "caf\u00e9 \u65e5\u672c \ud83d\ude42"}, "Help with \\ backslash,\nnewline, \"quotes\", unicode caf\u00e9 \ud83d\ude42."]`;
    expect(dec(key)).toEqual({
      shape: 'python',
      metric: 'tricky_labels',
      sample: 'tricky_labels_total',
      labels: [
        ['alpha', 'a1'],
        ['mid', 'm'],
        ['zeta', 'café 日本 🙂'],
      ],
      help: 'Help with \\ backslash,\nnewline, "quotes", unicode café 🙂.',
    });
  });

  it('decodes a Python ≤ 0.15 key without help (shape python-nohelp, help undefined)', () => {
    const k = dec('["requests", "requests_total", {"code": "200"}]');
    expect(k).toEqual({ shape: 'python-nohelp', metric: 'requests', sample: 'requests_total', labels: [['code', '200']], help: undefined });
    expect('help' in k && k.help).toBe(undefined);
  });

  it('keeps an empty help text as the empty string', () => {
    expect(dec('["m", "m", {}, ""]').help).toBe('');
  });

  it('decodes a Ruby key: numbers keep their text, true/false as words, null dropped as empty', () => {
    expect(dec('["m","m",["a","b","c","d"],[403,null,true,-0.5]]')).toEqual({
      shape: 'ruby',
      metric: 'm',
      sample: 'm',
      labels: [
        ['a', '403'],
        ['c', 'true'],
        ['d', '-0.5'],
      ],
      help: undefined,
    });
    expect(dec('["m","m",["e","f"],[false,-1.0e-07]]').labels).toEqual([
      ['e', 'false'],
      ['f', '-1.0e-07'],
    ]);
  });

  it('decodes a Ruby key with raw UTF-8 and escapes in values', () => {
    expect(dec('["rb_tricky_total","rb_tricky_total",["alpha","zeta"],["a1","café 日本 🙂"]]').labels).toEqual([
      ['alpha', 'a1'],
      ['zeta', 'café 日本 🙂'],
    ]);
    expect(dec(String.raw`["m","m",["v"],["ctrl\u0001char\ttab"]]`).labels).toEqual([['v', 'ctrl\u0001char\ttab']]);
  });

  it('sorts labels by name regardless of their order in the key (values follow their names)', () => {
    expect(dec('["m", "m", {"zeta": "1", "alpha": "2", "mid": "3"}, "h"]').labels).toEqual([
      ['alpha', '2'],
      ['mid', '3'],
      ['zeta', '1'],
    ]);
    expect(dec('["m","m",["z","a","M","_"],["1","2","3","4"]]').labels).toEqual([
      ['M', '3'],
      ['_', '4'],
      ['a', '2'],
      ['z', '1'],
    ]);
  });

  it('drops labels whose value is the empty string', () => {
    expect(dec('["m", "m", {"a": "", "b": "x"}, "h"]').labels).toEqual([['b', 'x']]);
    expect(dec('["m","m",["a","b"],["","x"]]').labels).toEqual([['b', 'x']]);
    expect(dec('["m", "m", {"a": ""}]').labels).toEqual([]);
  });

  it('accepts metric names with colons and labels named like reserved ones', () => {
    expect(dec('["a:b_c", "a:b_c", {"__name__x": "1", "le": "+Inf"}, "h"]')).toMatchObject({
      metric: 'a:b_c',
      labels: [
        ['__name__x', '1'],
        ['le', '+Inf'],
      ],
    });
  });

  it('rejects bytes that are not UTF-8 (bad_key_utf8 at the given offset)', () => {
    const withByte = (...b: number[]): Uint8Array => Uint8Array.from([...utf8.encode('["m", "m", {"a": "'), ...b, ...utf8.encode('"}, "h"]')]);
    keyError(withByte(0xff), 'bad_key_utf8');
    keyError(withByte(0xc3), 'bad_key_utf8'); // truncated 2-byte sequence
    keyError(withByte(0xed, 0xa0, 0xbd), 'bad_key_utf8'); // an encoded surrogate (CESU-8)
    keyError(withByte(0xc0, 0xaf), 'bad_key_utf8'); // overlong '/'
    keyError(withByte(0xff), 'bad_key_utf8', 0);
  });

  it('rejects text that is not JSON (bad_key_json at the given offset)', () => {
    keyError('not json', 'bad_key_json');
    keyError('', 'bad_key_json');
    keyError('["m", "m", {}', 'bad_key_json');
    keyError('["m", "m", {}, "h"]x', 'bad_key_json');
    keyError("['m', 'm', {}, 'h']", 'bad_key_json');
  });

  it('rejects JSON that is not a key (bad_key_shape at the given offset)', () => {
    for (const text of [
      '{}',
      '[]',
      '"m"',
      '[1,2,3]',
      '["m","s"]',
      '["m","s",{},"h",1]',
      '["m","s","labels"]',
      '["m","s",null]',
      '["m","s",1]',
    ]) {
      keyError(text, 'bad_key_shape');
    }
  });

  it('rejects Ruby keys whose names and values differ in length or are malformed (bad_key_shape)', () => {
    keyError('["m","s",["a"],[]]', 'bad_key_shape');
    keyError('["m","s",[],["x"]]', 'bad_key_shape');
    keyError('["m","s",["a"]]', 'bad_key_shape');
    keyError('["m","s",["a"],{"a":"x"}]', 'bad_key_shape');
    keyError('["m","s",[1],["x"]]', 'bad_key_shape'); // name not a string
    keyError('["m","s",["a"],[["x"]]]', 'bad_key_shape'); // value is a list
    keyError('["m","s",["a"],[{}]]', 'bad_key_shape'); // value is an object
  });

  it('rejects invalid metric and sample names (bad_key_shape)', () => {
    keyError('["9x","9x",{}]', 'bad_key_shape');
    keyError('["m","9x",{}]', 'bad_key_shape');
    keyError('["","m",{}]', 'bad_key_shape');
    keyError('["a-b","a-b",{}, "h"]', 'bad_key_shape');
    keyError('[1,"m",{}]', 'bad_key_shape');
    keyError('["m",null,{}]', 'bad_key_shape');
  });

  it('rejects invalid label names (bad_key_shape)', () => {
    keyError('["m", "m", {"a-b": "1"}, "h"]', 'bad_key_shape');
    keyError('["m", "m", {"1a": "1"}, "h"]', 'bad_key_shape');
    keyError('["m", "m", {"": "1"}, "h"]', 'bad_key_shape');
    keyError('["m", "m", {"a:b": "1"}, "h"]', 'bad_key_shape'); // colons are for metric names only
    keyError('["m","m",["é"],["1"]]', 'bad_key_shape');
  });

  it('rejects a label name given twice (bad_key_shape)', () => {
    keyError('["m", "m", {"a": "1", "a": "2"}, "h"]', 'bad_key_shape');
    keyError('["m","m",["a","b","a"],["1","2","3"]]', 'bad_key_shape');
  });

  it('rejects non-string Python label values and help (bad_key_shape)', () => {
    keyError('["m", "m", {"a": 1}, "h"]', 'bad_key_shape');
    keyError('["m", "m", {"a": null}, "h"]', 'bad_key_shape');
    keyError('["m", "m", {"a": true}, "h"]', 'bad_key_shape');
    keyError('["m", "m", {"a": ["x"]}, "h"]', 'bad_key_shape');
    keyError('["m", "m", {}, 1]', 'bad_key_shape');
    keyError('["m", "m", {}, null]', 'bad_key_shape');
  });

  it('puts the offset it was given on every error', () => {
    for (const offset of [0, 12, 65536, 0x7ffffff0]) {
      keyError(Uint8Array.of(0xff), 'bad_key_utf8', offset);
      keyError('nope', 'bad_key_json', offset);
      keyError('[1,2,3]', 'bad_key_shape', offset);
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe('filename: parseFileName / processIdOf (FORMAT.md §1)', () => {
  const ok = (fileName: string): ParsedFileName => {
    const r = parseFileName(fileName);
    if (!r.ok) throw new Error(`${fileName}: ${r.problem} ${r.message}`);
    return r.name;
  };
  const problem = (fileName: string): string => {
    const r = parseFileName(fileName);
    expect(r.ok, fileName).toBe(false);
    if (r.ok) return '';
    expect(r.message).toBeTypeOf('string');
    expect(r.message.length).toBeGreaterThan(0);
    return r.problem;
  };

  it('parses Python counter, histogram and summary names with a pid', () => {
    expect(ok('counter_5485.db')).toEqual({ type: 'counter', mode: undefined, id: '5485', rubyId: '5485', instance: undefined, archive: false });
    expect(ok('histogram_12.db')).toEqual({ type: 'histogram', mode: undefined, id: '12', rubyId: '12', instance: undefined, archive: false });
    expect(ok('summary_1.db')).toEqual({ type: 'summary', mode: undefined, id: '1', rubyId: '1', instance: undefined, archive: false });
  });

  it('parses a Python gauge name with its mode', () => {
    expect(ok('gauge_livesum_77.db')).toEqual({ type: 'gauge', mode: 'livesum', id: '77', rubyId: '77', instance: undefined, archive: false });
  });

  it('knows exactly the 10 gauge modes and parses each of them', () => {
    expect([...GAUGE_MODES].sort()).toEqual(
      ['all', 'liveall', 'min', 'livemin', 'max', 'livemax', 'sum', 'livesum', 'mostrecent', 'livemostrecent'].sort(),
    );
    for (const mode of GAUGE_MODES) {
      expect(ok(`gauge_${mode}_4242.db`)).toEqual({ type: 'gauge', mode, id: '4242', rubyId: '4242', instance: undefined, archive: false });
    }
  });

  it('keeps a Python custom id with an underscore whole (gauge_all_worker_7.db → worker_7)', () => {
    const n = ok('gauge_all_worker_7.db');
    expect(n).toEqual({ type: 'gauge', mode: 'all', id: 'worker_7', rubyId: 'worker_7', instance: undefined, archive: false });
    expect(processIdOf(n, false)).toBe('worker_7');
    expect(processIdOf(n, true)).toBe('worker_7');
    expect(ok('counter_worker_7.db').id).toBe('worker_7');
  });

  it('splits a trailing -<n> off for Ruby but keeps it for Python (counter_uwsgi-3.db)', () => {
    const n = ok('counter_uwsgi-3.db');
    expect(n).toEqual({ type: 'counter', mode: undefined, id: 'uwsgi-3', rubyId: 'uwsgi', instance: 3, archive: false });
    expect(processIdOf(n, false)).toBe('uwsgi-3');
    expect(processIdOf(n, true)).toBe('uwsgi');
  });

  it('parses Ruby gauge names with worker ids (gauge_max_puma_master-0.db → puma_master, instance 0)', () => {
    const n = ok('gauge_max_puma_master-0.db');
    expect(n).toEqual({ type: 'gauge', mode: 'max', id: 'puma_master-0', rubyId: 'puma_master', instance: 0, archive: false });
    expect(processIdOf(n, true)).toBe('puma_master');
    expect(processIdOf(n, false)).toBe('puma_master-0');
  });

  it('tells apart two live Ruby processes sharing an id (counter_sidekiq_0-1.db)', () => {
    expect(ok('counter_sidekiq_0-1.db')).toEqual({ type: 'counter', mode: undefined, id: 'sidekiq_0-1', rubyId: 'sidekiq_0', instance: 1, archive: false });
    expect(ok('counter_sidekiq_0-0.db')).toMatchObject({ rubyId: 'sidekiq_0', instance: 0, archive: false });
    expect(ok('counter_6498-0.db')).toMatchObject({ id: '6498-0', rubyId: '6498', instance: 0 });
    expect(ok('histogram_puma_0-12.db')).toMatchObject({ type: 'histogram', rubyId: 'puma_0', instance: 12 });
  });

  it('reports unknown_type for other prefixes (Vinted exemplar files, typos, Info/Enum)', () => {
    expect(problem('exemplar_1-0.db')).toBe('unknown_type');
    expect(problem('counters_1.db')).toBe('unknown_type');
    expect(problem('Counter_1.db')).toBe('unknown_type');
    expect(problem('info_1.db')).toBe('unknown_type');
    expect(problem('.db')).toBe('unknown_type');
  });

  it('reports unknown_gauge_mode for a gauge mode outside the 10 known ones', () => {
    expect(problem('gauge_weird_1.db')).toBe('unknown_gauge_mode');
    expect(problem('gauge_ALL_1.db')).toBe('unknown_gauge_mode');
    expect(problem('gauge.db')).toBe('unknown_gauge_mode');
  });

  it('reports no_process_id when nothing follows the type (and mode)', () => {
    expect(problem('counter.db')).toBe('no_process_id');
    expect(problem('counter_.db')).toBe('no_process_id');
    expect(problem('gauge_all.db')).toBe('no_process_id');
    expect(problem('gauge_all_.db')).toBe('no_process_id');
  });

  it('reports not_db for names not ending in .db', () => {
    expect(problem('counter_1.txt')).toBe('not_db');
    expect(problem('counter_1.db.tmp')).toBe('not_db');
    expect(problem('counter_1.DB')).toBe('not_db');
    expect(problem('counter_1')).toBe('not_db');
  });

  it('parses every fixture file name; Ruby fixtures all carry a -<n> instance', () => {
    for (const dir of fixtureDirs) {
      for (const file of dbFilesOf(dir)) {
        const n = ok(file);
        if (dir.startsWith('rb-')) expect(n.instance, file).toBeTypeOf('number');
        expect(file.startsWith(n.type)).toBe(true);
      }
    }
  });
});
