/**
 * One worker process of a benchmark directory, written by our writer library (default `python`
 * layout, PROMETHEUS_MULTIPROC_DIR set by the caller). Same write pattern as write_python.py;
 * benchmarks/harness/data.ts (`WritePattern`) computes the expected exposition from it.
 *
 *   node --import tsx write_node.ts INDEX ROUTES HISTOGRAM_ROUTES QUEUES
 */
import { Counter, Gauge, Histogram } from 'multiproc-exporter/writer';

const CODES = ['200', '201', '404', '500'];
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Dyadic observations: sums are exact in any order, so every reader must agree to the bit. */
const OBSERVATIONS = Array.from({ length: 12 }, (_, k) => 2 ** (k - 8));

const [p, routes, histogramRoutes, queues] = process.argv.slice(2, 6).map(Number) as [number, number, number, number];
const pad = (n: number): string => String(n).padStart(3, '0');

const requests = new Counter({ name: 'bench_requests_total', help: 'Requests handled.', labelNames: ['route', 'code'] });
const latency = new Histogram({ name: 'bench_latency_seconds', help: 'Request latency.', labelNames: ['route'], buckets: BUCKETS });
const inflight = new Gauge({ name: 'bench_inflight', help: 'Requests in flight.', labelNames: ['queue'], multiprocessMode: 'livesum' });
const oldest = new Gauge({ name: 'bench_queue_oldest_seconds', help: 'Age of the oldest job.', labelNames: ['queue'], multiprocessMode: 'max' });

for (let r = 0; r < routes; r++) {
  CODES.forEach((code, c) => requests.labels(`r${pad(r)}`, code).inc(1 + ((r * CODES.length + c + p) % 7)));
}
for (let j = 0; j < histogramRoutes; j++) {
  const child = latency.labels(`r${pad(j)}`);
  for (let k = 0; k < 3; k++) child.observe(OBSERVATIONS[(j + p + k) % OBSERVATIONS.length]!);
}
for (let q = 0; q < queues; q++) {
  inflight.labels(`q${pad(q)}`).set((q * 31 + p) % 97);
  oldest.labels(`q${pad(q)}`).set((q * 17 + p * 13) % 1009);
}
