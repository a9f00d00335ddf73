/**
 * test/helpers/db-bytes.ts builds files exactly as docs/FORMAT.md §2–§3 says.
 */
import { describe, expect, it } from 'vitest';
import { buildDb, dbLayout } from './db-bytes.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

const viewOf = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

const PY_JOBS = '["jobs_processed", "jobs_processed_total", {}, "Jobs processed (no labels)."]'; // n = 77

const PY_GET = '["requests", "requests_total", {"code": "200", "method": "GET"}, "Total requests handled."]'; // n = 91

const PY_POST = '["requests", "requests_total", {"code": "500", "method": "POST"}, "Total requests handled."]'; // n = 92

const TS = 1795417819.0347357;

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

