/**
 * `/status`: every file the daemon knows, with its dialect, type, mode, process id, writer
 * state, size and last error, and the workers they add up to. HTML for people, JSON for tools.
 */
import type { FileStatus } from '../reader/directory.js';
import type { WorkerHealth } from './worker-health.js';

export interface StatusReport {
  readonly dir: string;
  readonly liveness: string;
  readonly ready: boolean;
  readonly reason: string | null;
  readonly files: readonly FileStatus[];
  readonly workers: WorkerHealth;
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
    files: r.files,
  })}\n`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const cell = (v: string | number | null | undefined): string => `<td>${v === null || v === undefined ? '' : escapeHtml(String(v))}</td>`;
const time = (s: number | null | undefined): string => (s === null || s === undefined ? '' : new Date(s * 1000).toISOString());

export function statusHtml(r: StatusReport): string {
  const files = r.files
    .map((f) => `<tr class="${f.state}">${[f.fileName, f.dialect, f.type, f.mode, f.processId, f.state, f.entries, f.bytes, f.mappedBytes, time(f.heartbeat), f.error].map(cell).join('')}</tr>`)
    .join('\n');
  const workers = r.workers.workers
    .map((w) => `<tr class="${w.state}">${[w.id, w.state, w.files, time(w.lastHeartbeat), w.heartbeatAgeSeconds === null ? '' : w.heartbeatAgeSeconds.toFixed(1), w.fresh ? 'yes' : 'no'].map(cell).join('')}</tr>`)
    .join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>multiproc-exporter status</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;line-height:1.4}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.15rem .5rem;text-align:left}tr.dead{color:#888}tr.skipped{background:#fee}code{background:#f3f3f3;padding:0 .2rem}</style>
</head>
<body>
<h1>multiproc-exporter status</h1>
<p>Directory <code>${escapeHtml(r.dir)}</code>: ${r.ready ? 'ready' : `not ready (${escapeHtml(r.reason ?? '')})`}. Liveness detection: <code>${escapeHtml(r.liveness)}</code>. JSON: <code>Accept: application/json</code>.</p>
<h2>Workers (${r.workers.workers.length})</h2>
<table><tr><th>process id</th><th>state</th><th>files</th><th>last heartbeat</th><th>age (s)</th><th>fresh</th></tr>
${workers}
</table>
<h2>Files (${r.files.length})</h2>
<table><tr><th>file</th><th>dialect</th><th>type</th><th>mode</th><th>process id</th><th>writer</th><th>entries</th><th>bytes</th><th>mapped</th><th>heartbeat</th><th>last error</th></tr>
${files}
</table>
</body>
</html>
`;
}
