/**
 * Folding a dead writer's file into the folded state (Merger.fold) gives exactly what reading
 * it live gave, for every metric type and gauge mode but the live* ones (dropped); and a total
 * that re-association would lower by an ulp is held (counters never go back by our doing).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderText } from '../../src/exposition/index.js';
import { parseFileName } from '../../src/format/filename.js';
import { Merger } from '../../src/merge/merger.js';
import { MappedFile } from '../../src/reader/mapped-file.js';
import { buildDb, type DbEntry } from '../helpers/db-bytes.js';
import { parseExposition, sampleLines } from '../helpers/parse-exposition.js';

const tmp = mkdtempSync(join(tmpdir(), 'mpe-fold-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function file(name: string, entries: DbEntry[]): MappedFile {
  const bytes = buildDb(entries, { slot: 16 });
  const path = join(tmp, `${Math.random().toString(36).slice(2)}-${name}`);
  writeFileSync(path, bytes);
  const parsed = parseFileName(name);
  if (!parsed.ok) throw new Error(parsed.message);
  const f = MappedFile.open(path, name, parsed.name);
  f.updateIndex(bytes.length);
  return f;
}

const key = (metric: string, sample: string, labels: Record<string, string> = {}): string =>
  JSON.stringify([metric, sample, labels, 'Help.']);

function lines(m: Merger, files: MappedFile[]): string[] {
  return sampleLines(parseExposition(renderText(m.merge(files))).samples);
}

describe('Merger.fold', () => {
  const make = (pid: string, v: number, ts: number): MappedFile[] => [
    file(`counter_${pid}.db`, [{ key: key('jobs', 'jobs_total'), value: v }]),
    file(`histogram_${pid}.db`, [
      { key: key('lat', 'lat_sum'), value: v / 2 },
      { key: key('lat', 'lat_bucket', { le: '1.0' }), value: 1 },
      { key: key('lat', 'lat_bucket', { le: '+Inf' }), value: v },
    ]),
    file(`summary_${pid}.db`, [
      { key: key('size', 'size_count'), value: 2 },
      { key: key('size', 'size_sum'), value: v * 3 },
    ]),
    ...(['all', 'min', 'max', 'sum', 'mostrecent', 'liveall', 'livesum', 'livemax', 'livemin', 'livemostrecent'] as const).map((mode) =>
      file(`gauge_${mode}_${pid}.db`, [{ key: key(`g_${mode}`, `g_${mode}`), value: v, ts }]),
    ),
  ];

  it('a folded file contributes what it did live; live* gauges of a dead writer are left out', () => {
    const m = new Merger();
    const a = make('1', 5, 100);
    const b = make('2', 7, 50);
    const live = lines(m, [...a, ...b]);
    for (const f of b) m.fold(f);
    const folded = lines(m, a);
    const liveModes = /^g_live/;
    // Everything b's writer gave stays, except its live* gauges, which now show a's value only.
    expect(folded.filter((l) => !liveModes.test(l))).toEqual(live.filter((l) => !liveModes.test(l)));
    expect(folded.filter((l) => liveModes.test(l))).toEqual(['g_liveall{pid="1"} 5', 'g_livemax 5', 'g_livemin 5', 'g_livemostrecent 5', 'g_livesum 5']);
    expect(live).toContain('g_mostrecent 5'); // newest timestamp wins, folded or not
    expect(folded).toContain('g_all{pid="2"} 7');
    expect(folded).toContain('jobs_total 12');
    expect(folded).toContain('lat_count 14'); // per-bucket counts on disk: (1 + 5) + (1 + 7)
    // Folded values stay when the file is gone: later merges read only a.
    for (const f of b) f.close();
    expect(lines(m, a)).toEqual(folded);
  });

  it('refold() from the files left forgets what only a deleted file gave', () => {
    const m = new Merger();
    const a = make('1', 5, 100);
    const b = make('2', 7, 50);
    for (const f of b) m.fold(f);
    m.refold(() => {}); // b's files were deleted: nothing left to fold
    expect(lines(m, a)).toEqual(lines(new Merger(), a));
  });

  it('holds a counter that folding would lower by an ulp (float addition is not associative)', () => {
    // Live, in name order: (2^-53 + 2^-53) + 1 = 1 + 2^-52. With c folded first: (1 + 2^-53) + 2^-53 = 1.
    const tiny = 2 ** -53;
    const a = file('counter_a.db', [{ key: key('t', 't_total'), value: tiny }]);
    const b = file('counter_b.db', [{ key: key('t', 't_total'), value: tiny }]);
    const c = file('counter_c.db', [{ key: key('t', 't_total'), value: 1 }]);
    const m = new Merger();
    expect(m.merge([a, b, c])[0]!.samples[0]!.value).toBe(1 + 2 ** -52);
    m.fold(c);
    expect(m.merge([a, b])[0]!.samples[0]!.value).toBe(1 + 2 ** -52);
    const unguarded = new Merger();
    unguarded.fold(c);
    expect(unguarded.merge([a, b])[0]!.samples[0]!.value).toBe(1); // what the guard held back
  });

  it('lets a real decrease through (a file deleted): only rounding noise is held', () => {
    const a = file('counter_a.db', [{ key: key('t', 't_total'), value: 10 }]);
    const b = file('counter_b.db', [{ key: key('t', 't_total'), value: 5 }]);
    const m = new Merger();
    expect(m.merge([a, b])[0]!.samples[0]!.value).toBe(15);
    expect(m.merge([a])[0]!.samples[0]!.value).toBe(10);
  });
});
