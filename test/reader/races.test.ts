/**
 * Races between a writer and the reader that must not cost a scrape its data: a file that grew
 * between the directory's stat and the read (a writer extends the file, then appends, then
 * stores `used`) is read whole, not skipped as "used beyond the file". Native mapping and the
 * plain-read fallback alike.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseFileName, type ParsedFileName } from '../../src/format/filename.js';
import { MappedFile } from '../../src/reader/mapped-file.js';
import { buildDb, dbLayout } from '../helpers/db-bytes.js';

const tmp = mkdtempSync(join(tmpdir(), 'mpe-races-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const name = (fileName: string): ParsedFileName => {
  const p = parseFileName(fileName);
  if (!p.ok) throw new Error(p.message);
  return p.name;
};

describe.each([
  { mode: 'native mapping', noNative: false },
  { mode: 'plain-read fallback', noNative: true },
])('a file that grew since it was stat-ed ($mode)', ({ noNative }) => {
  afterEach(() => {
    delete process.env['MULTIPROC_EXPORTER_NO_NATIVE'];
  });

  it('is read up to its current used, with every entry', () => {
    if (noNative) process.env['MULTIPROC_EXPORTER_NO_NATIVE'] = '1';
    const entries = Array.from({ length: 1_000 }, (_, i) => ({ key: `["grown", "grown_total", {"i": "${i}"}, "Grew."]`, value: i }));
    const used = dbLayout(entries, 16).used;
    expect(used).toBeGreaterThan(65_536); // entries past the size the caller saw
    const path = join(tmp, `counter_${noNative ? 2 : 1}.db`);
    writeFileSync(path, buildDb(entries, { slot: 16, size: 131_072 }));
    const file = MappedFile.open(path, 'counter_1.db', name('counter_1.db'));
    try {
      file.updateIndex(65_536); // the size a stat showed before the writer doubled the file
      expect(file.entryCount).toBe(1_000);
      expect(file.values[file.valueIndex[999]!]).toBe(999);
      expect(file.keys[999]!.labels).toEqual([['i', '999']]);
    } finally {
      file.close();
    }
  });
});
