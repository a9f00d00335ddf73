/**
 * `/status`: every file the daemon knows, with its dialect, type, mode, process id, writer
 * state, size and last error, the workers they add up to and the last scrapes. JSON for tools
 * (the default), a small HTML page for people (`Accept: text/html`, or `?format=html`): no
 * external assets, no script, every string escaped, at most STATUS_ROWS_PER_TABLE rows a table.
 */
import type { FileStatus } from '../reader/directory.js';
import type { ScrapeTiming } from './scrape.js';
import type { WorkerHealth, WorkerStatus } from './worker-health.js';

export interface StatusReport {
  readonly dir: string;
  readonly liveness: string;
  readonly ready: boolean;
  readonly reason: string | null;
  readonly files: readonly FileStatus[];
  readonly workers: WorkerHealth;
  /** Newest first. */
  readonly scrapes: readonly ScrapeTiming[];
  /** When the report was made, UNIX seconds (heartbeat ages are taken from it). */
  readonly now: number;
}

/** Rows shown per table of the HTML page; the rest are counted, and listed in the JSON. */
export const STATUS_ROWS_PER_TABLE = 100;

const STATES = ['skipped', 'live', 'unknown', 'dead', 'absorbed'] as const;

export type StatusFormat = 'html' | 'json';

/**
 * `?format=html|json` wins; else HTML when the client accepts text/html (a browser), else JSON.
 * Null for a `format` we do not serve.
 */
export function statusFormat(query: string, accept: string | undefined): StatusFormat | null {
  const format = new URLSearchParams(query).get('format');
  if (format !== null) return format === 'html' || format === 'json' ? format : null;
  return /(^|[\s,])text\/html\s*(;|,|$)/i.test(accept ?? '') ? 'html' : 'json';
}

export function statusJson(r: StatusReport): string {
  const count = (state: string): number => r.files.filter((f) => f.state === state).length;
  return `${JSON.stringify({
    dir: r.dir,
    liveness: r.liveness,
    ready: r.ready,
    reason: r.reason,
    counts: { files: r.files.length, live: count('live'), unknown: count('unknown'), dead: count('dead'), skipped: count('skipped') },
    workers: r.workers.workers,
    scrapes: r.scrapes,
    files: r.files,
  })}\n`;
}

/** Characters a person cannot see or that reorder text: shown as escapes, never as themselves. */
// eslint-disable-next-line no-control-regex -- these are the characters to make visible
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]/;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** Text for HTML: `&<>"'` as entities; control, bidi and zero-width characters as a visible `\n` or `\u202e`. */
export function escapeText(s: string): string {
  let out = '';
  for (const c of s) {
    if (c === '&' || c === '<' || c === '>' || c === '"' || c === "'") out += `&#${c.charCodeAt(0)};`;
    else if (INVISIBLE.test(c)) out += `<span class="ctl">${NAMED[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`}</span>`;
    else out += c;
  }
  return out;
}

type Cell = string | number | null | undefined;
const cell = (v: Cell): string => `<td>${v === null || v === undefined ? '' : escapeText(String(v))}</td>`;
const numCell = (v: number): string => `<td class="n">${v}</td>`;
const nameCell = (v: string): string => `<td><code>${escapeText(v)}</code></td>`;
const iso = (s: number | null | undefined): string => (s === null || s === undefined || !Number.isFinite(s) ? '' : new Date(s * 1000).toISOString().replace(/\.\d+Z$/, 'Z'));
const age = (now: number, s: number | null | undefined): string => (s === null || s === undefined || !Number.isFinite(s) ? '' : `${Math.max(0, now - s).toFixed(1)} s`);

function table(id: string, headers: readonly string[], rows: readonly string[], total: number, what: string): string {
  const head = `<tr>${headers.map((h) => `<th>${h}</th>`).join('')}</tr>`;
  const hidden = total - rows.length;
  const more = hidden > 0 ? `\n<p class="more">${hidden} more ${what} not shown (the first ${rows.length} of ${total}); <a href="/status?format=json">the JSON</a> lists all.</p>` : '';
  return `<table id="${id}">\n${head}\n${rows.join('\n')}\n</table>${more}`;
}

const WORKER_ORDER: Record<WorkerStatus['state'], number> = { live: 0, unknown: 1, dead: 2 };

function workersSection(r: StatusReport): string {
  const all = r.workers.workers;
  if (all.length === 0) return '<h2>Workers (0)</h2>\n<p>No worker has written a file here yet.</p>';
  const shown = [...all].sort((a, b) => WORKER_ORDER[a.state] - WORKER_ORDER[b.state]).slice(0, STATUS_ROWS_PER_TABLE);
  const rows = shown.map(
    (w) =>
      `<tr class="${w.state}">${nameCell(w.id)}${cell(w.state)}${numCell(w.files)}${cell(iso(w.lastHeartbeat))}${cell(w.heartbeatAgeSeconds === null ? '' : `${w.heartbeatAgeSeconds.toFixed(1)} s`)}${cell(w.lastHeartbeat === null ? 'no heartbeat' : w.fresh ? 'yes' : 'no')}</tr>`,
  );
  const fresh = `${r.workers.fresh} with a heartbeat newer than ${r.workers.maxHeartbeatAgeSeconds} s${r.workers.minWorkers > 0 ? `, ${r.workers.minWorkers} required for readiness` : ''}`;
  return `<h2>Workers (${all.length})</h2>\n<p>${escapeText(fresh)}.</p>\n${table('workers', ['process id', 'state', 'files', 'last heartbeat', 'heartbeat age', 'fresh'], rows, all.length, 'workers')}`;
}

function scrapesSection(r: StatusReport): string {
  if (r.scrapes.length === 0) return '<h2>Recent scrapes</h2>\n<p>No scrape yet.</p>';
  const rows = r.scrapes.map((s) => `<tr>${cell(iso(s.at))}${numCell(Number(s.durationMs.toFixed(2)))}${numCell(s.files)}${numCell(s.families)}</tr>`);
  return `<h2>Recent scrapes</h2>\n${table('scrapes', ['started', 'duration (ms)', 'files read', 'families'], rows, rows.length, 'scrapes')}`;
}

function filesSection(r: StatusReport, state: (typeof STATES)[number], files: readonly FileStatus[]): string {
  const shown = files.slice(0, STATUS_ROWS_PER_TABLE);
  const title = `<h2>Files ${state} (${files.length})</h2>`;
  if (state === 'skipped') {
    const rows = shown.map((f) => `<tr class="skipped">${nameCell(f.fileName)}${cell(f.skipReason)}${cell(f.error)}${numCell(f.bytes)}</tr>`);
    return `${title}\n<p>Not served; the other files are.</p>\n${table('files-skipped', ['file', 'reason', 'problem', 'bytes'], rows, files.length, 'skipped files')}`;
  }
  const rows = shown.map(
    (f) =>
      `<tr class="${state}">${nameCell(f.fileName)}${cell(f.processId)}${cell(f.dialect)}${cell(f.type)}${cell(f.mode)}${numCell(f.entries)}${numCell(f.bytes)}${numCell(f.mappedBytes)}${cell(age(r.now, f.heartbeat))}</tr>`,
  );
  return `${title}\n${table(`files-${state}`, ['file', 'process id', 'dialect', 'type', 'mode', 'entries', 'bytes', 'mapped', 'heartbeat age'], rows, files.length, `${state} files`)}`;
}

const STYLE =
  'body{font-family:system-ui,sans-serif;margin:1.5rem;line-height:1.4;color:#222}h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.5rem}' +
  'table{border-collapse:collapse;margin:.3rem 0}td,th{border:1px solid #ccc;padding:.15rem .5rem;text-align:left;vertical-align:top}th{background:#f3f3f3}' +
  'td.n{text-align:right;font-variant-numeric:tabular-nums}tr.dead{color:#777}tr.skipped{background:#fff0f0}#workers tr.live td:nth-child(2){color:#060}' +
  'code{background:#f3f3f3;padding:0 .2rem;white-space:pre}.ctl{color:#a00;font-weight:bold}.bad{color:#a00}.ok{color:#060}p.more{color:#555;font-style:italic}';

export function statusHtml(r: StatusReport): string {
  const byState = new Map<string, FileStatus[]>(STATES.map((s) => [s, []]));
  for (const f of r.files) byState.get(f.state)?.push(f);
  const counts = STATES.map((s) => `<tr>${cell(s)}${numCell(byState.get(s)!.length)}</tr>`).join('\n');
  const ready = r.ready ? '<strong class="ok">ready</strong>' : `<strong class="bad">not ready</strong>: ${escapeText(r.reason ?? '')}`;
  const sections = STATES.filter((s) => byState.get(s)!.length > 0).map((s) => filesSection(r, s, byState.get(s)!));
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>multiproc-exporter status</title>
<style>${STYLE}</style>
</head>
<body>
<h1>multiproc-exporter status</h1>
<p>Directory <code>${escapeText(r.dir)}</code>: ${ready}. Liveness detection: <code>${escapeText(r.liveness)}</code>. As of ${iso(r.now)}. Also as <a href="/status?format=json">JSON</a>.</p>
${workersSection(r)}
${scrapesSection(r)}
<h2>Files (${r.files.length})</h2>
<table id="file-counts">
<tr><th>state</th><th>files</th></tr>
${counts}
</table>
${sections.join('\n')}
</body>
</html>
`;
}
