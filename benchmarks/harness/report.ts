/**
 * What a run reports: the machine it ran on, statistics, number formats, markdown tables, CPU
 * profile summaries and SVG charts (written beside RESULTS.md).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const python = tryRun('/usr/bin/python3', ['-c', 'import sys, prometheus_client as p; print(sys.version.split()[0], getattr(p, "__version__", "0.16.0"))']);
  const ruby = tryRun('/usr/bin/ruby', ['-e', 'print RUBY_VERSION']);
  const root = join(import.meta.dirname, '..', '..');
  const commit = tryRun('git', ['-C', root, 'rev-parse', '--short', 'HEAD']);
  // The run rewrites RESULTS.md and the charts: only other changes make the tree differ from the commit.
  const dirty = tryRun('git', ['-C', root, 'status', '--porcelain', '--', '.', ':!benchmarks/RESULTS.md', ':!benchmarks/*.svg']) !== '';
  return [
    `- Code: commit ${commit || 'unknown'}${dirty ? ' with uncommitted changes' : ''}`,
    `- CPU: ${cpus().length} × ${cpu}; memory ${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
    `- Node.js ${process.version}; prom-client ${packageVersion('prom-client')}; autocannon ${packageVersion('autocannon')}`,
    `- Python ${python === '' ? 'not installed' : python.replace(' ', ', prometheus_client ')} (Debian python3-prometheus-client)`,
    `- Ruby ${ruby || 'not installed'} (Debian ruby-prometheus-client-mmap 0.16.2)`,
  ].join('\n');
}

function tryRun(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: 20_000 }).trim();
  } catch {
    return '';
  }
}

function packageVersion(name: string): string {
  return tryRun(process.execPath, ['-p', `require('${name}/package.json').version`]);
}

export function formatNs(ns: number): string {
  return ns >= 100 ? ns.toFixed(0) : ns >= 10 ? ns.toFixed(1) : ns.toFixed(2);
}

/** A markdown table: rows of cells, first row the header. */
export function table(rows: readonly (readonly string[])[]): string {
  const [head, ...body] = rows;
  return [`| ${head!.join(' | ')} |`, `| ${head!.map(() => '---').join(' | ')} |`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** Nearest-rank percentile, p in [0, 100]. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export function formatMs(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3);
}

export function formatMiB(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}

/** How ours compares with theirs, from two times: `12× faster` or `7.6× slower`. */
export function speedup(theirs: number, ours: number): string {
  return theirs >= ours ? `${ratio(theirs, ours)} faster` : `${ratio(ours, theirs)} slower`;
}

export function ratio(slow: number, fast: number): string {
  return `${(slow / fast).toFixed(slow / fast >= 10 ? 0 : 1)}×`;
}

export function goal(met: boolean): string {
  return met ? '**met**' : '**missed**';
}

export interface ProfileEntry {
  readonly fn: string;
  readonly where: string;
  /** Time in the function itself. */
  readonly selfMs: number;
  /** Time in the function and everything it called. */
  readonly totalMs: number;
  /** totalMs as a share of the profile. */
  readonly share: number;
}

const PROFILE_NOISE = new Set(['(root)', '(program)', '(idle)', '(anonymous)', 'processTicksAndRejections', 'runMicrotasks', 'listOnTimeout', 'processTimers', 'processImmediate']);

/**
 * The functions of a V8 .cpuprofile that take the most time: `order` 'total' ranks by time
 * including callees (what each phase costs), 'self' by time in the function itself (hot spots).
 */
export function summarizeCpuProfile(file: string, top = 12, order: 'total' | 'self' = 'total'): ProfileEntry[] {
  interface Node {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  const root = join(import.meta.dirname, '..', '..');
  const stats = new Map<string, { fn: string; where: string; selfUs: number; totalUs: number }>();
  const statOf = (n: Node): { fn: string; where: string; selfUs: number; totalUs: number } => {
    const f = n.callFrame;
    const where = f.url === '' ? '' : `${f.url.replace(/^file:\/\//, '').replace(`${root}/`, '')}:${f.lineNumber + 1}`;
    const fn = f.functionName === '' ? '(anonymous)' : f.functionName;
    const key = `${fn}@${where}`;
    let e = stats.get(key);
    if (e === undefined) stats.set(key, (e = { fn, where, selfUs: 0, totalUs: 0 }));
    return e;
  };
  const stackOf = (id: number): Node[] => {
    const stack: Node[] = [];
    for (let cur: number | undefined = id; cur !== undefined; cur = parentOf.get(cur)) stack.push(byId.get(cur)!);
    return stack;
  };
  let total = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const stack = stackOf(id);
    if (stack.some((n) => n.callFrame.url === 'node:inspector')) return; // the profiler stopping itself
    total += us;
    statOf(byId.get(id)!).selfUs += us;
    const counted = new Set<object>();
    for (const n of stack) {
      const e = statOf(n);
      if (!counted.has(e)) {
        counted.add(e);
        e.totalUs += us;
      }
    }
  });
  return [...stats.values()]
    .filter((e) => !PROFILE_NOISE.has(e.fn) && e.totalUs < 0.98 * total) // not the wrappers every sample is under
    .sort((a, b) => (order === 'total' ? b.totalUs - a.totalUs : b.selfUs - a.selfUs))
    .slice(0, top)
    .map((e) => ({ fn: e.fn, where: e.where, selfMs: e.selfUs / 1000, totalMs: e.totalUs / 1000, share: e.totalUs / total }));
}

/** Said under every profile table: why a function can show less self time than expected. */
export const PROFILE_NOTE = 'V8 inlines small functions into their callers, so their time can show as the caller\'s self time (e.g. `merge` inside `collect`).';

/** `per`: divide the times by this (e.g. the number of scrapes profiled) to show them per operation. */
export function profileTable(entries: readonly ProfileEntry[], per = 1, unit = 'ms'): string {
  const suffix = per === 1 ? unit : `${unit} per scrape`;
  return table([
    ['function', 'where', `total ${suffix}`, `self ${suffix}`, 'share of profile'],
    ...entries.map((e) => [`\`${e.fn}\``, e.where === '' ? '(native)' : `\`${e.where}\``, formatMs(e.totalMs / per), formatMs(e.selfMs / per), `${(e.share * 100).toFixed(1)}%`]),
  ]);
}

export interface Bar {
  readonly label: string;
  readonly value: number;
  /** Text after the bar (default: the value). */
  readonly text?: string;
  /** Ours: drawn in the accent colour. */
  readonly ours?: boolean;
}

export interface ChartSection {
  readonly title: string;
  readonly bars: readonly Bar[];
  /** Log scale for values spanning orders of magnitude. */
  readonly log?: boolean;
}

const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A horizontal bar chart, one block per section; plain SVG, no library. */
export function barChart(title: string, sections: readonly ChartSection[]): string {
  const width = 980;
  const labelWidth = 340;
  const barArea = 380;
  const rowHeight = 22;
  let y = 52;
  const parts: string[] = [
    `<text x="12" y="24" font-size="16" font-weight="bold">${escapeXml(title)}</text>`,
    `<rect x="12" y="33" width="12" height="12" fill="#1f77b4"/><text x="29" y="44" font-size="12">ours</text>`,
    `<rect x="72" y="33" width="12" height="12" fill="#9e9e9e"/><text x="89" y="44" font-size="12">alternatives</text>`,
  ];
  for (const section of sections) {
    y += 14;
    parts.push(`<text x="12" y="${y}" font-size="13" font-weight="bold">${escapeXml(section.title)}</text>`);
    y += 8;
    const values = section.bars.map((b) => b.value).filter((v) => v > 0 && Number.isFinite(v));
    const max = Math.max(...values, Number.MIN_VALUE);
    const min = Math.min(...values, max);
    const scale = (v: number): number => {
      if (!(v > 0) || !Number.isFinite(v)) return 0;
      if (section.log !== true) return (v / max) * barArea;
      const lo = Math.log10(min) - 0.3;
      return Math.max(2, ((Math.log10(v) - lo) / (Math.log10(max) - lo)) * barArea);
    };
    for (const bar of section.bars) {
      const w = scale(bar.value);
      parts.push(
        `<text x="${labelWidth - 8}" y="${y + 15}" font-size="12" text-anchor="end">${escapeXml(bar.label)}</text>`,
        `<rect x="${labelWidth}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowHeight - 6}" fill="${bar.ours === true ? '#1f77b4' : '#9e9e9e'}"/>`,
        `<text x="${(labelWidth + w + 6).toFixed(1)}" y="${y + 15}" font-size="12">${escapeXml(bar.text ?? String(bar.value))}</text>`,
      );
      y += rowHeight;
    }
    if (section.log === true) {
      parts.push(`<text x="${labelWidth}" y="${y + 12}" font-size="10" fill="#666">log scale</text>`);
      y += 12;
    }
  }
  const height = y + 16;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

/** Writes benchmarks/<name>.svg; returns the markdown that shows it from RESULTS.md. */
export function writeChart(name: string, svg: string): string {
  writeFileSync(join(import.meta.dirname, '..', `${name}.svg`), svg);
  return `![${name}](${name}.svg)`;
}
