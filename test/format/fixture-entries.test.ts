/**
 * Every fixture file, decoded by src/format/, agrees with its entries.jsonl (written by the
 * library's own reader).
 */
import { describe, expect, it } from 'vitest';
import { parseFileName, processIdOf } from '../../src/format/filename.js';
import { decodeKey } from '../../src/format/key.js';
import { detectSlotWidth, type SlotWidth } from '../../src/format/layout.js';
import { buildDb, dbLayout } from '../helpers/db-bytes.js';
import { fixtureDirs, dbFilesOf, entriesOf, numberOf, loadFixture, walkFile } from './fixture-files.js';

const utf8 = new TextEncoder();

const viewOf = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

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
      return [name, v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v)];
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

