/**
 * The writer's files are byte-identical to the real libraries' (docs/FORMAT.md §2–§4, §7): worker
 * processes repeat, call for call, what the fixture generators did with Python 0.16 (layout
 * `python-legacy`), Python ≥ 0.18 (`python`) and the Ruby gem (`ruby`), under the same process
 * ids, and every fixture `.db` file must come out with the same bytes — header, key bytes,
 * padding, values, file size — except the wall-clock timestamps of `mostrecent` gauges.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { holdWriter, runWriter, type Layout } from '../helpers/writer-process.js';
import { entryBounds, entrySize, HEADER_SIZE, readUsed } from '../../src/format/layout.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const tmp = mkdtempSync(join(tmpdir(), 'mpe-writer-files-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Case {
  fixture: string;
  scenario: string;
  layout: Layout;
}

const PY_CASES = ['counter_basic', 'gauge_modes', 'histogram_custom', 'summary_basic', 'labels_tricky', 'app_realistic'];
const CASES: Case[] = [
  ...PY_CASES.map((c) => ({ fixture: c, scenario: `py:${c}`, layout: 'python-legacy' as const })),
  ...PY_CASES.map((c) => ({ fixture: `v025-${c}`, scenario: `py:${c}`, layout: 'python' as const })),
  { fixture: 'rb-basic', scenario: 'rb:basic', layout: 'ruby' },
];

function meta(fixture: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(FIXTURES, fixture, 'meta.json'), 'utf8')) as Record<string, unknown>;
}

/** The process ids the fixture's workers wrote under, in worker order. */
function processIds(fixture: string): string[] {
  const m = meta(fixture);
  if (fixture.startsWith('rb-')) {
    const os = m['worker_os_pids'] as number[];
    return (m['pid_provider_ids'] as (string | null)[]).map((id, i) => id ?? String(os[i]));
  }
  return (m['worker_pids'] as number[]).map(String);
}

function dbFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.db'))
    .sort();
}

/**
 * The file with every timestamp slot zeroed (python layout only); returns the timestamps found,
 * so the test can check ours are the time of the write.
 */
function withoutTimestamps(bytes: Buffer, slot: 8 | 16): { bytes: Buffer; timestamps: number[] } {
  const copy = Buffer.from(bytes);
  const timestamps: number[] = [];
  if (slot === 8) return { bytes: copy, timestamps };
  const view = new DataView(copy.buffer, copy.byteOffset, copy.byteLength);
  const used = readUsed(view);
  for (let pos = HEADER_SIZE; pos < used; ) {
    const n = entryBounds(copy, view, pos, used, slot);
    const end = pos + entrySize(n, slot);
    timestamps.push(view.getFloat64(end - 8, true));
    copy.fill(0, end - 8, end);
    pos = end;
  }
  return { bytes: copy, timestamps };
}

describe('writer files are byte-identical to the libraries’ own', () => {
  for (const c of CASES) {
    it(`${c.fixture} (${c.layout} layout, ${c.scenario})`, () => {
      const dir = mkdtempSync(join(tmp, `${c.fixture}-`));
      const t0 = Date.now() / 1000;
      processIds(c.fixture).forEach((id, idx) => runWriter(dir, c.layout, id, c.scenario, [idx]));
      const t1 = Date.now() / 1000;

      // counter_999999.db: a header-only file gen.py made with MmapedDict directly, no metric.
      const expected = dbFiles(join(FIXTURES, c.fixture)).filter((f) => f !== 'counter_999999.db');
      const removed = (meta(c.fixture)['files_removed_by_mark_process_dead'] as string[] | undefined) ?? [];
      // Ours are all the library wrote; the fixture lacks only what mark_process_dead deleted.
      expect(dbFiles(dir)).toEqual([...expected, ...removed].sort());

      const slot = c.layout === 'python' ? 16 : 8;
      for (const f of expected) {
        const theirs = withoutTimestamps(readFileSync(join(FIXTURES, c.fixture, f)), slot);
        const ours = withoutTimestamps(readFileSync(join(dir, f)), slot);
        expect(ours.bytes.length, f).toBe(theirs.bytes.length);
        expect(ours.bytes.equals(theirs.bytes), `${f} differs from the library's file`).toBe(true);
        // Timestamps: only mostrecent gauges carry them, set at the write (never set: 0).
        theirs.timestamps.forEach((ts, i) => {
          const mine = ours.timestamps[i]!;
          if (ts === 0) expect(mine, `${f} entry ${i}`).toBe(0);
          else expect(mine >= t0 - 0.001 && mine <= t1 + 0.001, `${f} entry ${i}: ${mine} outside [${t0}, ${t1}]`).toBe(true);
        });
      }
    });
  }

  it('rb-same_worker_id: a second live process with the same id gets the -1 files (ruby layout)', async () => {
    const dir = mkdtempSync(join(tmp, 'rb-same-'));
    // The fixture's worker #1 happened to lock the -0 files first; start it first here too.
    const first = holdWriter(dir, 'ruby', 'sidekiq_0', 'rb:same_worker_id', [1]);
    await first.ready;
    const second = holdWriter(dir, 'ruby', 'sidekiq_0', 'rb:same_worker_id', [0]);
    await second.ready;
    first.release();
    second.release();
    await Promise.all([first.exited, second.exited]);
    const expected = dbFiles(join(FIXTURES, 'rb-same_worker_id'));
    expect(dbFiles(dir)).toEqual(expected);
    for (const f of expected) {
      expect(readFileSync(join(dir, f)).equals(readFileSync(join(FIXTURES, 'rb-same_worker_id', f))), f).toBe(true);
    }
  });
});
