/**
 * src/format/layout.ts: the byte layout of `.db` files (docs/FORMAT.md §2–§3) and slot-width
 * detection (§3.1), on bytes built from the spec (test/helpers/db-bytes.ts) and on the real
 * Python/Ruby fixture files.
 */
import { describe, expect, it } from 'vitest';
import { formatErrorOf } from '../helpers/format-error.js';
import { checkUsed, detectSlotWidth, entryBounds, entrySize, FormatError, HEADER_SIZE, paddingLength, readUsed, type SlotWidth } from '../../src/format/layout.js';
import { buildDb, type DbEntry } from '../helpers/db-bytes.js';
import { fixtureDirs, dbFilesOf, loadFixture } from './fixture-files.js';

const viewOf = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);


const PY_JOBS = '["jobs_processed", "jobs_processed_total", {}, "Jobs processed (no labels)."]'; // n = 77

const PY_GET = '["requests", "requests_total", {"code": "200", "method": "GET"}, "Total requests handled."]'; // n = 91

const PY_POST = '["requests", "requests_total", {"code": "500", "method": "POST"}, "Total requests handled."]'; // n = 92

const RB_GET = '["rb_requests_total","rb_requests_total",["code","method"],["200","GET"]]'; // n = 73

const TS = 1795417819.0347357;

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
