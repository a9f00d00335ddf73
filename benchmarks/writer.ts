/**
 * Writer hot path: our writer (values in a shared mapping) against prom-client's in-memory
 * metrics and Python's multiprocess-mode values (Debian prometheus_client, timed inside python3).
 *
 *   npm run bench -- writer
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import client from 'prom-client';
import { measure, type Case } from './harness/measure.js';
import { formatNs, table } from './harness/report.js';

const OPS = 2_000_000;
const PY_OPS = 200_000;

const PYTHON = String.raw`
import os, sys, time, tempfile
d = tempfile.mkdtemp()
os.environ['PROMETHEUS_MULTIPROC_DIR'] = d
from prometheus_client import Counter, Histogram
c = Counter('py_requests', 'Requests.', ['method', 'code'])
u = Counter('py_jobs', 'Jobs.')
h = Histogram('py_latency_seconds', 'Latency.', ['method'])
child = c.labels('GET', '200'); hchild = h.labels('GET')
n = int(sys.argv[1])
def bench(f):
    f(n // 10)
    best = []
    for _ in range(5):
        t = time.perf_counter_ns(); f(n); best.append((time.perf_counter_ns() - t) / n)
    best.sort(); return best[2]
def child_inc(k):
    for _ in range(k): child.inc()
def labelled_inc(k):
    for _ in range(k): c.labels(method='GET', code='200').inc()
def unlabelled_inc(k):
    for _ in range(k): u.inc()
def observe(k):
    for _ in range(k): hchild.observe(0.3)
print(bench(child_inc), bench(labelled_inc), bench(unlabelled_inc), bench(observe))
`;

export async function writerScenario(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'mpe-bench-writer-'));
  process.env['PROMETHEUS_MULTIPROC_DIR'] = dir;
  const writer = await import('../dist/writer/index.js');
  writer.configure({ dir, layout: 'python' });

  const ours = new writer.Counter({ name: 'requests_total', help: 'Requests.', labelNames: ['method', 'code'] });
  const oursJobs = new writer.Counter({ name: 'jobs_total', help: 'Jobs.' });
  const oursHist = new writer.Histogram({ name: 'latency_seconds', help: 'Latency.', labelNames: ['method'] });
  const registry = new client.Registry();
  const theirs = new client.Counter({ name: 'requests_total', help: 'Requests.', labelNames: ['method', 'code'], registers: [registry] });
  const theirsJobs = new client.Counter({ name: 'jobs_total', help: 'Jobs.', registers: [registry] });
  const theirsHist = new client.Histogram({ name: 'latency_seconds', help: 'Latency.', labelNames: ['method'], registers: [registry] });

  const oursChild = ours.labels('GET', '200');
  const theirsChild = theirs.labels('GET', '200');
  const oursHistChild = oursHist.labels('GET');
  const theirsHistChild = theirsHist.labels('GET');

  const cases: Case[] = [
    { name: 'ours: child inc', run: (n) => { for (let i = 0; i < n; i++) oursChild.inc(); } },
    { name: 'prom-client: child inc', run: (n) => { for (let i = 0; i < n; i++) theirsChild.inc(); } },
    { name: 'ours: labelled inc', run: (n) => { for (let i = 0; i < n; i++) ours.inc({ method: 'GET', code: '200' }); } },
    { name: 'prom-client: labelled inc', run: (n) => { for (let i = 0; i < n; i++) theirs.inc({ method: 'GET', code: '200' }); } },
    { name: 'ours: unlabelled inc', run: (n) => { for (let i = 0; i < n; i++) oursJobs.inc(); } },
    { name: 'prom-client: unlabelled inc', run: (n) => { for (let i = 0; i < n; i++) theirsJobs.inc(); } },
    { name: 'ours: histogram observe (child)', run: (n) => { for (let i = 0; i < n; i++) oursHistChild.observe(0.3); } },
    { name: 'prom-client: histogram observe (child)', run: (n) => { for (let i = 0; i < n; i++) theirsHistChild.observe(0.3); } },
  ];
  const m = measure(cases, OPS);
  const ns = (name: string): number => m.find((x) => x.name === name)!.nsPerOp;

  let py: number[] | null;
  try {
    py = execFileSync('/usr/bin/python3', ['-c', PYTHON, String(PY_OPS)], { encoding: 'utf8', timeout: 300_000 }).trim().split(' ').map(Number);
  } catch {
    py = null;
  }
  rmSync(dir, { recursive: true, force: true });

  const rows: string[][] = [['operation', 'ours ns/op', 'prom-client ns/op', 'Python multiprocess ns/op', 'ours vs prom-client', 'ours vs Python']];
  const ops: [string, string, string, number][] = [
    ['child handle `inc()`', 'ours: child inc', 'prom-client: child inc', 0],
    ['labelled `inc({method, code})`', 'ours: labelled inc', 'prom-client: labelled inc', 1],
    ['unlabelled `inc()`', 'ours: unlabelled inc', 'prom-client: unlabelled inc', 2],
    ['histogram `observe()` (child)', 'ours: histogram observe (child)', 'prom-client: histogram observe (child)', 3],
  ];
  for (const [label, o, t, pi] of ops) {
    const p = py?.[pi];
    rows.push([
      label,
      formatNs(ns(o)),
      formatNs(ns(t)),
      p === undefined ? 'n/a' : formatNs(p),
      `${(ns(t) / ns(o)).toFixed(2)}× ${ns(o) <= ns(t) ? 'faster' : 'slower'}`,
      p === undefined ? 'n/a' : `${(p / ns(o)).toFixed(0)}× faster`,
    ]);
  }
  const childOk = ns('ours: child inc') <= ns('prom-client: child inc');
  return [
    `Median of 7 interleaved rounds of ${OPS.toLocaleString('en')} operations (JS); Python: median of 5 rounds of ${PY_OPS.toLocaleString('en')} in a python3 subprocess.`,
    'Ratios are prom-client (or Python) time divided by ours: above 1 means ours is faster.',
    '',
    table(rows),
    '',
    `Target: child-handle \`inc\` no slower than prom-client's labelled child \`inc\`: **${childOk ? 'met' : 'missed'}**` +
      ` (${formatNs(ns('ours: child inc'))} vs ${formatNs(ns('prom-client: child inc'))} ns/op).`,
    'Ours writes to the shared memory-mapped file the daemon reads (visible to it at once); prom-client keeps values in',
    "the process heap (a scrape must ask every worker); Python's multiprocess mode writes its mmap file through `struct.pack`.",
  ].join('\n');
}
