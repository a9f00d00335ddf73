#!/usr/bin/env node
/**
 * The README's cluster example, made testable: the primary starts the exporter (wiping the
 * directory) before it forks WORKERS workers; each worker configures the writer with its cluster
 * worker id, counts one start-up and tells the primary. The primary then prints
 * {"metricsUrl":…,"pid":…} and runs until SIGTERM (stopOnSignals).
 */
import cluster from 'node:cluster';
import { startExporter } from 'multiproc-exporter';
import { Counter, configure } from 'multiproc-exporter/writer';

const dir = process.env.PROMETHEUS_MULTIPROC_DIR;
const workers = Number(process.env.WORKERS ?? '2');

if (cluster.isPrimary) {
  const exporter = await startExporter({ dir, listen: '127.0.0.1:0', wipeDirectory: true, stopOnSignals: true, log: 'ignore' });
  let ready = 0;
  for (let i = 0; i < workers; i++) {
    cluster.fork({ PROMETHEUS_MULTIPROC_DIR: dir }).on('message', () => {
      if (++ready === workers) process.stdout.write(`${JSON.stringify({ metricsUrl: exporter.metricsUrl, pid: exporter.pid })}\n`);
    });
  }
} else {
  configure({ dir, processId: cluster.worker.id });
  const starts = new Counter({ name: 'app_worker_starts_total', help: 'Worker start-ups.', labelNames: ['worker'] });
  starts.inc({ worker: String(cluster.worker.id) });
  new Counter({ name: 'app_starts_total', help: 'Start-ups of all workers.' }).inc(10);
  process.send('ready');
  setInterval(() => {}, 1_000); // serve until the primary goes
}
