/**
 * The writer's API contract in-process: prom-client-style validation with clear errors, a
 * missing directory reported at first use (not at import), and configure() rules.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { configure, Counter, Gauge, Histogram, Summary, WriterConfigError } from '../../src/writer/index.js';
import { resetSettingsForTests } from '../../src/writer/settings.js';

const tmp = mkdtempSync(join(tmpdir(), 'mpe-writer-api-'));
const savedDir = process.env['PROMETHEUS_MULTIPROC_DIR'];
afterEach(() => {
  resetSettingsForTests();
  if (savedDir === undefined) delete process.env['PROMETHEUS_MULTIPROC_DIR'];
  else process.env['PROMETHEUS_MULTIPROC_DIR'] = savedDir;
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('the metrics directory', () => {
  it('without PROMETHEUS_MULTIPROC_DIR or configure({ dir }), metrics can be defined; the first write says what to do', () => {
    delete process.env['PROMETHEUS_MULTIPROC_DIR'];
    const c = new Counter({ name: 'no_dir_total', help: 'h' });
    expect(() => c.inc()).toThrow(new WriterConfigError('no metrics directory: set PROMETHEUS_MULTIPROC_DIR or call configure({ dir })'));
  });

  it('a directory that does not exist is named in the error at first use', () => {
    const missing = join(tmp, 'missing');
    configure({ dir: missing });
    const c = new Counter({ name: 'missing_dir_total', help: 'h', labelNames: ['a'] });
    expect(() => c.inc({ a: 'x' })).toThrow(`multiproc-exporter/writer: metrics directory ${missing} cannot be used: ENOENT`);
  });

  it('a file where the directory should be is refused', () => {
    const file = join(tmp, 'a-file');
    writeFileSync(file, '');
    configure({ dir: file });
    expect(() => new Gauge({ name: 'file_dir', help: 'h', labelNames: ['a'] }).set({ a: 'x' }, 1)).toThrow(`metrics directory ${file} is not a directory`);
  });

  it('configure() after the first write is an error (the files are already open)', () => {
    const dir = mkdtempSync(join(tmp, 'd-'));
    configure({ dir, processId: 'api1' });
    new Counter({ name: 'first_total', help: 'h' }).inc();
    expect(readdirSync(dir)).toEqual(['counter_api1.db']);
    expect(() => configure({ dir })).toThrow('configure() must be called before the first metric is written');
  });
});

describe('configure() validation', () => {
  it.each([
    [{ layout: 'go' }, 'layout "go" is not python, python-legacy or ruby'],
    [{ processId: 'a/b' }, 'processId "a/b" may only contain letters, digits, ".", "-" and "_"'],
    [{ processId: 'worker_1' }, 'processId "worker_1" contains "_", which Python\'s reader misreads; use "-" instead'],
    [{ processId: 'worker_1', layout: 'python-legacy' }, 'contains "_"'],
  ])('%j → %s', (options, message) => {
    expect(() => configure(options as Parameters<typeof configure>[0])).toThrow(message);
  });

  it('accepts "_" in a process id for the ruby layout (the gem reads it back whole)', () => {
    expect(() => configure({ processId: 'puma_0', layout: 'ruby' })).not.toThrow();
  });
});

describe('metric validation, as prom-client does it', () => {
  it.each([
    [() => new Counter({ name: '1abc', help: 'h' }), 'invalid metric name "1abc"'],
    [() => new Counter({ name: 'a-b', help: 'h' }), 'invalid metric name "a-b"'],
    [() => new Counter({ name: 'ok', help: '' }), 'metric ok: help is required'],
    [() => new Counter({ name: 'ok', help: 'h', labelNames: ['__x'] }), 'metric ok: invalid label name "__x"'],
    [() => new Counter({ name: 'ok', help: 'h', labelNames: ['a-b'] }), 'metric ok: invalid label name "a-b"'],
    [() => new Counter({ name: 'ok', help: 'h', labelNames: ['a', 'a'] }), 'metric ok: duplicate label names'],
    [() => new Histogram({ name: 'ok', help: 'h', labelNames: ['le'] }), 'metric ok: label name le is reserved for this metric type'],
    [() => new Summary({ name: 'ok', help: 'h', labelNames: ['quantile'] }), 'label name quantile is reserved'],
    [() => new Histogram({ name: 'ok', help: 'h', buckets: [1, 1] }), 'histogram ok: buckets must be strictly increasing'],
    [() => new Histogram({ name: 'ok', help: 'h', buckets: [1, NaN] }), 'histogram ok: bucket NaN is not a number'],
    [() => new Gauge({ name: 'ok', help: 'h', multiprocessMode: 'avg' as never }), 'gauge ok: multiprocessMode "avg" is not one of all, liveall'],
  ])('%#: %s', (make, message) => {
    expect(make).toThrow(message);
  });

  describe('label values and increments', () => {
    const dir = mkdtempSync(join(tmp, 'labels-'));
    const setup = () => configure({ dir, processId: 'api2' });

    it('a negative or NaN counter increment is rejected and nothing is written', () => {
      setup();
      const c = new Counter({ name: 'neg_total', help: 'h' });
      expect(() => c.inc(-1)).toThrow(new RangeError('counter increment must be a non-negative number, got -1'));
      expect(() => c.inc(NaN)).toThrow('counter increment must be a non-negative number, got NaN');
      expect(readdirSync(dir)).toEqual(['counter_api2.db']); // this test's directory, not an earlier one's
    });

    it('label values: wrong count, unknown or missing names are errors that name the labels', () => {
      setup();
      const c = new Counter({ name: 'lab_total', help: 'h', labelNames: ['method', 'code'] });
      expect(() => c.labels('GET')).toThrow('metric lab_total: expected 2 label values (method, code), got 1');
      expect(() => c.inc({ method: 'GET', code: 200, extra: 'x' })).toThrow('metric lab_total: label extra is not one of its label names (method, code)');
      expect(() => c.inc({ method: 'GET' })).toThrow('metric lab_total: missing label code (expected method, code)');
      expect(() => c.inc()).toThrow('metric lab_total: label values are required (method, code)');
    });

    it('the same label values reach the same child, by position or by name, numbers as their text', () => {
      setup();
      const c = new Counter({ name: 'same_total', help: 'h', labelNames: ['method', 'code'] });
      expect(c.labels('GET', 200)).toBe(c.labels({ code: '200', method: 'GET' }));
    });

    it('gauge and histogram values must be numbers', () => {
      setup();
      const g = new Gauge({ name: 'g_nan', help: 'h' });
      expect(() => g.set(NaN)).toThrow('gauge value must be a number, got NaN');
      const h = new Histogram({ name: 'h_nan', help: 'h' });
      expect(() => h.observe(NaN)).toThrow('histogram observation must be a number, got NaN');
    });
  });

  it('a gauge mode the layout’s reader does not know is refused at first use', () => {
    configure({ dir: mkdtempSync(join(tmp, 'ruby-')), layout: 'ruby', processId: 'r1' });
    const g = new Gauge({ name: 'g_livemin', help: 'h', labelNames: ['a'], multiprocessMode: 'livemin' });
    expect(() => g.set({ a: 'x' }, 1)).toThrow('gauge g_livemin: multiprocessMode livemin is not supported by the ruby layout\'s reader (all, liveall, min, max, livesum)');
  });
});
