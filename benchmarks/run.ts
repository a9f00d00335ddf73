/**
 * `npm run bench [-- scenario …]`: runs the scenarios (all by default) and rewrites their sections
 * of benchmarks/RESULTS.md, keeping the sections of scenarios not run.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { machine } from './harness.js';
import { writerScenario } from './writer.js';

const SCENARIOS: Record<string, { title: string; run: () => Promise<string> }> = {
  writer: { title: 'Writer hot path', run: writerScenario },
};

const RESULTS = join(import.meta.dirname, 'RESULTS.md');

async function main(): Promise<void> {
  const asked = process.argv.slice(2);
  for (const a of asked) if (!(a in SCENARIOS)) throw new Error(`unknown scenario ${a}; known: ${Object.keys(SCENARIOS).join(', ')}`);
  const names = asked.length > 0 ? asked : Object.keys(SCENARIOS);
  let doc = existsSync(RESULTS) ? readFileSync(RESULTS, 'utf8') : '';
  for (const name of names) {
    const s = SCENARIOS[name]!;
    process.stderr.write(`bench: ${name} …\n`);
    const body = await s.run();
    const section = [
      `<!-- scenario:${name} -->`,
      `## ${s.title}`,
      '',
      `Run ${new Date().toISOString().slice(0, 10)} with \`npm run bench -- ${name}\` on:`,
      '',
      machine(),
      '',
      body,
      `<!-- /scenario:${name} -->`,
    ].join('\n');
    const re = new RegExp(`<!-- scenario:${name} -->[\\s\\S]*?<!-- /scenario:${name} -->`);
    doc = re.test(doc) ? doc.replace(re, section) : `${doc.trimEnd()}\n\n${section}\n`;
    process.stderr.write(`${body}\n\n`);
  }
  if (!doc.startsWith('# ')) {
    doc = `# Benchmark results\n\nEach section is one scenario of \`benchmarks/\`, with the command that produced it. Ratios compare\nalternatives measured side by side in the same run; never compare numbers across sections or machines.\n${doc}`;
  }
  writeFileSync(RESULTS, `${doc.trimEnd()}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
