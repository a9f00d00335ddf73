/**
 * Timed loops for operations measured in this process (writer.ts): medians over interleaved
 * rounds.
 */
import { median } from './report.js';

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
