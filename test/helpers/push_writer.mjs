#!/usr/bin/env node
/**
 * A live worker of our writer library for the push tests (dist/writer; PROMETHEUS_MULTIPROC_DIR
 * set by the caller, process id node-INDEX). Writes round 1 at start, one more round per line on
 * stdin, and prints "round N" after each; exits when stdin closes.
 *
 *   node push_writer.mjs INDEX
 */
import { createInterface } from 'node:readline';
import { Counter, Gauge, Histogram, configure } from '../../dist/writer/index.js';

const i = Number(process.argv[2]);
configure({ processId: `node-${i}` });
const jobs = new Counter({ name: 'node_jobs_total', help: 'Jobs done.', labelNames: ['queue'] });
const inflight = new Gauge({ name: 'node_inflight', help: 'In flight.', labelNames: ['queue'], multiprocessMode: 'livesum' });
const peak = new Gauge({ name: 'node_peak', help: 'Peak.', multiprocessMode: 'max' });
const started = new Gauge({ name: 'node_started', help: 'Start marker.', multiprocessMode: 'all' });
const latency = new Histogram({ name: 'node_latency_seconds', help: 'Latency.', labelNames: ['route'], buckets: [0.125, 1] });

function write(r) {
  jobs.inc({ queue: 'a' }, 1 + i);
  jobs.inc({ queue: 'b' }, 0.5);
  inflight.set({ queue: 'a' }, 10 * (i + 1) + r);
  peak.set(100 * (i + 1) * r);
  started.set(1000 + i);
  latency.observe({ route: '/x' }, 0.0625);
  latency.observe({ route: '/x' }, 0.5 * (i + 1));
}

let r = 1;
write(r);
process.stdout.write(`round ${r}\n`);
createInterface({ input: process.stdin }).on('line', () => {
  r += 1;
  write(r);
  process.stdout.write(`round ${r}\n`);
});
