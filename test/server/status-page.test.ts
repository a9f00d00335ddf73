/**
 * The /status page without a daemon: which format a request gets, how hostile text is escaped,
 * and that a directory of many files gives a page of bounded size that says what it left out.
 */
import { describe, expect, it } from 'vitest';
import type { FileStatus } from '../../src/reader/directory.js';
import { escapeText, STATUS_ROWS_PER_TABLE, statusFormat, statusHtml, statusJson, type StatusReport } from '../../src/server/status-page.js';
import { workerHealth } from '../../src/server/worker-health.js';

const NOW = 1_800_000_000;

function file(fileName: string, state: FileStatus['state'], processId: string | null, extra: Partial<FileStatus> = {}): FileStatus {
  return { fileName, type: 'counter', mode: null, processId, dialect: 'python', state, entries: 1, bytes: 4096, mappedBytes: state === 'dead' ? 0 : 4096, heartbeat: undefined, error: null, skipReason: null, ...extra };
}

function report(files: FileStatus[]): StatusReport {
  return { dir: '/run/metrics', liveness: 'auto', ready: true, reason: null, files, workers: workerHealth(files, NOW, 0, 30), scrapes: [{ at: NOW - 1, durationMs: 1.234, files: files.length, families: 2 }], now: NOW };
}

describe('statusFormat', () => {
  it('gives HTML to a browser or ?format=html, JSON to everyone else', () => {
    expect(statusFormat('', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8')).toBe('html');
    expect(statusFormat('', 'TEXT/HTML')).toBe('html');
    expect(statusFormat('', undefined)).toBe('json');
    expect(statusFormat('', '*/*')).toBe('json');
    expect(statusFormat('', 'application/json')).toBe('json');
    expect(statusFormat('', 'text/htmlx')).toBe('json');
    expect(statusFormat('format=html', undefined)).toBe('html');
    expect(statusFormat('format=json', 'text/html')).toBe('json');
    expect(statusFormat('format=xml', 'text/html')).toBeNull();
  });
});

describe('escapeText', () => {
  it('turns markup into entities and invisible characters into visible escapes', () => {
    expect(escapeText(`a"b'<i>&c`)).toBe('a&#34;b&#39;&#60;i&#62;&#38;c');
    expect(escapeText('x\ny\tz\u0000\u202e\u2028')).toBe(
      'x<span class="ctl">\\n</span>y<span class="ctl">\\t</span>z<span class="ctl">\\u0000</span><span class="ctl">\\u202e</span><span class="ctl">\\u2028</span>',
    );
    expect(escapeText('café 🙂')).toBe('café 🙂');
  });
});

describe('statusHtml', () => {
  it('shows a hostile file name and process id as text, never as markup', () => {
    const id = `"><script>alert(1)</script>\n`;
    const html = statusHtml(report([file(`counter_${id}.db`, 'live', id, { heartbeat: NOW - 2.5 })]));
    expect(html).not.toContain('<script>');
    expect(html).toContain('<td><code>counter_&#34;&#62;&#60;script&#62;alert(1)&#60;/script&#62;<span class="ctl">\\n</span>.db</code></td>');
    expect(html).toContain('<td>2.5 s</td>'); // heartbeat age
  });

  it('lists skipped files with their reason and problem', () => {
    const html = statusHtml(report([file('counter_x.db', 'skipped', 'x', { skipReason: 'used_out_of_range', error: 'header says 1000 bytes are used' })]));
    expect(html).toContain('<tr class="skipped"><td><code>counter_x.db</code></td><td>used_out_of_range</td><td>header says 1000 bytes are used</td><td class="n">4096</td></tr>');
  });

  it(`shows at most ${STATUS_ROWS_PER_TABLE} rows a table and says how many it left out`, () => {
    const n = 5000;
    const files = Array.from({ length: n }, (_, i) => file(`counter_${i}.db`, i % 2 === 0 ? 'live' : 'dead', String(i)));
    const html = statusHtml(report(files));
    expect(html.match(/<tr class="live"><td><code>counter_/g)).toHaveLength(STATUS_ROWS_PER_TABLE);
    expect(html.match(/<tr class="dead"><td><code>counter_/g)).toHaveLength(STATUS_ROWS_PER_TABLE);
    expect(html).toContain(`<h2>Files live (2500)</h2>`);
    expect(html).toContain(`2400 more live files not shown (the first 100 of 2500)`);
    expect(html).toContain(`4900 more workers not shown (the first 100 of 5000)`);
    // Live workers are listed before dead ones: the 100 rows shown are all live.
    expect(html.match(/<tr class="live"><td><code>\d+<\/code><\/td><td>live<\/td>/g)).toHaveLength(STATUS_ROWS_PER_TABLE);
    expect(html.match(/<td><code>\d+<\/code><\/td><td>dead<\/td>/g)).toBeNull();
    expect(Buffer.byteLength(html)).toBeLessThan(200_000);
    // The JSON keeps every file.
    expect((JSON.parse(statusJson(report(files))) as { files: unknown[] }).files).toHaveLength(n);
  });

  it('says so when there are no workers and no scrapes yet', () => {
    const html = statusHtml({ ...report([]), scrapes: [] });
    expect(html).toContain('<p>No worker has written a file here yet.</p>');
    expect(html).toContain('<p>No scrape yet.</p>');
  });
});
