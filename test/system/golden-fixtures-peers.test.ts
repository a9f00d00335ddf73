/**
 * Our output for every golden fixture, checked by real parsers: promtool (text 0.0.4) and the
 * Python client's OpenMetrics parser.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Collector } from '../../src/collector.js';
import { renderOpenMetrics, renderText } from '../../src/exposition/index.js';
import { peerAvailableUnderCi, peers } from '../helpers/peers.js';

const ROOT = join(import.meta.dirname, '..', 'fixtures');
const CASES = readdirSync(ROOT).filter((c) => existsSync(join(ROOT, c, 'expected.txt'))).sort();
const { promtool, python } = peers();

function families(name: string) {
  const collector = new Collector(join(ROOT, name), { liveness: 'off' });
  const { families } = collector.collect();
  collector.close();
  return families;
}

describe('promtool check metrics', () => {
  peerAvailableUnderCi(promtool);
  it.skipIf(!promtool.available).each(CASES)('parses the text output of %s', (name) => {
    const r = spawnSync(promtool.command, ['check', 'metrics'], { input: renderText(families(name)), encoding: 'utf8' });
    // 3 = only lint warnings about the fixtures' own metric names; 1 = a parse error.
    expect(r.stdout + r.stderr).not.toMatch(/error while linting|parsing error/);
    expect([0, 3]).toContain(r.status);
  });
});

// Parses with the strict OpenMetrics parser and prints `name labels value` per sample, sorted.
const OM_CHECK = `
import sys, json, math
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        v = s.value
        out.append(json.dumps([s.name, sorted(s.labels.items()), 'NaN' if math.isnan(v) else repr(float(v))]))
print(len(out))
`;

describe("Python's OpenMetrics parser", () => {
  peerAvailableUnderCi(python);
  it.skipIf(!python.available).each(CASES)('accepts the OpenMetrics output of %s', (name) => {
    const fams = families(name);
    const om = renderOpenMetrics(fams);
    const r = spawnSync(python.command, ['-c', OM_CHECK], { input: om, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const samples = fams.reduce((n, f) => n + f.samples.length, 0);
    expect(Number(r.stdout.trim())).toBe(samples);
  });
});
