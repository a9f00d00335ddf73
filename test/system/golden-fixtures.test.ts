/**
 * Golden fixtures written by the real libraries (test/fixtures/INDEX.md): our merge of each
 * directory must give exactly the samples, types and help texts of the library's own collector,
 * except for the library bugs listed in DEVIATIONS, where our (correct) output is asserted.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Collector } from '../../src/collector.js';
import { renderOpenMetrics, renderText } from '../../src/exposition/index.js';
import { parseExposition, sampleLines, type ParsedSample } from '../helpers/parse-exposition.js';

const ROOT = join(import.meta.dirname, '..', 'fixtures');
const CASES = readdirSync(ROOT)
  .filter((c) => existsSync(join(ROOT, c, 'expected.txt')))
  .sort();

interface Deviation {
  why: string;
  /** Lines (sampleLine format) the library prints that we do not. */
  library: string[];
  /** Lines we print instead. */
  ours: string[];
}

const pidCollision = (p1: string, p2: string): Deviation => ({
  why: 'user label "pid": Python prints duplicate all-mode lines and merges max across user pids; we keep it as exported_pid',
  library: [
    `pid_all{pid="${p1}",x="y"} 1`,
    `pid_all{pid="${p1}",x="y"} 2`,
    `pid_all{pid="${p2}",x="y"} 11`,
    `pid_all{pid="${p2}",x="y"} 12`,
    'pid_max 12',
  ],
  ours: [
    `pid_all{exported_pid="u1",pid="${p1}",x="y"} 1`,
    `pid_all{exported_pid="u1",pid="${p2}",x="y"} 11`,
    `pid_all{exported_pid="u2",pid="${p1}",x="y"} 2`,
    `pid_all{exported_pid="u2",pid="${p2}",x="y"} 12`,
    'pid_max{pid="u1"} 11',
    'pid_max{pid="u2"} 12',
  ],
});

const customPid: Deviation = {
  why: 'Python takes the third "_"-part of gauge_all_worker_7.db as the pid ("wor"); we keep the whole id',
  library: ['custom_pid_gauge{pid="wor"} 2'],
  ours: ['custom_pid_gauge{pid="worker_7"} 2'],
};

const DEVIATIONS: Record<string, Deviation[]> = {
  custom_pid: [customPid],
  'v025-custom_pid': [customPid],
  pid_label_collision: [pidCollision('5485', '5486')],
  'v025-pid_label_collision': [pidCollision('5604', '5605')],
  'v025-gauge_modes': [
    {
      why: 'Python drops a mostrecent series whose timestamps are all 0 (never set, client_python PR #1193); we report it',
      library: [],
      ours: ['g_livemostrecent{k="never_set"} 0', 'g_mostrecent{k="never_set"} 0'],
    },
  ],
  'rb-special_values': [
    {
      why: 'the C reader keeps a NaN in max only when it comes second in file order; we ignore NaN unless every value is NaN',
      library: ['rb_special_max{case="nan_second"} NaN'],
      ours: ['rb_special_max{case="nan_second"} 1'],
    },
  ],
  'rb-tricky_labels': [
    {
      why: 'Ruby prints label values as raw JSON tokens, leaking JSON escapes (\\t, \\u0001) into the exposition; we decode them',
      library: [
        'rb_tricky_gauge{pid="6500",v="ctrl\\\\u0001char"} 7',
        'rb_tricky_gauge{pid="6500",v="tab\\\\there"} 6',
        'rb_tricky_gauge{pid="6501",v="ctrl\\\\u0001char"} 7.25',
        'rb_tricky_gauge{pid="6501",v="tab\\\\there"} 6.25',
        'rb_tricky_total{alpha="a0",zeta="tab\\\\there"} 3',
        'rb_tricky_total{alpha="a1",zeta="ctrl\\\\u0001char"} 3',
      ],
      ours: [
        'rb_tricky_gauge{pid="6500",v="ctrl\\u0001char"} 7',
        'rb_tricky_gauge{pid="6500",v="tab\\there"} 6',
        'rb_tricky_gauge{pid="6501",v="ctrl\\u0001char"} 7.25',
        'rb_tricky_gauge{pid="6501",v="tab\\there"} 6.25',
        'rb_tricky_total{alpha="a0",zeta="tab\\there"} 3',
        'rb_tricky_total{alpha="a1",zeta="ctrl\\u0001char"} 3',
      ],
    },
    {
      why: 'Ruby nil and "" are both printed as v="", giving duplicate lines; they are one series (the last entry wins, as for any duplicate all-mode series)',
      library: ['rb_tricky_gauge{pid="6500"} 5', 'rb_tricky_gauge{pid="6501"} 5.25'],
      ours: [],
    },
  ],
};

/** Prometheus treats an empty label value as an absent label; we print it that way. */
function withoutEmptyLabels(samples: readonly ParsedSample[]): ParsedSample[] {
  return samples.map((s) => ({ ...s, labels: s.labels.filter(([, v]) => v !== '') }));
}

function removeOnce(lines: string[], line: string): void {
  const i = lines.indexOf(line);
  expect(i, `deviation line ${line} is not in the library's output`).toBeGreaterThanOrEqual(0);
  lines.splice(i, 1);
}

describe.each(CASES)('fixture %s', (name) => {
  const dir = join(ROOT, name);
  const expected = parseExposition(readFileSync(join(dir, 'expected.txt'), 'utf8'));

  // The libraries' semantics: a file counts until it is deleted (the fixtures' writers exited
  // long ago; with liveness on, their live* gauges would be left out, see lifecycle.test.ts).
  it('gives the library\'s samples, except its documented bugs', () => {
    const collector = new Collector(dir, { liveness: 'off' });
    const collection = collector.collect();
    collector.close();
    expect(collection.skipped).toEqual([]);
    expect(collection.problems).toEqual([]);
    const ours = parseExposition(renderText(collection.families));

    const want = sampleLines(withoutEmptyLabels(expected.samples));
    for (const d of DEVIATIONS[name] ?? []) {
      for (const l of d.library) removeOnce(want, l);
      want.push(...d.ours);
    }
    expect(sampleLines(ours.samples)).toEqual(want.sort());
    expect(ours.types).toEqual(expected.types);
    expect(ours.help).toEqual(expected.help);
  });

  it('gives the same samples in OpenMetrics', () => {
    const collector = new Collector(dir, { liveness: 'off' });
    const families = collector.collect().families;
    collector.close();
    const om = parseExposition(renderOpenMetrics(families));
    expect(om.eof).toBe(true);
    expect(sampleLines(om.samples)).toEqual(sampleLines(parseExposition(renderText(families)).samples));
  });
});

it('covers every fixture kind: Python 0.16, Python >= 0.18 and Ruby', () => {
  expect(CASES.filter((c) => c.startsWith('v025-')).length).toBe(10);
  expect(CASES.filter((c) => c.startsWith('rb-')).length).toBe(4);
  expect(CASES.length).toBe(24);
});
