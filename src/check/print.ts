/**
 * The `check` report for a person: short sections of aligned columns, the verdict last. The
 * machine-readable form is the report itself as JSON (docs/check.md).
 */
import { type CheckReport,STATES } from './report.js';

/** Rows of cells, each column padded to its widest cell; numbers right-aligned. */
function table(rows: readonly (readonly (string | number)[])[], indent = '  '): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, String(c).length)));
  return rows.map((r) => indent + r.map((c, i) => (typeof c === 'number' ? String(c).padStart(widths[i]!) : i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

const MAX_LISTED = 10;

export function formatReport(r: CheckReport): string {
  const out: string[] = [`multiproc-exporter check ${r.dir}`];
  if (r.error !== undefined) {
    out.push(`  cannot read: ${r.error}`, `verdict: unreadable (exit ${r.exitCode})`);
    return out.join('\n') + '\n';
  }
  const files = r.files!;
  out.push('', 'files by dialect and state');
  const dialects = Object.keys(files.byDialect).sort();
  out.push(...table([['dialect', ...STATES, 'total'], ...dialects.map((d) => [d, ...STATES.map((s) => files.byDialect[d]![s]), files.byDialect[d]!.total]), ['all', ...STATES.map((s) => files.byState[s]), files.byState.total]]));
  const size = r.size!;
  const w = r.writers!;
  const fs = r.filesystem;
  out.push(
    '',
    ...table([
      ['size on disk', `${size.bytes} bytes (${size.allocatedBytes} allocated)`],
      ['filesystem', fs === null || fs === undefined ? 'unknown' : fs.tmpfs ? `${fs.name}` : `${fs.name} (not tmpfs)`],
      ['writers', w.visible === null ? 'no file served' : `${w.visible ? 'visible' : 'not visible'}: ${w.processes} process(es) found for ${w.filesWithProcess} of ${w.filesServed} served file(s)`],
      ['liveness', `${r.liveness}${r.native === true ? '' : ' (no native addon)'}`],
    ], ''),
  );
  const fam = r.families!;
  out.push('', `families: ${fam.total}, series: ${fam.series}`);
  if (fam.top.length > 0) out.push(...table([['family', 'type', 'series'], ...fam.top.map((f) => [f.name, f.type, f.series])]));
  if (files.skipped.length > 0) {
    out.push('', `skipped files: ${files.skipped.length}`);
    out.push(...table(Object.entries(files.skippedByReason).map(([reason, n]) => [reason, n])));
    out.push(...files.skipped.slice(0, MAX_LISTED).map((s) => `  [${s.reason}] ${s.message}`));
    if (files.skipped.length > MAX_LISTED) out.push(`  … ${files.skipped.length - MAX_LISTED} more (--json lists them all)`);
  }
  if (files.partlySkipped.length > 0) {
    out.push('', `files served in part: ${files.partlySkipped.length}`);
    out.push(...files.partlySkipped.slice(0, MAX_LISTED).map((p) => `  ${p.file}: ${p.message}`));
  }
  const gate = r.gate!;
  if (gate.rejections > 0) {
    out.push('', `left out by the exposition gate: ${gate.rejections}`);
    out.push(...table(Object.entries(gate.byReason).map(([reason, n]) => [reason, n])));
    out.push(...gate.rejected.slice(0, MAX_LISTED).map((g) => `  [${g.reason}] ${g.message}`));
    if (gate.rejections > MAX_LISTED) out.push(`  … ${gate.rejections - MAX_LISTED} more (--json lists them all)`);
  }
  if (r.problems.length > 0) out.push('', 'problems', ...r.problems.map((p) => `  - ${p}`));
  if (r.warnings.length > 0) out.push('', 'warnings', ...r.warnings.map((p) => `  - ${p}`));
  out.push('', `verdict: ${r.verdict} (exit ${r.exitCode})`);
  return out.join('\n') + '\n';
}
