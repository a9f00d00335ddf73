/** Scrapes that arrive together share one scan and one rendering per format. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { Collector } from '../../src/collector.js';
import { ScrapeService } from '../../src/server/scrape.js';
import { SelfMetrics } from '../../src/server/self-metrics.js';
import { peerAvailableUnderCi, peers } from '../helpers/peers.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');

function service(dir: string) {
  const collector = new Collector(dir);
  const collect = vi.spyOn(collector, 'collect');
  const scrape = new ScrapeService(collector, new SelfMetrics({ version: 'test', native: 'compiled' }), pino({ level: 'silent' }));
  return { collector, collect, scrape };
}

describe('ScrapeService', () => {
  it('runs one scan for scrapes that arrive together, and renders each format once', async () => {
    const { collector, collect, scrape } = service(join(FIXTURES, 'v025-app_realistic'));
    const bodies = await Promise.all([
      scrape.scrape('text', false),
      scrape.scrape('text', false),
      scrape.scrape('text', true),
      scrape.scrape('openmetrics', false),
      scrape.scan(),
    ]);
    expect(collect).toHaveBeenCalledTimes(1);
    const [a, b, gz, om] = bodies;
    expect(a).toBe(b); // the same rendered body object, not a second rendering
    expect(gz.gzipped).toBe(true);
    expect(gunzipSync(gz.body).equals(a.body)).toBe(true);
    expect(om.contentType).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');

    await scrape.scrape('text', false);
    expect(collect).toHaveBeenCalledTimes(2); // a later scrape scans again
    collector.close();
  });

  it('reports the directory as not ready with the reason, and serves the self metrics', async () => {
    const { collector, scrape } = service(join(FIXTURES, 'does-not-exist'));
    const status = await scrape.scan();
    expect(status.ready).toBe(false);
    expect(status.reason).toMatch(/^metrics directory .*does-not-exist cannot be read: ENOENT/);
    const text = (await scrape.scrape('text', false)).body.toString();
    expect(text).toContain('multiproc_exporter_directory_readable 0\n');
    expect(text).toContain('multiproc_exporter_scrape_errors_total 2\n');
    collector.close();
  });
});

describe("the daemon's own metrics", () => {
  it('hold no gauge named _total (prom-client\'s nodejs_active_*_total are left out)', async () => {
    const families = await new SelfMetrics({ version: 'test', native: 'compiled' }).families();
    expect(families.filter((f) => f.type !== 'counter' && f.name.endsWith('_total')).map((f) => f.name)).toEqual([]);
    expect(families.map((f) => f.name)).toContain('multiproc_exporter_nodejs_active_handles'); // the per-type gauges stay
  });

  const { promtool } = peers();
  peerAvailableUnderCi(promtool);
  it.skipIf(!promtool.available)('a whole scrape lints clean: promtool check metrics exits 0 and prints nothing', async () => {
    const { collector, scrape } = service(join(FIXTURES, 'v025-app_realistic'));
    const body = (await scrape.scrape('text', false)).body;
    collector.close();
    const r = spawnSync(promtool.command, ['check', 'metrics'], { input: body, encoding: 'utf8', timeout: 20_000 });
    expect({ status: r.status, out: r.stdout + r.stderr }).toEqual({ status: 0, out: '' });
  });
});
