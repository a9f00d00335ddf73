/**
 * A demo worker process: simulates serving requests and records them with the writer library
 * (a request counter, a latency histogram, an in-flight gauge), as a real cluster worker would.
 */
import { Counter, Gauge, Histogram, configure } from '../writer/index.js';

const id = process.env['DEMO_WORKER_ID'] ?? '0';
configure({ processId: `demo${id}` }); // dir from PROMETHEUS_MULTIPROC_DIR

const requests = new Counter({ name: 'demo_http_requests_total', help: 'HTTP requests handled.', labelNames: ['method', 'code'] });
const latency = new Histogram({
  name: 'demo_http_request_duration_seconds',
  help: 'HTTP request latency.',
  labelNames: ['method'],
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1],
});
const inflight = new Gauge({ name: 'demo_http_requests_in_flight', help: 'Requests being served.', multiprocessMode: 'livesum' });
const started = new Gauge({ name: 'demo_worker_start_time_seconds', help: 'When each worker started.', multiprocessMode: 'all' });
started.setToCurrentTime();

const methods = ['GET', 'GET', 'GET', 'POST'];
let n = Number(id) * 7;
const tick = setInterval(() => {
  for (let i = 0; i < 5; i++) {
    n++;
    const method = methods[n % methods.length]!;
    const code = n % 17 === 0 ? '500' : n % 5 === 0 ? '404' : '200';
    inflight.inc();
    requests.inc({ method, code });
    latency.observe({ method }, ((n * 37) % 100) / 150);
    inflight.dec();
  }
  inflight.set((n % 3) + 1);
}, 100);

const stop = (): void => {
  clearInterval(tick);
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
