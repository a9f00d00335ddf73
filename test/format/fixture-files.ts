/**
 * The real fixture files (written by Python 0.16.0, Python 0.25+ and the Ruby gem 0.16.2), their
 * entries.jsonl (the library's own reader) and a walk of their entries, for the format tests.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { checkUsed, entryBounds, entrySize, HEADER_SIZE, paddingLength, readUsed, type SlotWidth } from '../../src/format/layout.js';

export const FIXTURES = join(import.meta.dirname, '..', 'fixtures');

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const viewOf = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

export const fixtureDirs = readdirSync(FIXTURES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();
export const dbFilesOf = (dir: string): string[] =>
  readdirSync(join(FIXTURES, dir))
    .filter((f) => f.endsWith('.db'))
    .sort();

export interface FixtureEntry {
  file: string;
  key: string;
  value: string;
  timestamp?: string;
  value_offset?: number;
  parsed_type?: string;
  parsed_mode?: string;
  parsed_pid?: string;
}
export const entriesOf = (dir: string): FixtureEntry[] =>
  readFileSync(join(FIXTURES, dir, 'entries.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as FixtureEntry);

/** A value as Python's `repr` or Ruby's `to_s` wrote it. */
export function numberOf(text: string): number {
  const special: Record<string, number> = { inf: Infinity, '-inf': -Infinity, nan: NaN, Infinity, '-Infinity': -Infinity, NaN };
  return special[text] ?? Number(text);
}

export function loadFixture(dir: string, file: string): { bytes: Uint8Array; view: DataView; used: number } {
  const bytes = new Uint8Array(readFileSync(join(FIXTURES, dir, file)));
  const view = viewOf(bytes);
  const used = readUsed(view);
  checkUsed(used, bytes.length);
  return { bytes, view, used };
}

export interface WalkedEntry {
  key: string;
  keyOffset: number;
  valueOffset: number;
  value: number;
  ts: number | undefined;
}

/** Walk a file with a known slot width using only entryBounds/paddingLength/entrySize. */
export function walkFile(bytes: Uint8Array, view: DataView, used: number, slot: SlotWidth): WalkedEntry[] {
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
