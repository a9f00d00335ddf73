/**
 * One metrics directory holding every kind of bad-but-servable content beside good series written
 * by the real libraries (Debian's prometheus_client under /usr/bin/python3, prometheus-client-mmap
 * under /usr/bin/ruby), by our writer, and by hand (test/helpers/db-bytes.ts). `buildHostileDir`
 * writes it and returns what a correct daemon serves from it: every good series with its exact
 * value and help, and how many of each bad thing it must leave out (by reason).
 *
 * The expected values are what the writers were told to write (the libraries' own semantics),
 * never what our code produced.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildDb, type DbEntry } from './db-bytes.js';

/** Process ids of the writers whose files carry a hostile id: a quote, a backslash and a newline. */
const PY_HOSTILE_ID = 'q"b\\n\nx';
const RB_HOSTILE_ID = 'rb"q\\id\nx';
/** The help a family gets when no file carries one (the Ruby gem never stores it). */
const RUBY_HELP = 'Multiprocess metric';
/** The id of the hand-made files. */
const HAND_ID = 'hand';

const LONG_NAME = `py_long_${'x'.repeat(20_000)}`;
const LONG_LABEL = `l_${'y'.repeat(20_000)}`;
const LONG_VALUE = 'z'.repeat(20_000);
const WIDE_LABELS = 500;

const CTRL_HELP = 'Help \\ bs "dq" lf\nnul\u0000 soh\u0001 cr\r tab\t del\u007f.';
const CTRL_VALUE = 'nul\u0000 soh\u0001 cr\r lf\n tab\t bs\\ dq" del\u007f';
const RB_CTRL_VALUE = 'nul\u0000 soh\u0001 cr\r tab\t';

/** What the real Python writer does; `main` runs under its own pid, `hostile` under PY_HOSTILE_ID. */
const PYTHON_WRITER = String.raw`
import json, os, sys
from prometheus_client import Counter, Gauge, Histogram, Summary, values
S = json.loads(os.environ['HOSTILE_STRINGS'])  # NUL cannot pass in the environment as is
role = sys.argv[1]
if role == 'hostile':
    values.ValueClass = values.MultiProcessValue(lambda: S['PY_ID'])
R = dict(registry=None)  # names that clash on purpose: no registry would take them all
if role == 'main':
    c = Counter('py_requests', 'Requests handled.', ['method'], **R)
    c.labels('GET').inc(3)
    c.labels('POST').inc(1.5)
    Gauge('py_temperature_celsius', 'Temperature.', ['room'], multiprocess_mode='all', **R).labels('lab').set(21.5)
    h = Histogram('py_latency_seconds', 'Latency.', ['route'], buckets=[0.1, 1], **R)
    for v in (0.05, 0.5, 3):
        h.labels('/a').observe(v)
    s = Summary('py_payload_bytes', 'Payload.', **R)
    s.observe(10)
    s.observe(30)
    Counter('py_help', 'First help.', **R).inc(1)
    Counter('py_inf', 'An infinite counter.', **R).inc(float('inf'))
    g = Gauge('py_special', 'Special values.', ['v'], multiprocess_mode='max', **R)
    for k, v in (('nan', float('nan')), ('inf', float('inf')), ('-inf', float('-inf')), ('tiny', 5e-324), ('huge', 1.7976931348623157e308), ('negzero', -0.0)):
        g.labels(k).set(v)
    sur = Counter('py_surrogate', 'Lone \udfff surrogate.', ['v'], **R)
    sur.labels('a\ud800').inc(1)
    sur.labels('a\udc00').inc(2)
    sur.labels('a\ufffd').inc(4)
    Counter('py_ctrl', S['CTRL_HELP'], ['v'], **R).labels(S['CTRL_VALUE']).inc(1)
    Gauge(S['LONG_NAME'], 'A 20 kB name.', [S['LONG_LABEL']], multiprocess_mode='max', **R).labels(S['LONG_VALUE']).set(42)
    Gauge('py_wide', 'Many labels.', ['l%03d' % i for i in range(500)], multiprocess_mode='max', **R).labels(*['v%d' % i for i in range(500)]).set(500)
    # Bad: what a strict parser would reject.
    Gauge('py_pid_clash', 'A user pid label.', ['pid', 'exported_pid'], multiprocess_mode='all', **R).labels('u1', 'u2').set(1)
    Counter('py_nan', 'A NaN counter.', **R).inc(float('nan'))
    Counter('clash', 'Counter clash.', **R).inc(2)
    Gauge('clash_total', 'Gauge clash_total.', multiprocess_mode='max', **R).set(99)
    Histogram('hh', 'Histogram hh.', buckets=[1], **R).observe(0.5)
    Gauge('hh_bucket', 'Gauge hh_bucket.', multiprocess_mode='max', **R).set(7)
    Counter('tc', 'Type conflict: a counter.', **R).inc(5)
    Gauge('tc', 'Type conflict: a gauge.', multiprocess_mode='max', **R).set(6)
    Counter('multiproc_exporter_scrape_errors', 'A worker metric in the daemon namespace.', **R).inc(1)
    Gauge('up', 'A worker gauge named up.', multiprocess_mode='max', **R).set(0.5)
    Gauge('scrape_samples_scraped', 'A worker gauge named like a Prometheus series.', multiprocess_mode='max', **R).set(-7)
    m = Counter('mix', 'A counter also written by a Ruby process without _total.', ['k'], **R)
    m.labels('a').inc(1)
    m.labels('b').inc(2)
else:
    Gauge('py_worker_started', 'Start time.', multiprocess_mode='all', **R).set(111)
    Counter('py_help', 'Second help.', **R).inc(2)
`;

const RUBY_WRITER = String.raw`
require 'json'
require 'prometheus/client'
S = JSON.parse(ENV['HOSTILE_STRINGS'])
Prometheus::Client.configuration.pid_provider = -> { S['RB_ID'] }
r = Prometheus::Client.registry
r.counter(:rb_jobs_total, 'Jobs.').increment({ queue: S['RB_CTRL_VALUE'] }, 4)
r.gauge(:rb_queue_depth, 'Depth.', {}, :all).set({}, 12)
r.histogram(:rb_duration_seconds, 'Duration.', {}, [0.5, 2]).observe({}, 1)
`;

function ourWriter(dist: string): string {
  return `
import { Counter, Gauge, Histogram, configure } from ${JSON.stringify(pathToFileURL(join(dist, 'writer', 'index.js')).href)};
configure({ dir: process.env.PROMETHEUS_MULTIPROC_DIR, layout: 'python' });
new Counter({ name: 'ours_events_total', help: 'Events.', labelNames: ['kind'] }).inc({ kind: 'a' }, 5);
new Gauge({ name: 'ours_inflight', help: 'In flight.', multiprocessMode: 'all' }).set(3);
new Histogram({ name: 'ours_size_bytes', help: 'Sizes.', buckets: [100] }).observe(50);
`;
}

const pyKey = (metric: string, sample: string, labels: Record<string, string> = {}, help = 'Hand-made.'): string => JSON.stringify([metric, sample, labels, help]);
const hand = (entries: [string, number][]): Uint8Array => buildDb(entries.map(([key, value]): DbEntry => ({ key, value })), { slot: 16 });

function run(command: string, args: string[], env: NodeJS.ProcessEnv): number {
  const r = spawnSync(command, args, { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`${command} ${args[0] ?? ''} exited ${r.status ?? r.signal}: ${r.stderr}`);
  return r.pid!;
}

export interface HostileDir {
  /** Good series: `name{label="value",…}` (labels sorted, values JSON-quoted) → exact value. */
  readonly expected: Map<string, number>;
  /** Help of every good family, as the daemon must serve it, by OpenMetrics family name. */
  readonly help: Map<string, string>;
  /** The same by the name text 0.0.4 heads it with (`x_total` for a counter `x`). */
  readonly textHelp: Map<string, string>;
  /** Exposition gate rejections per scrape, by reason. */
  readonly rejected: Record<string, number>;
  /** Files skipped, or served only in part (`type_conflict`: one name, two types), with the reason. */
  readonly skipped: Record<string, string>;
}

/** The key of a series in `expected`: labels sorted by name, values JSON-quoted. */
export function seriesKey(name: string, labels: Iterable<readonly [string, string]>): string {
  const pairs = [...labels].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return pairs.length === 0 ? name : `${name}{${pairs.map(([n, v]) => `${n}=${JSON.stringify(v)}`).join(',')}}`;
}

/** Writes the directory (`dist`: the built package, for our writer). */
export function buildHostileDir(dir: string, dist: string): HostileDir {
  const multiproc = { PROMETHEUS_MULTIPROC_DIR: dir, prometheus_multiproc_dir: dir };
  const strings = JSON.stringify({ CTRL_HELP, CTRL_VALUE, LONG_NAME, LONG_LABEL, LONG_VALUE, PY_ID: PY_HOSTILE_ID, RB_ID: RB_HOSTILE_ID, RB_CTRL_VALUE });
  const env = { ...multiproc, HOSTILE_STRINGS: strings };
  const pyPid = String(run('/usr/bin/python3', ['-c', PYTHON_WRITER, 'main'], env));
  run('/usr/bin/python3', ['-c', PYTHON_WRITER, 'hostile'], env);
  run('/usr/bin/ruby', ['-e', RUBY_WRITER], env);
  const ourPid = String(run(process.execPath, ['--input-type=module', '-e', ourWriter(dist)], multiproc));

  // Hand-made files: content no library writes, but a file can hold.
  const write = (name: string, bytes: Uint8Array): void => writeFileSync(join(dir, name), bytes);
  write(`counter_${HAND_ID}.db`, hand([
    [pyKey('hand_ok', 'hand_ok_total', { k: 'v' }, 'Hand-made good counter.'), 8],
    [pyKey('hand_name', 'hand_name_total', { __name__: 'evil' }), 1],
    [pyKey('hand_meta', 'hand_meta_total', { __meta_x: '1' }), 1],
    [pyKey('hand_neg', 'hand_neg_total'), -5],
    [pyKey('hand_neginf', 'hand_neginf_total'), -Infinity],
  ]));
  write(`histogram_${HAND_ID}.db`, hand([
    // No +Inf bucket.
    [pyKey('hand_noinf', 'hand_noinf_bucket', { le: '1.0' }), 2],
    [pyKey('hand_noinf', 'hand_noinf_sum'), 1.5],
    // A non-numeric le beside good buckets: that bucket goes, the rest stays.
    [pyKey('hand_badle', 'hand_badle_bucket', { le: 'abc' }), 1],
    [pyKey('hand_badle', 'hand_badle_bucket', { le: '1.0' }), 1],
    [pyKey('hand_badle', 'hand_badle_bucket', { le: '+Inf' }), 1],
    [pyKey('hand_badle', 'hand_badle_sum'), 0.5],
    // le="NaN" parses as a float, but no parser takes it as a bound.
    [pyKey('hand_nanle', 'hand_nanle_bucket', { le: 'NaN' }), 1],
    [pyKey('hand_nanle', 'hand_nanle_bucket', { le: '+Inf' }), 1],
    [pyKey('hand_nanle', 'hand_nanle_sum'), 1],
    // le="Inf": +Inf to Go, not the canonical "+Inf" OpenMetrics requires.
    [pyKey('hand_infle', 'hand_infle_bucket', { le: '1.0' }), 1],
    [pyKey('hand_infle', 'hand_infle_bucket', { le: 'Inf' }), 1],
    [pyKey('hand_infle', 'hand_infle_sum'), 1],
    // A fractional bucket count.
    [pyKey('hand_frac', 'hand_frac_bucket', { le: '1.0' }), 0.5],
    [pyKey('hand_frac', 'hand_frac_bucket', { le: '+Inf' }), 0.5],
    [pyKey('hand_frac', 'hand_frac_sum'), 0.2],
    // A negative sum (observations below zero): _count and _sum go, buckets stay.
    [pyKey('hand_negsum', 'hand_negsum_bucket', { le: '1.0' }), 1],
    [pyKey('hand_negsum', 'hand_negsum_bucket', { le: '+Inf' }), 0],
    [pyKey('hand_negsum', 'hand_negsum_sum'), -3],
    // Buckets below zero: OpenMetrics allows no _sum then; _count and _sum go, buckets stay.
    [pyKey('hand_negle', 'hand_negle_bucket', { le: '-1.0' }), 1],
    [pyKey('hand_negle', 'hand_negle_bucket', { le: '+Inf' }), 1],
    [pyKey('hand_negle', 'hand_negle_sum'), -0.5],
  ]));
  // A Ruby counter named like the Python counter mix, but without _total.
  write('counter_rbmix-0.db', buildDb([{ key: '["mix","mix",["k"],["a"]]', value: 10 }, { key: '["mix","mix",["k"],["c"]]', value: 20 }], { slot: 8 }));
  write(`summary_${HAND_ID}.db`, hand([
    [pyKey('hand_negsummary', 'hand_negsummary_count'), 2],
    [pyKey('hand_negsummary', 'hand_negsummary_sum'), -4],
    [pyKey('hand_fracsummary', 'hand_fracsummary_count'), 1.5],
    [pyKey('hand_fracsummary', 'hand_fracsummary_sum'), 3],
  ]));
  write(`gauge_all_${HAND_ID}.db`, hand([
    [pyKey('hand_gauge', 'hand_gauge', { __x: '1' }), 1],
    [pyKey('hand_level', 'hand_level', {}, 'Hand-made good gauge.'), 3],
  ]));
  // Keys the decoder refuses: the whole file is skipped (bad_key_shape), the rest served.
  write('counter_badname.db', hand([[pyKey('bad-name', 'bad-name_total'), 1]]));
  write('counter_badlabel.db', hand([[pyKey('badlabel', 'badlabel_total', { '1x': 'v' }), 1]]));
  write('counter_duplabel.db', hand([['["duplabel", "duplabel_total", {"a": "1", "a": "2"}, "h"]', 1]]));
  write('counter_surrname.db', hand([['["surrname", "surrname_total", {"\\ud800": "v"}, "h"]', 1]]));

  const e = new Map<string, number>();
  const help = new Map<string, string>();
  const textHelp = new Map<string, string>();
  const add = (family: string, familyHelp: string, samples: [string, Record<string, string>, number][]): void => {
    help.set(family, familyHelp);
    textHelp.set(samples.every(([name]) => name === `${family}_total`) ? `${family}_total` : family, familyHelp);
    for (const [name, labels, value] of samples) e.set(seriesKey(name, Object.entries(labels)), value);
  };
  add('py_requests', 'Requests handled.', [['py_requests_total', { method: 'GET' }, 3], ['py_requests_total', { method: 'POST' }, 1.5]]);
  add('py_temperature_celsius', 'Temperature.', [['py_temperature_celsius', { room: 'lab', pid: pyPid }, 21.5]]);
  add('py_latency_seconds', 'Latency.', [
    ['py_latency_seconds_bucket', { route: '/a', le: '0.1' }, 1],
    ['py_latency_seconds_bucket', { route: '/a', le: '1.0' }, 2],
    ['py_latency_seconds_bucket', { route: '/a', le: '+Inf' }, 3],
    ['py_latency_seconds_count', { route: '/a' }, 3],
    ['py_latency_seconds_sum', { route: '/a' }, 0 + 0.05 + 0.5 + 3],
  ]);
  // A user pid beside the user's exported_pid: renamed exported_exported_pid, as Prometheus renames target labels.
  add('py_pid_clash', 'A user pid label.', [['py_pid_clash', { exported_exported_pid: 'u1', exported_pid: 'u2', pid: pyPid }, 1]]);
  add('py_payload_bytes', 'Payload.', [['py_payload_bytes_count', {}, 2], ['py_payload_bytes_sum', {}, 40]]);
  // Help differs across files: the first file in name order gives it (digits sort before "q").
  add('py_help', 'First help.', [['py_help_total', {}, 3]]);
  add('py_inf', 'An infinite counter.', [['py_inf_total', {}, Infinity]]);
  add('py_special', 'Special values.', [
    ['py_special', { v: 'nan' }, NaN],
    ['py_special', { v: 'inf' }, Infinity],
    ['py_special', { v: '-inf' }, -Infinity],
    ['py_special', { v: 'tiny' }, 5e-324],
    ['py_special', { v: 'huge' }, 1.7976931348623157e308],
    ['py_special', { v: 'negzero' }, -0],
  ]);
  // Lone surrogates decode to U+FFFD, so the three label values are one series.
  add('py_surrogate', 'Lone \ufffd surrogate.', [['py_surrogate_total', { v: 'a\ufffd' }, 7]]);
  add('py_ctrl', CTRL_HELP, [['py_ctrl_total', { v: CTRL_VALUE }, 1]]);
  add(LONG_NAME, 'A 20 kB name.', [[LONG_NAME, { [LONG_LABEL]: LONG_VALUE }, 42]]);
  add('py_wide', 'Many labels.', [['py_wide', Object.fromEntries(Array.from({ length: WIDE_LABELS }, (_, i) => [`l${String(i).padStart(3, '0')}`, `v${i}`])), 500]]);
  add('clash', 'Counter clash.', [['clash_total', {}, 2]]);
  add('hh', 'Histogram hh.', [['hh_bucket', { le: '1.0' }, 1], ['hh_bucket', { le: '+Inf' }, 1], ['hh_count', {}, 1], ['hh_sum', {}, 0.5]]);
  add('tc', 'Type conflict: a counter.', [['tc_total', {}, 5]]);
  add('py_worker_started', 'Start time.', [['py_worker_started', { pid: PY_HOSTILE_ID }, 111]]);
  // The gem keeps no help in its files.
  add('rb_jobs', RUBY_HELP, [['rb_jobs_total', { queue: RB_CTRL_VALUE }, 4]]);
  add('rb_queue_depth', RUBY_HELP, [['rb_queue_depth', { pid: RB_HOSTILE_ID }, 12]]);
  add('rb_duration_seconds', RUBY_HELP, [
    ['rb_duration_seconds_bucket', { le: '0.5' }, 0],
    ['rb_duration_seconds_bucket', { le: '2' }, 1],
    ['rb_duration_seconds_bucket', { le: '+Inf' }, 1],
    ['rb_duration_seconds_count', {}, 1],
    ['rb_duration_seconds_sum', {}, 1],
  ]);
  add('ours_events', 'Events.', [['ours_events_total', { kind: 'a' }, 5]]);
  add('ours_inflight', 'In flight.', [['ours_inflight', { pid: ourPid }, 3]]);
  add('ours_size_bytes', 'Sizes.', [['ours_size_bytes_bucket', { le: '100.0' }, 1], ['ours_size_bytes_bucket', { le: '+Inf' }, 1], ['ours_size_bytes_count', {}, 1], ['ours_size_bytes_sum', {}, 50]]);
  add('hand_ok', 'Hand-made good counter.', [['hand_ok_total', { k: 'v' }, 8]]);
  add('hand_badle', 'Hand-made.', [['hand_badle_bucket', { le: '1.0' }, 1], ['hand_badle_bucket', { le: '+Inf' }, 2], ['hand_badle_count', {}, 2], ['hand_badle_sum', {}, 0.5]]);
  add('hand_nanle', 'Hand-made.', [['hand_nanle_bucket', { le: '+Inf' }, 1], ['hand_nanle_count', {}, 1], ['hand_nanle_sum', {}, 1]]);
  add('hand_negsum', 'Hand-made.', [['hand_negsum_bucket', { le: '1.0' }, 1], ['hand_negsum_bucket', { le: '+Inf' }, 1]]);
  add('hand_negsummary', 'Hand-made.', [['hand_negsummary_count', {}, 2]]);
  add('hand_fracsummary', 'Hand-made.', [['hand_fracsummary_sum', {}, 3]]);
  add('hand_level', 'Hand-made good gauge.', [['hand_level', { pid: HAND_ID }, 3]]);
  add('hand_negle', 'Hand-made.', [['hand_negle_bucket', { le: '-1.0' }, 1], ['hand_negle_bucket', { le: '+Inf' }, 2]]);
  add('mix', 'A counter also written by a Ruby process without _total.', [['mix_total', { k: 'a' }, 1], ['mix_total', { k: 'b' }, 2]]);

  return {
    expected: e,
    help,
    textHelp,
    rejected: {
      reserved_label_name: 3, // hand_name{__name__}, hand_meta{__meta_x}, hand_gauge{__x}
      reserved_metric_name: 3, // multiproc_exporter_scrape_errors, up, scrape_samples_scraped
      name_collision: 2, // gauge clash_total beside counter clash; gauge hh_bucket beside histogram hh
      bad_sample_name: 2, // the Ruby mix{k="a"} and mix{k="c"} beside the Python mix_total
      bad_counter_value: 3, // py_nan NaN, hand_neg -5, hand_neginf -Inf
      bad_bucket_bound: 3, // le="abc", le="NaN", le="Inf"
      missing_inf_bucket: 2, // hand_noinf; hand_infle once its le="Inf" bucket is out
      bad_bucket_value: 1, // hand_frac
      bad_count_or_sum: 4, // hand_negsum, hand_negle (each _count and _sum as one), hand_negsummary_sum, hand_fracsummary_count
    },
    skipped: {
      'counter_badname.db': 'bad_key_shape',
      'counter_badlabel.db': 'bad_key_shape',
      'counter_duplabel.db': 'bad_key_shape',
      'counter_surrname.db': 'bad_key_shape', // the lone surrogate makes the label name U+FFFD
      [`gauge_max_${pyPid}.db`]: 'type_conflict', // tc is a counter in counter_<pid>.db, first in name order
    },
  };
}
