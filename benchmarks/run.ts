/**
 * `npm run bench [-- scenario …]`: runs the scenarios (all by default) and rewrites their sections
 * of benchmarks/RESULTS.md, keeping the sections of scenarios not run; sections are kept in the
 * order of SCENARIOS. Temp dirs and child processes are cleaned up however the run ends.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { churnScenario } from './churn.js';
import { clusterScenario } from './cluster.js';
import { machine } from './harness/report.js';
import { cleanup } from './harness/resources.js';
import { memoryScenario } from './memory.js';
import { pushScenario } from './push.js';
import { scrapeScenario } from './scrape.js';
import { workerProcessScenario } from './worker-process.js';
import { writerScenario } from './writer.js';

const SCENARIOS: Record<string, { title: string; run: () => Promise<string> }> = {
  scrape: { title: 'Scrape cost on real files', run: scrapeScenario },
  churn: { title: 'Churn: files of exited processes', run: churnScenario },
  writer: { title: 'Writer hot path', run: writerScenario },
  cluster: { title: 'In-process vs sidecar: a Node cluster under load', run: clusterScenario },
  memory: { title: 'Memory', run: memoryScenario },
  'worker-process': { title: 'Worker process metrics: /proc per worker per scrape', run: workerProcessScenario },
  push: { title: 'Push: remote write and OTLP beside the scrape', run: pushScenario },
};

const RESULTS = join(import.meta.dirname, 'RESULTS.md');
const HEADER = [
  '# Benchmark results',
  '',
  'Each section is one scenario of `benchmarks/`, with the command that produced it. Ratios compare',
  'alternatives measured side by side in the same run; never compare numbers across sections or machines.',
].join('\n');

function sectionOf(doc: string, name: string): string | null {
  const m = new RegExp(`<!-- scenario:${name} -->[\\s\\S]*?<!-- /scenario:${name} -->`).exec(doc);
  return m === null ? null : m[0];
}

async function main(): Promise<void> {
  const asked = process.argv.slice(2);
  for (const a of asked) if (!(a in SCENARIOS)) throw new Error(`unknown scenario ${a}; known: ${Object.keys(SCENARIOS).join(', ')}`);
  const names = asked.length > 0 ? asked : Object.keys(SCENARIOS);
  const old = existsSync(RESULTS) ? readFileSync(RESULTS, 'utf8') : '';
  const sections = new Map<string, string>();
  for (const name of Object.keys(SCENARIOS)) {
    const kept = sectionOf(old, name);
    if (kept !== null) sections.set(name, kept);
  }
  const started = Date.now();
  for (const name of names) {
    const s = SCENARIOS[name]!;
    process.stderr.write(`bench: ${name} …\n`);
    const t0 = Date.now();
    const body = await s.run();
    const seconds = ((Date.now() - t0) / 1000).toFixed(0);
    sections.set(
      name,
      [
        `<!-- scenario:${name} -->`,
        `## ${s.title}`,
        '',
        `Run ${new Date().toISOString().slice(0, 10)} with \`npm run bench${asked.length > 0 ? ` -- ${asked.join(' ')}` : ''}\`` +
          `${asked.length === 1 ? '' : ` (this scenario alone: \`npm run bench -- ${name}\`)`}; it took ${seconds} s, on:`,
        '',
        machine(),
        '',
        body,
        `<!-- /scenario:${name} -->`,
      ].join('\n'),
    );
    process.stderr.write(`${body}\n\n`);
    // Written after every scenario, so a failure later keeps what was measured.
    const ordered = Object.keys(SCENARIOS).flatMap((n) => sections.get(n) ?? []);
    writeFileSync(RESULTS, `${[HEADER, ...ordered].join('\n\n').trimEnd()}\n`);
  }
  process.stderr.write(`bench: done in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    cleanup();
    process.exit(130);
  });
}

main()
  .catch((e: unknown) => {
    process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
  })
  .finally(cleanup);
