/**
 * Shared benchmark plumbing: timed loops, medians over interleaved rounds, machine facts, and
 * the RESULTS.md section of a scenario. Scenarios live one per file beside this one.
 */
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';

export interface Case {
  readonly name: string;
  /** Run the operation `n` times; return nothing (the harness times it). */
  readonly run: (n: number) => void;
}

export interface Measured {
  readonly name: string;
  /** Median nanoseconds per operation over the rounds. */
  readonly nsPerOp: number;
  readonly rounds: readonly number[];
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Time every case for `rounds` rounds, interleaved (round 1 runs all cases, then round 2 …), so
 * a noisy moment on the machine hits all cases alike. Each round runs `ops` operations after a
 * warm-up of `ops / 10`.
 */
export function measure(cases: readonly Case[], ops: number, rounds = 7): Measured[] {
  for (const c of cases) c.run(Math.max(1, Math.floor(ops / 10)));
  const times = cases.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    cases.forEach((c, i) => {
      const t0 = process.hrtime.bigint();
      c.run(ops);
      times[i]!.push(Number(process.hrtime.bigint() - t0) / ops);
    });
  }
  return cases.map((c, i) => ({ name: c.name, nsPerOp: median(times[i]!), rounds: times[i]! }));
}

export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const python = tryRun('/usr/bin/python3', ['-c', 'import sys, prometheus_client as p; print(sys.version.split()[0], getattr(p, "__version__", "0.16.0"))']);
  const ruby = tryRun('/usr/bin/ruby', ['-e', 'print RUBY_VERSION']);
  return [
    `- CPU: ${cpus().length} × ${cpu}; memory ${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
    `- Node.js ${process.version}; prom-client ${packageVersion('prom-client')}`,
    `- Python ${python || 'not installed'} (Debian python3-prometheus-client)`,
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
