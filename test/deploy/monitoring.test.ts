/**
 * The Grafana dashboard and the Prometheus alerts in deploy/: promtool checks and unit-tests the
 * rules, every query of both parses as PromQL, and every metric and label they name is one a
 * real daemon serves — taken from a scrape of a daemon with compaction, a heartbeating writer, a
 * dead writer's file and a skipped file, so that each self metric has samples.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { parseExposition } from '../helpers/parse-exposition.js';
import { peerAvailableUnderCi, peers } from '../helpers/peers.js';
import { labelValuesQuery, promqlNames } from '../helpers/promql-names.js';
import { get, selfValue, until } from '../helpers/scrape.js';
import { holdProcess, runWriter, WRITER_WORKER, writerEnv, type HeldWriter } from '../helpers/writer-process.js';

const DEPLOY = join(import.meta.dirname, '..', '..', 'deploy');
const ALERTS = join(DEPLOY, 'prometheus', 'alerts.yml');
const ALERTS_TESTS = join(DEPLOY, 'prometheus', 'alerts.test.yml');
const DASHBOARD = join(DEPLOY, 'grafana', 'multiproc-exporter.json');
const tmp = mkdtempSync(join(tmpdir(), 'mpe-deploy-monitoring-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const { promtool } = peers();

interface Rule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
const rules = (parse(readFileSync(ALERTS, 'utf8')) as { groups: { name: string; rules: Rule[] }[] }).groups.flatMap((g) => g.rules);

interface Target {
  datasource?: { type: string; uid: string };
  refId: string;
  expr: string;
  legendFormat?: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: Target[];
  gridPos: { h: number; w: number; x: number; y: number };
}
interface Variable {
  name: string;
  type: string;
  query: string | { query: string };
  datasource?: { type: string; uid: string };
}
const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { uid: string; title: string; panels: Panel[]; templating: { list: Variable[] } };
const variables = dashboard.templating.list;
const variableQueries = variables.filter((v) => v.type === 'query').map((v) => (typeof v.query === 'string' ? v.query : v.query.query));

/** Every PromQL expression of the dashboard (targets and the selectors of label_values variables) and the alerts. */
function expressions(): { where: string; expr: string; label?: string }[] {
  const out: { where: string; expr: string; label?: string }[] = [];
  for (const p of dashboard.panels) for (const t of p.targets ?? []) out.push({ where: `panel ${p.id} "${p.title}" ${t.refId}`, expr: t.expr });
  for (const q of variableQueries) {
    const lv = labelValuesQuery(q);
    if (lv === null) throw new Error(`not a label_values() query: ${q}`);
    out.push({ where: `variable query ${q}`, expr: lv.expr, label: lv.label });
  }
  for (const r of rules) out.push({ where: `alert ${r.alert}`, expr: r.expr });
  return out;
}

/** Grafana's variables replaced by values of their kind, so promtool can parse the query. */
function withoutVariables(expr: string): string {
  return expr.replace(/\$__rate_interval|\$__interval/g, '5m').replace(/\$(job|instance)\b/g, '.+');
}

function promtoolRun(args: string[]): { status: number | null; out: string } {
  const r = spawnSync(promtool.command, args, { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('promqlNames (the test helper)', () => {
  it('names the metrics and labels of an expression, not its functions, keywords, durations or variables', () => {
    expect(
      promqlNames('histogram_quantile(0.99, sum by (job, le) (rate(a_bucket{job=~"$job",state="x"}[$__rate_interval]))) > 1e3 and b offset 1h / on (pid) group_left c'),
    ).toEqual({ metrics: ['a_bucket', 'b', 'c'], labels: ['job', 'le', 'pid', 'state'] });
    expect(promqlNames('time() - max without (x) (m:rule{a!="}"}) > bool 30')).toEqual({ metrics: ['m:rule'], labels: ['a', 'x'] });
  });
});

describe('deploy/prometheus/alerts.yml', () => {
  peerAvailableUnderCi(promtool);

  it('has the five alerts', () => {
    expect(rules.map((r) => [r.alert, r.labels['severity']])).toEqual([
      ['MultiprocExporterDirectoryUnreadable', 'critical'],
      ['MultiprocExporterScrapeSlow', 'warning'],
      ['MultiprocExporterFilesSkipped', 'warning'],
      ['MultiprocExporterWorkersStale', 'warning'],
      ['MultiprocExporterSeriesExploding', 'warning'],
    ]);
    for (const r of rules) expect(Object.keys(r.annotations).sort()).toEqual(['description', 'summary']);
  });

  it.skipIf(!promtool.available)('passes promtool check rules', () => {
    const r = promtoolRun(['check', 'rules', ALERTS]);
    expect(r.out).toContain('SUCCESS: 5 rules found');
    expect(r.status).toBe(0);
  });

  it.skipIf(!promtool.available)('passes its promtool unit tests (alerts.test.yml)', () => {
    const r = promtoolRun(['test', 'rules', ALERTS_TESTS]);
    expect(r.out).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  it('the unit tests show every alert both firing and not firing', () => {
    const tests = parse(readFileSync(ALERTS_TESTS, 'utf8')) as { rule_files: string[]; tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[] };
    expect(tests.rule_files).toEqual(['alerts.yml']);
    const cases = tests.tests.flatMap((t) => t.alert_rule_test);
    for (const r of rules) {
      const mine = cases.filter((c) => c.alertname === r.alert);
      expect(mine.some((c) => c.exp_alerts.length === 0), r.alert).toBe(true);
      expect(mine.some((c) => c.exp_alerts.length > 0), r.alert).toBe(true);
    }
  });
});

describe('deploy/grafana/multiproc-exporter.json', () => {
  it('has the panels an operator looks for', () => {
    expect(dashboard.uid).toBe('multiproc-exporter');
    expect(dashboard.panels.map((p) => p.title)).toEqual([
      'Directory readable',
      'Merged series',
      'Scrape errors and rejections',
      'Scrape duration',
      'Files by writer state',
      'Files by dialect and type',
      'Skipped files by reason',
      'Series and entries',
      "Workers live and dead writers' files",
      'Heartbeat age',
      'Compactions',
      'Exporter memory',
      'Exporter CPU',
    ]);
  });

  it('every panel has a unique id, the Prometheus data source variable, targets with unique refIds, and a place on the grid', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const ds = { type: 'prometheus', uid: '${datasource}' };
    expect(variables.find((v) => v.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    const cells = new Set<string>();
    for (const p of dashboard.panels) {
      expect(p.datasource, p.title).toEqual(ds);
      expect(p.targets?.length ?? 0, p.title).toBeGreaterThan(0);
      const refIds = p.targets!.map((t) => t.refId);
      expect(new Set(refIds).size, p.title).toBe(refIds.length);
      for (const t of p.targets!) {
        expect(t.datasource, p.title).toEqual(ds);
        expect(t.expr.trim(), p.title).not.toBe('');
      }
      const { h, w, x, y } = p.gridPos;
      expect(x >= 0 && w > 0 && x + w <= 24 && y >= 0 && h > 0, p.title).toBe(true);
      // No two panels overlap.
      for (let i = x; i < x + w; i++) {
        for (let j = y; j < y + h; j++) {
          expect(cells.has(`${i},${j}`), `${p.title} overlaps at ${i},${j}`).toBe(false);
          cells.add(`${i},${j}`);
        }
      }
    }
    for (const v of variables.filter((x) => x.type === 'query')) expect(v.datasource, v.name).toEqual(ds);
  });

  it('uses only the variables it defines (and Grafana built-ins)', () => {
    const defined = new Set(variables.map((v) => v.name));
    const used = new Set(expressions().flatMap((e) => [...e.expr.matchAll(/\$\{?(\w+)\}?/g)].map((m) => m[1]!)));
    for (const name of used) expect(defined.has(name) || name === '__rate_interval', name).toBe(true);
    expect([...used].sort()).toEqual(['__rate_interval', 'instance', 'job']);
  });

  it.skipIf(!promtool.available)('every query parses as PromQL (promtool, the variables substituted)', () => {
    const queries = expressions().filter((e) => !e.where.startsWith('alert'));
    const file = join(tmp, 'dashboard-queries.yml');
    writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules: queries.map((q, i) => ({ record: `dashboard:query_${i}`, expr: withoutVariables(q.expr) })) }] }));
    const r = promtoolRun(['check', 'rules', file]);
    expect(r.out).toContain(`SUCCESS: ${queries.length} rules found`);
    expect(r.status).toBe(0);
  });
});

describe('the dashboard and the alerts name only what a real daemon serves', () => {
  let daemon: Daemon;
  let writer: HeldWriter;
  /** Sample name → the label names it carries, from one scrape. */
  const served = new Map<string, Set<string>>();

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmp, 'served-'));
    writer = holdProcess(process.execPath, [WRITER_WORKER, 'hold', '0'], { ...writerEnv(dir, 'python', 'w1'), WRITER_HEARTBEAT: '1' });
    await writer.ready;
    runWriter(dir, 'python', '4242', 'py:counter_basic', [0]); // a writer that exited: its file's lock is free
    writeFileSync(join(dir, 'counter_999.db'), Buffer.alloc(100, 0xff)); // skipped: not a metrics file
    daemon = await startDaemon(['--dir', dir, '--compaction', '--compaction.interval', '1s']);
    const body = await until('compaction ran, heartbeat and skipped file served', async () => {
      const b = (await get(`${daemon.url}/metrics`)).body;
      const ready =
        (selfValue(b, 'compactions_total') ?? 0) >= 1 &&
        b.includes('multiproc_exporter_worker_heartbeat_timestamp_seconds{') &&
        b.includes('multiproc_exporter_files_skipped{') &&
        b.includes('multiproc_exporter_compacted_files_total{');
      return ready ? b : undefined;
    });
    for (const s of parseExposition(body).samples) {
      const labels = served.get(s.name) ?? new Set<string>();
      for (const [l] of s.labels) labels.add(l);
      served.set(s.name, labels);
    }
  });
  afterAll(async () => {
    writer?.kill();
    await daemon?.stop();
  });

  it('the scrape has samples of every self metric the queries need', () => {
    // Not the list to check against (that is the scrape itself): a guard that the setup above worked.
    expect(served.get('multiproc_exporter_worker_heartbeat_timestamp_seconds')).toEqual(new Set(['pid']));
    expect(served.get('multiproc_exporter_files_skipped')).toEqual(new Set(['reason']));
    expect(served.get('multiproc_exporter_compacted_files_total')).toEqual(new Set(['how']));
    expect(served.get('multiproc_exporter_writer_files')).toEqual(new Set(['state']));
  });

  it('every metric named in a query is served, and every label it groups or matches by is on one of them', () => {
    // Prometheus adds these to every series it scrapes.
    const targetLabels = new Set(['job', 'instance']);
    const problems: string[] = [];
    const named = new Set<string>();
    for (const e of expressions()) {
      const { metrics, labels } = promqlNames(e.expr);
      if (metrics.length === 0) problems.push(`${e.where}: names no metric`);
      for (const m of metrics) {
        named.add(m);
        if (!served.has(m)) problems.push(`${e.where}: ${m} is not served`);
      }
      for (const l of [...labels, ...(e.label === undefined ? [] : [e.label])]) {
        if (!targetLabels.has(l) && !metrics.some((m) => served.get(m)?.has(l) === true)) problems.push(`${e.where}: no metric of it has the label ${l}`);
      }
    }
    expect(problems).toEqual([]);
    expect([...named].sort()).toEqual([
      'multiproc_exporter_build_info',
      'multiproc_exporter_compacted_files_total',
      'multiproc_exporter_compactions_total',
      'multiproc_exporter_directory_readable',
      'multiproc_exporter_entries',
      'multiproc_exporter_files',
      'multiproc_exporter_files_skipped',
      'multiproc_exporter_mapped_bytes',
      'multiproc_exporter_process_cpu_seconds_total',
      'multiproc_exporter_process_resident_memory_bytes',
      'multiproc_exporter_scrape_duration_seconds_bucket',
      'multiproc_exporter_scrape_duration_seconds_count',
      'multiproc_exporter_scrape_duration_seconds_sum',
      'multiproc_exporter_scrape_errors_total',
      'multiproc_exporter_scrapes_rejected_total',
      'multiproc_exporter_series',
      'multiproc_exporter_skipped_files_total',
      'multiproc_exporter_worker_heartbeat_timestamp_seconds',
      'multiproc_exporter_writer_files',
    ]);
  });
});
