/**
 * src/format/filename.ts: type, gauge mode and process id from a file name (docs/FORMAT.md §1).
 */
import { describe, expect, it } from 'vitest';
import { GAUGE_MODES, parseFileName, processIdOf, type ParsedFileName } from '../../src/format/filename.js';
import { fixtureDirs, dbFilesOf } from './fixture-files.js';

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
