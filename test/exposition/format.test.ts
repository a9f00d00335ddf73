/** src/exposition/format.ts: each format's renderer and Content-Type, picked by name. */
import { describe, expect, it } from 'vitest';
import { contentType, FORMATS, render } from '../../src/exposition/format.js';
import type { MetricFamily } from '../../src/merge/model.js';

const families: MetricFamily[] = [
  { name: 'jobs', type: 'counter', help: 'Jobs done.', samples: [{ name: 'jobs_total', labels: [['queue', 'a']], value: 3 }] },
  { name: 'depth', type: 'gauge', help: 'Queue depth.', samples: [{ name: 'depth', labels: [], value: 1.5 }] },
];

describe('exposition formats', () => {
  it('are text and openmetrics', () => {
    expect(FORMATS).toEqual(['text', 'openmetrics']);
  });

  it('text: Prometheus text 0.0.4 (HELP before TYPE, the counter named by its sample)', () => {
    expect(contentType('text')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(render('text', families)).toBe(
      '# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\njobs_total{queue="a"} 3\n# HELP depth Queue depth.\n# TYPE depth gauge\ndepth 1.5\n',
    );
  });

  it('openmetrics: OpenMetrics 1.0.0 (TYPE before HELP, the family name, # EOF)', () => {
    expect(contentType('openmetrics')).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    expect(render('openmetrics', families)).toBe(
      '# TYPE jobs counter\n# HELP jobs Jobs done.\njobs_total{queue="a"} 3\n# TYPE depth gauge\n# HELP depth Queue depth.\ndepth 1.5\n# EOF\n',
    );
  });
});
