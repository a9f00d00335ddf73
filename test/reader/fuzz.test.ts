/**
 * Property-based fuzzing of the decoder and the reader, with fast-check:
 * random bytes and mutations of valid files (bit flips, overwritten `used`, entry lengths,
 * truncation, appended garbage, also while the file is mapped).
 *
 * - The format layer (slot detection, entry walk, key decoding) throws nothing but FormatError,
 *   and never reads out of bounds: it gets a byte array that throws on any index past `used`
 *   and a DataView exactly `used` bytes long (which throws RangeError past its end).
 * - The reader (Collector over a real file, native mapping and plain-read fallback) never throws:
 *   a bad file is skipped with a known reason; every entry it indexes lies inside `used` and
 *   inside the file; what it serves renders.
 *
 * `npm run soak` runs 20× more cases. A failure prints fast-check's seed and shrunk input.
 */
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Collector } from '../../src/collector.js';
import { renderOpenMetrics, renderText } from '../../src/exposition/index.js';
import { decodeKey } from '../../src/format/key.js';
import { detectSlotWidth, entryBounds, entrySize, FormatError, HEADER_SIZE, readUsed } from '../../src/format/layout.js';
import { buildDb, type DbEntry } from '../helpers/db-bytes.js';
import { scaled } from '../helpers/soak.js';

const RUNS = scaled(300, 6_000);
const tmp = mkdtempSync(join(tmpdir(), 'mpe-fuzz-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const SKIP_REASONS = new Set([
  'empty_file',
  'used_out_of_range',
  'bad_entry_length',
  'entry_crosses_used',
  'bad_padding',
  'ambiguous_slot_width',
  'bad_key_utf8',
  'bad_key_json',
  'bad_key_shape',
  'mixed_key_shapes',
  'open_failed',
]);

// ---------------------------------------------------------------------------------------------
// Inputs: valid files, then mutations of them, and plain random bytes.

const labelName = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,6}$/);
const labelValue = fc.oneof(fc.string({ maxLength: 8 }), fc.string({ unit: 'grapheme', maxLength: 4 }));
const metricName = fc.stringMatching(/^[a-z_][a-z0-9_]{0,10}$/);
const value = fc.oneof(fc.double(), fc.constantFrom(0, 1, -1, NaN, Infinity, -Infinity));

const pythonKey = fc
  .tuple(metricName, fc.uniqueArray(fc.tuple(labelName, labelValue), { maxLength: 3, selector: (l) => l[0] }), fc.string({ maxLength: 10 }))
  .map(([m, labels, help]) => JSON.stringify([m, `${m}_total`, Object.fromEntries(labels), help]));
const rubyKey = fc
  .tuple(metricName, fc.uniqueArray(fc.tuple(labelName, fc.oneof(labelValue, fc.integer(), fc.constant(null))), { maxLength: 3, selector: (l) => l[0] }))
  .map(([m, labels]) => JSON.stringify([m, m, labels.map((l) => l[0]), labels.map((l) => l[1])]));

interface Spec {
  readonly slot: 8 | 16;
  readonly entries: DbEntry[];
  readonly spare: number;
}
const validFile: fc.Arbitrary<Spec> = fc.oneof(
  fc.record({ slot: fc.constant<16>(16), entries: fc.array(fc.record({ key: pythonKey, value }), { maxLength: 8 }), spare: fc.nat(200) }),
  fc.record({ slot: fc.constant<8>(8), entries: fc.array(fc.record({ key: pythonKey, value }), { maxLength: 8 }), spare: fc.nat(200) }),
  fc.record({ slot: fc.constant<8>(8), entries: fc.array(fc.record({ key: rubyKey, value }), { maxLength: 8 }), spare: fc.nat(200) }),
);
const build = (s: Spec): Uint8Array => {
  const b = buildDb(s.entries, { slot: s.slot });
  const out = new Uint8Array(b.length + s.spare);
  out.set(b);
  return out;
};

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'byte'; at: number; value: number }
  | { kind: 'u32'; at: number; value: number }
  | { kind: 'used'; value: number }
  | { kind: 'cut'; at: number }
  | { kind: 'garbage'; bytes: Uint8Array };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), value: fc.constantFrom(0, 0x20, 0x22, 0x5b, 0x5d, 0x7b, 0xff, 0xc3) }),
  fc.record({ kind: fc.constant('u32' as const), at: fc.nat(), value: fc.oneof(fc.nat(), fc.constantFrom(0, 0x7fffffff, 0x80000000, 0xffffffff)) }),
  fc.record({ kind: fc.constant('used' as const), value: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('garbage' as const), bytes: fc.uint8Array({ maxLength: 64 }) }),
);
function mutate(bytes: Uint8Array, ms: readonly Mutation[]): Uint8Array {
  let b = bytes.slice();
  for (const m of ms) {
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    if (m.kind === 'flip' && b.length > 0) b[m.at % b.length]! ^= 1 << m.bit;
    else if (m.kind === 'byte' && b.length > 0) b[m.at % b.length] = m.value;
    else if (m.kind === 'u32' && b.length >= 4) view.setUint32(m.at % (b.length - 3), m.value >>> 0, true);
    else if (m.kind === 'used' && b.length >= 4) view.setInt32(0, m.value, true);
    else if (m.kind === 'cut') b = b.slice(0, b.length === 0 ? 0 : m.at % (b.length + 1));
    else if (m.kind === 'garbage') {
      const grown = new Uint8Array(b.length + m.bytes.length);
      grown.set(b);
      grown.set(m.bytes, b.length);
      b = grown;
    }
  }
  return b;
}
const fileBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(validFile, fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([s, ms]) => mutate(build(s), ms)) },
  { weight: 1, arbitrary: validFile.map(build) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) },
);

// ---------------------------------------------------------------------------------------------

class OutOfBounds extends Error {}

/** The bytes as an array that throws on any index outside [0, limit): an out-of-bounds read is caught, not silently undefined. */
function guarded(bytes: Uint8Array, limit: number): Uint8Array {
  const inner = bytes.subarray(0, limit);
  return new Proxy(inner, {
    get(target, prop) {
      if (typeof prop === 'string' && /^-?\d+$/.test(prop)) {
        const i = Number(prop);
        if (i < 0 || i >= limit) throw new OutOfBounds(`read of byte ${i}, past used=${limit}`);
        return target[i];
      }
      if (prop === 'subarray') {
        return (start: number, end: number) => {
          if (start < 0 || end > limit || start > end) throw new OutOfBounds(`subarray(${start}, ${end}) past used=${limit}`);
          return target.subarray(start, end);
        };
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** What the reader does with a file's bytes, restricted to `used`: slot detection, the walk, every key. */
function decodeAll(bytes: Uint8Array): number {
  if (bytes.length < HEADER_SIZE) return 0;
  const used = readUsed(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  if (used < HEADER_SIZE || used > bytes.length || used % 8 !== 0) return 0;
  const view = new DataView(bytes.buffer, bytes.byteOffset, used);
  const safe = guarded(bytes, used);
  const slot = detectSlotWidth(safe, view, used);
  if (slot === null) return 0;
  let pos = HEADER_SIZE;
  let n = 0;
  while (pos < used) {
    const len = entryBounds(safe, view, pos, used, slot);
    decodeKey(safe.subarray(pos + 4, pos + 4 + len), pos + 4);
    pos += entrySize(len, slot);
    n++;
  }
  return n;
}

describe('the format layer', () => {
  it('throws only FormatError and never reads past used, for random and mutated files', () => {
    fc.assert(
      fc.property(fileBytes, (bytes) => {
        try {
          decodeAll(bytes);
        } catch (e) {
          if (!(e instanceof FormatError)) throw e;
        }
      }),
      { numRuns: RUNS * 4 },
    );
  });

  it('decodes every valid file completely', () => {
    fc.assert(
      fc.property(validFile, (s) => {
        // An 8-byte-slot file can also walk as 16 (or the reverse) only by construction; random keys never do.
        expect(decodeAll(build(s))).toBe(s.entries.length);
      }),
      { numRuns: RUNS },
    );
  });
});

describe.each([
  { mode: 'native mapping', noNative: false },
  { mode: 'plain-read fallback', noNative: true },
])('the reader ($mode)', ({ noNative }) => {
  afterEach(() => {
    delete process.env['MULTIPROC_EXPORTER_NO_NATIVE'];
  });

  let n = 0;
  const check = (collector: Collector, size: number): void => {
    const c = collector.collect(); // must not throw
    for (const s of c.skipped) expect(SKIP_REASONS).toContain(s.reason);
    for (const f of c.files) {
      const width = f.slot ?? 8;
      for (let i = 0; i < f.entryCount; i++) {
        const at = f.valueIndex[i]! * 8;
        expect(at).toBeGreaterThanOrEqual(HEADER_SIZE + 8); // after the header, an entry length and a key
        expect(at + width).toBeLessThanOrEqual(size);
      }
    }
    renderText(c.families);
    renderOpenMetrics(c.families);
  };

  it('never throws on random and mutated files, and indexes only entries inside the file', () => {
    if (noNative) process.env['MULTIPROC_EXPORTER_NO_NATIVE'] = '1';
    fc.assert(
      fc.property(fileBytes, fc.constantFrom('counter_1.db', 'gauge_all_1.db', 'histogram_1-0.db', 'gauge_max_x.db'), (bytes, name) => {
        const dir = join(tmp, `r${noNative ? 'p' : 'n'}${n++}`);
        const path = join(dir, name);
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dir, { recursive: true });
        writeFileSync(path, bytes);
        const collector = new Collector(dir);
        try {
          check(collector, bytes.length);
        } finally {
          collector.close();
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('never throws when a mapped file is mutated, cut or regrown between scans', () => {
    if (noNative) process.env['MULTIPROC_EXPORTER_NO_NATIVE'] = '1';
    fc.assert(
      fc.property(validFile, fc.array(fc.tuple(fc.array(mutation, { maxLength: 3 }), fc.nat()), { minLength: 1, maxLength: 4 }), (spec, steps) => {
        const dir = join(tmp, `m${noNative ? 'p' : 'n'}${n++}`);
        mkdirSync(dir, { recursive: true });
        const path = join(dir, 'counter_1.db');
        let bytes = build(spec);
        writeFileSync(path, bytes);
        const collector = new Collector(dir);
        try {
          check(collector, bytes.length);
          for (const [ms, cut] of steps) {
            // Rewrite in place (same inode: the reader keeps its mapping and index) or cut it short.
            bytes = mutate(bytes, ms);
            if (cut % 3 === 0) {
              truncateSync(path, cut % (bytes.length + 1));
              check(collector, cut % (bytes.length + 1));
            } else {
              writeFileSync(path, bytes);
              check(collector, bytes.length);
            }
          }
        } finally {
          collector.close();
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: Math.ceil(RUNS / 2) },
    );
  });
});
