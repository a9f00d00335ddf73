/** The small HTML page at `/`: what this is and where the endpoints are. */

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function landingPage(info: { version: string; telemetryPath: string; healthOnThisListener: boolean; dir: string }): string {
  const health = info.healthOnThisListener
    ? '<li><a href="/liveness">/liveness</a>: 200 while the process runs</li>\n<li><a href="/readiness">/readiness</a>: 200 once the metrics directory has been read, else 503 with the reason</li>\n<li><a href="/health/workers">/health/workers</a>: each worker, alive or dead, with its last heartbeat (JSON)</li>'
    : '<li>/liveness, /readiness and /health/workers are served on the health address</li>';
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>multiproc-exporter</title>
<style>body{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;line-height:1.5}code{background:#f3f3f3;padding:0 .2rem}</style>
</head>
<body>
<h1>multiproc-exporter</h1>
<p>Merged metrics of the worker processes writing to <code>${escapeHtml(info.dir)}</code>.</p>
<ul>
<li><a href="${escapeHtml(info.telemetryPath)}">${escapeHtml(info.telemetryPath)}</a>: the metrics (text 0.0.4, or OpenMetrics 1.0.0 when asked by <code>Accept</code>)</li>
<li><a href="/status">/status</a>: workers, scrape timings and every file with its dialect, writer state and skip reason (HTML in a browser or with <code>?format=html</code>, else JSON)</li>
${health}
</ul>
<p>Version ${escapeHtml(info.version)}</p>
</body>
</html>
`;
}
