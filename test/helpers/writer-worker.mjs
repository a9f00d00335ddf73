#!/usr/bin/env node
/**
 * A real writer process for the writer tests: `node writer-worker.mjs <scenario> [idx]`, with
 * PROMETHEUS_MULTIPROC_DIR, WRITER_LAYOUT and WRITER_PROCESS_ID in the environment.
 *
 * The `py:*` and `rb:*` scenarios repeat, call for call, what the fixture generators
 * (test/fixtures/gen.py, gen_ruby.rb) did with the real libraries, so the files must come out
 * byte-identical to the fixtures'. Plain JS importing dist/ (built by `npm test`), so each process
 * starts in milliseconds.
 */
import { Counter, Gauge, Histogram, Summary, configure, heartbeat } from '../../dist/writer/index.js';

const [scenario, idxArg = '0', ...rest] = process.argv.slice(2);
const idx = Number(idxArg);
const options = { layout: process.env.WRITER_LAYOUT ?? 'python' };
if (process.env.WRITER_PROCESS_ID) options.processId = process.env.WRITER_PROCESS_ID;
if (process.env.WRITER_HEARTBEAT) options.heartbeatSeconds = Number(process.env.WRITER_HEARTBEAT);
configure(options);

const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Python's Histogram.DEFAULT_BUCKETS (not prom-client's), for byte-identical files. */
const PY_DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

const PY_TRICKY_VALUES = ['plain', 'caf\u00e9 \u65e5\u672c \u{1F642}', 'say "hi"', 'C:\\path\\to\\file', 'line1\nline2', '', 'tab\there', 'ctrl\x01char', 'ls\u2028ps\u2029', '}{,= #', '/slash/', 'trailing space '];

const pythonModes = () =>
  options.layout === 'python'
    ? ['all', 'liveall', 'min', 'livemin', 'max', 'livemax', 'sum', 'livesum', 'mostrecent', 'livemostrecent']
    : ['all', 'liveall', 'min', 'livemin', 'max', 'livemax', 'sum', 'livesum'];

const scenarios = {
  'py:counter_basic'() {
    const c = new Counter({ name: 'requests', help: 'Total requests handled.', labelNames: ['method', 'code'] });
    const plain = new Counter({ name: 'jobs_processed_total', help: 'Jobs processed (no labels).' });
    for (const a of [[1, 2, 0.5], [4, 0.25], [8]][idx]) c.labels({ method: 'GET', code: '200' }).inc(a);
    c.labels('POST', '500').inc(idx + 1);
    if (idx === 1) c.labels({ method: 'PUT', code: '201' }).inc(16);
    if (idx === 2) c.labels({ method: 'DELETE', code: '404' });
    plain.inc(10 ** idx);
  },
  'py:gauge_modes'() {
    const perWorker = [3.0, -1.5, 10.0];
    for (const m of pythonModes()) {
      const g = new Gauge({ name: `g_${m}`, help: `Gauge in ${m} mode.`, labelNames: ['k'], multiprocessMode: m });
      const nolab = new Gauge({ name: `g_${m}_nolabels`, help: `Unlabelled gauge in ${m} mode.`, multiprocessMode: m });
      g.labels({ k: 'shared' }).set(perWorker[idx]);
      g.labels({ k: `only${idx}` }).set(100 + idx);
      nolab.set(perWorker[idx] * 2);
      if (idx === 0) g.labels({ k: 'never_set' });
      if (!m.endsWith('mostrecent')) {
        g.labels({ k: 'incdec' }).inc(5);
        g.labels({ k: 'incdec' }).dec(2 + idx);
      }
      sleep(2);
    }
  },
  'py:histogram_custom'() {
    const h = new Histogram({ name: 'request_latency_seconds', help: 'Request latency.', labelNames: ['route'], buckets: [0.25, 0.5, 1, 2.5, 10] });
    for (const v of [[0.125, 0.25, 0.375, 0.5, 1, 2.5, 3, 10, 12, -2], [0.5, 0.5, 1048576], [0.0625]][idx]) h.labels({ route: '/api' }).observe(v);
    h.labels({ route: `/only${idx}` }).observe(idx);
    if (idx === 0) h.labels({ route: '/never' });
    const h2 = new Histogram({ name: 'payload_bytes', help: 'Payload size with big buckets.', buckets: [1, 5, 1e8, 12345678901.0, Infinity] });
    const all = [0.5, 5, 6, 99999999, 1e8, 2e10];
    for (const v of [...all.filter((_, i) => i % 3 === idx), idx * 3]) h2.observe(v);
    const h3 = new Histogram({ name: 'default_buckets_seconds', help: 'Histogram with default buckets.', buckets: PY_DEFAULT_BUCKETS });
    h3.observe(0.0078125 * (idx + 1));
  },
  'py:summary_basic'() {
    const s = new Summary({ name: 'rpc_duration_seconds', help: 'RPC duration.', labelNames: ['service'] });
    for (const v of [0.5, 0.25, 4].slice(0, idx + 1)) s.labels({ service: 'auth' }).observe(v);
    s.labels({ service: `billing${idx}` }).observe(idx);
    const s2 = new Summary({ name: 'batch_size', help: 'Batch size (no labels).' });
    s2.observe(2 ** idx);
  },
  'py:labels_tricky'() {
    const help = 'Help with \\ backslash,\nnewline, "quotes", unicode caf\u00e9 \u{1F642}.';
    const c = new Counter({ name: 'tricky_labels', help, labelNames: ['zeta', 'alpha', 'mid'] });
    const g = new Gauge({ name: 'tricky_gauge', help: 'Gauge all with tricky labels.', labelNames: ['v'], multiprocessMode: 'all' });
    const gs = new Gauge({ name: 'tricky_gauge_sum', help: 'Gauge sum with tricky labels.', labelNames: ['v'], multiprocessMode: 'sum' });
    PY_TRICKY_VALUES.forEach((v, i) => {
      c.labels({ zeta: v, alpha: `a${i % 2}`, mid: 'm' }).inc(idx + 1);
      g.labels({ v }).set(i + idx / 4);
      gs.labels({ v }).set(i + 1);
    });
  },
  'py:app_realistic'() {
    const reqs = new Counter({ name: 'http_requests', help: 'HTTP requests.', labelNames: ['method', 'status'] });
    const inflight = new Gauge({ name: 'http_inflight', help: 'In-flight requests.', multiprocessMode: 'livesum' });
    const workers = new Gauge({ name: 'worker_started_unixtime', help: 'Worker start time.', multiprocessMode: 'liveall' });
    const mem = new Gauge({ name: 'worker_rss_bytes_max', help: 'Max RSS.', multiprocessMode: 'max' });
    const lat = new Histogram({ name: 'http_request_duration_seconds', help: 'Latency.', labelNames: ['method'], buckets: [0.0625, 0.25, 1, 4] });
    const size = new Summary({ name: 'http_response_size_bytes', help: 'Response size.', labelNames: ['method'] });
    for (let j = 0; j < idx + 3; j++) {
      const method = ['GET', 'POST'][j % 2];
      reqs.labels({ method, status: '200' }).inc();
      lat.labels({ method }).observe(0.03125 * (j + 1) * (idx + 1));
      size.labels({ method }).observe(512 * (j + 1));
    }
    reqs.labels({ method: 'GET', status: '503' }).inc(idx);
    inflight.inc(idx + 1);
    workers.set(1700000000 + idx);
    mem.set(1024 * 1024 * (idx + 10));
  },
  'rb:basic'() {
    const c = new Counter({ name: 'rb_requests_total', help: 'Requests.', labelNames: ['method', 'code'] });
    const gauges = ['all', 'liveall', 'min', 'max', 'livesum'].map((m) => new Gauge({ name: `rb_g_${m}`, help: `Gauge ${m}.`, labelNames: ['k'], multiprocessMode: m }));
    const h = new Histogram({ name: 'rb_latency_seconds', help: 'Latency.', labelNames: ['route'], buckets: [0.25, 0.5, 1, 2.5, 10] });
    const s = new Summary({ name: 'rb_payload_bytes', help: 'Payload.', labelNames: ['service'] });
    for (const a of [1, 2, 0.5].slice(0, idx + 1)) c.inc({ method: 'GET', code: '200' }, a);
    c.inc({ code: '500', method: 'POST' }, idx + 1);
    new Counter({ name: 'rb_jobs_total', help: 'Jobs (no labels).' }).inc(10 ** idx);
    const per = [3.0, -1.5, 10.0];
    for (const g of gauges) {
      g.set({ k: 'shared' }, per[idx]);
      g.set({ k: `only${idx}` }, 100 + idx);
      g.inc({ k: 'incdec' }, 5);
      g.dec({ k: 'incdec' }, 2 + idx);
    }
    for (const v of [[0.125, 0.25, 0.375, 0.5, 1, 2.5, 3, 10, 12, -2], [0.5, 0.5, 1_048_576], [0.0625]][idx]) h.observe({ route: '/api' }, v);
    h.observe({ route: `/only${idx}` }, idx);
    for (const v of [0.5, 0.25, 4].slice(0, idx + 1)) s.observe({ service: 'auth' }, v);
  },
  'rb:same_worker_id'() {
    new Counter({ name: 'rb_same_id_total', help: 'Counter from two processes sharing a worker id.' }).inc(idx + 1);
    new Gauge({ name: 'rb_same_id_gauge', help: 'Gauge all from two processes sharing a worker id.', multiprocessMode: 'all' }).set(idx + 1);
    holdUntilStdinCloses();
  },

  /** Every metric type in modes all three layouts' readers know, with dyadic values (exact sums); see writer-interop.test.ts. */
  interop() {
    const reqs = new Counter({ name: 'http_requests_total', help: 'HTTP requests.', labelNames: ['method', 'code'] });
    for (let j = 0; j < idx + 2; j++) reqs.inc({ method: 'GET', code: '200' });
    reqs.labels('POST', '500').inc(0.5 * (idx + 1));
    new Counter({ name: 'jobs_total', help: 'Jobs.' }).inc(2 ** idx);
    new Gauge({ name: 'in_flight', help: 'In flight.', multiprocessMode: 'livesum' }).set(idx + 1);
    new Gauge({ name: 'rss_max_bytes', help: 'Max RSS.', multiprocessMode: 'max' }).set(1024 * (idx + 1));
    new Gauge({ name: 'rss_min_bytes', help: 'Min RSS.', multiprocessMode: 'min' }).set(1024 * (idx + 1));
    new Gauge({ name: 'started_seconds', help: 'Start.', multiprocessMode: 'all' }).set(1000 + idx);
    const lat = new Histogram({ name: 'latency_seconds', help: 'Latency.', labelNames: ['route'], buckets: [0.25, 1, 4] });
    for (const v of [0.125, 0.5, 2, 8].slice(0, idx + 1)) lat.observe({ route: '/api' }, v);
    new Summary({ name: 'payload_bytes', help: 'Payload.' }).observe(256 * (idx + 1));
  },
  /** `growth K`: K labelled series created one after another (the file doubles several times), then each incremented again through its old child handle. */
  growth() {
    const k = Number(rest[0]);
    const c = new Counter({ name: 'growth_total', help: 'Growth.', labelNames: ['series'] });
    const children = [];
    for (let i = 0; i < k; i++) {
      const child = c.labels({ series: `s${i}` });
      child.inc(i);
      children.push(child);
    }
    for (const child of children) child.inc(1);
  },
  /** `inc-loop N`: N increments of a shared labelled series and an unlabelled one, plus N/10 observations. */
  'inc-loop'() {
    const n = Number(rest[0]);
    const c = new Counter({ name: 'loop_requests_total', help: 'Shared series.', labelNames: ['route'] });
    const plain = new Counter({ name: 'loop_plain_total', help: 'Unlabelled.' });
    const h = new Histogram({ name: 'loop_latency_seconds', help: 'Latency.', buckets: [0.5, 1] });
    const child = c.labels({ route: '/a' });
    for (let i = 0; i < n; i++) {
      child.inc();
      c.inc({ route: i % 2 === 0 ? '/b' : '/c' });
      plain.inc(0.5);
      if (i % 10 === 0) h.observe((i % 30) / 20);
    }
  },
  /** `lifecycle`: a counter, a histogram and gauges in live and non-live modes; holds until stdin closes. */
  lifecycle() {
    new Counter({ name: 'lc_jobs_total', help: 'Jobs.' }).inc(3 + idx);
    new Histogram({ name: 'lc_latency_seconds', help: 'Latency.', buckets: [1] }).observe(0.5);
    new Gauge({ name: 'lc_in_flight', help: 'In flight.', multiprocessMode: 'livesum' }).set(2);
    new Gauge({ name: 'lc_connected', help: 'Connected.', multiprocessMode: 'liveall' }).set(1);
    new Gauge({ name: 'lc_started_seconds', help: 'Started.', multiprocessMode: 'all' }).set(7);
    new Gauge({ name: 'lc_rss_max_bytes', help: 'RSS.', multiprocessMode: 'max' }).set(100 + idx);
    holdUntilStdinCloses();
  },
  /** `in-flight N`: N requests in flight (livesum) and one connection (liveall), a counter; holds until stdin closes. */
  'in-flight'() {
    new Counter({ name: 'lc_jobs_total', help: 'Jobs.' }).inc();
    new Gauge({ name: 'lc_in_flight', help: 'In flight.', multiprocessMode: 'livesum' }).inc(Number(rest[0]));
    const connected = new Gauge({ name: 'lc_connected', help: 'Connected.', labelNames: ['peer'], multiprocessMode: 'liveall' });
    if (Number(rest[0]) > 0) connected.labels({ peer: 'busy' }).set(1);
    holdUntilStdinCloses();
  },
  /** `count N`: adds N to a counter, then holds its file until stdin closes. */
  count() {
    new Counter({ name: 'lc_count_total', help: 'Counted.' }).inc(Number(rest[0]));
    holdUntilStdinCloses();
  },
  /** `inc-loop-hold N`: the inc-loop scenario, then holds its files until stdin closes. */
  'inc-loop-hold'() {
    scenarios['inc-loop']();
    holdUntilStdinCloses();
  },
  /** `beat-once`: one heartbeat (no timer) and a counter, then holds: alive but soon stale. */
  'beat-once'() {
    heartbeat();
    new Counter({ name: 'held_total', help: 'Held.' }).inc();
    holdUntilStdinCloses();
  },
  /** `hold`: writes one counter, then keeps its files locked until stdin closes. */
  hold() {
    new Counter({ name: 'held_total', help: 'Held.' }).inc(idx + 1);
    holdUntilStdinCloses();
  },
};

function holdUntilStdinCloses() {
  process.stdout.write('ready\n');
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
}

const run = scenarios[scenario];
if (run === undefined) {
  process.stderr.write(`writer-worker: unknown scenario ${scenario}\n`);
  process.exit(2);
}
run();
