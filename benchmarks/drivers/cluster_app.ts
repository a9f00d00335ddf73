/**
 * The application of the cluster scenario: a Node `cluster` primary with BENCH_WORKERS HTTP
 * workers on one shared loopback port. Every request increments a labelled counter and observes
 * a histogram; each worker first creates BENCH_SERIES series so a scrape is heavy. BENCH_MODE:
 *
 *   none        no metrics
 *   aggregator  prom-client in each worker, AggregatorRegistry in the primary serves /metrics on its own port
 *   per-worker  prom-client in each worker, each serving its own /metrics on the shared port
 *   sidecar     our writer in each worker (files in BENCH_DIR), served by the daemon
 *
 * Talks to the benchmark over IPC: sends {type:'ready', appPort, metricsPort, workerPids}; on
 * {type:'served?'} answers {type:'served', total} (requests handled, /metrics excluded).
 */
import cluster, { type Worker } from 'node:cluster';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ClusterMode = 'none' | 'aggregator' | 'per-worker' | 'sidecar';

export type PrimaryMessage =
  | { type: 'ready'; appPort: number; metricsPort: number | null; workerPids: number[] }
  | { type: 'served'; total: number };

type WorkerMessage = { type: 'listening'; port: number } | { type: 'served'; count: number };

const mode = (process.env['BENCH_MODE'] ?? 'none') as ClusterMode;
const workerCount = Number(process.env['BENCH_WORKERS'] ?? 8);
const seriesPerWorker = Number(process.env['BENCH_SERIES'] ?? 10_000);

/** What a request records; one implementation per library. */
interface RequestMetrics {
  record(method: string, route: string, code: string, seconds: number): void;
  /** prom-client's own /metrics (per-worker mode only). */
  render?(): Promise<{ body: string; contentType: string }>;
}

/** Histogram children with default buckets: 12 buckets + _sum + _count = 14 samples each. */
const HISTOGRAM_SAMPLES = 14;

async function metricsFor(id: number): Promise<RequestMetrics | null> {
  if (mode === 'none') return null;
  const counters = Math.round(seriesPerWorker * 0.8);
  const jobs = Math.round((seriesPerWorker - counters) / HISTOGRAM_SAMPLES);
  if (mode === 'sidecar') {
    const writer = await import('multiproc-exporter/writer');
    writer.configure({ dir: process.env['BENCH_DIR']!, processId: `w${id}` });
    const requests = new writer.Counter({ name: 'http_requests_total', help: 'Requests handled.', labelNames: ['method', 'route', 'code'] });
    const latency = new writer.Histogram({ name: 'http_request_duration_seconds', help: 'Request latency.', labelNames: ['method', 'route'] });
    const items = new writer.Counter({ name: 'app_items_processed_total', help: 'Items processed.', labelNames: ['shard', 'kind'] });
    const jobTime = new writer.Histogram({ name: 'app_job_duration_seconds', help: 'Job duration.', labelNames: ['job'] });
    for (let i = 0; i < counters; i++) items.inc({ shard: `s${i % 100}`, kind: `k${Math.floor(i / 100)}` }, 1 + ((i + id) % 5));
    for (let j = 0; j < jobs; j++) jobTime.observe({ job: `j${j}` }, ((j + id) % 50) / 10);
    return {
      record: (method, route, code, seconds) => {
        requests.inc({ method, route, code });
        latency.observe({ method, route }, seconds);
      },
    };
  }
  const client = await import('prom-client');
  // As in prom-client's cluster example: constructing it in a worker installs the listener that
  // answers the primary's requests for this worker's metrics.
  if (mode === 'aggregator') new client.AggregatorRegistry();
  const requests = new client.Counter({ name: 'http_requests_total', help: 'Requests handled.', labelNames: ['method', 'route', 'code'] });
  const latency = new client.Histogram({ name: 'http_request_duration_seconds', help: 'Request latency.', labelNames: ['method', 'route'] });
  const items = new client.Counter({ name: 'app_items_processed_total', help: 'Items processed.', labelNames: ['shard', 'kind'] });
  const jobTime = new client.Histogram({ name: 'app_job_duration_seconds', help: 'Job duration.', labelNames: ['job'] });
  for (let i = 0; i < counters; i++) items.inc({ shard: `s${i % 100}`, kind: `k${Math.floor(i / 100)}` }, 1 + ((i + id) % 5));
  for (let j = 0; j < jobs; j++) jobTime.observe({ job: `j${j}` }, ((j + id) % 50) / 10);
  return {
    record: (method, route, code, seconds) => {
      requests.inc({ method, route, code });
      latency.observe({ method, route }, seconds);
    },
    render: async () => ({ body: await client.register.metrics(), contentType: client.register.contentType }),
  };
}

async function runWorker(): Promise<void> {
  const id = cluster.worker!.id;
  const metrics = await metricsFor(id);
  let served = 0;
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const t0 = performance.now();
    if (req.url === '/metrics' && metrics?.render !== undefined) {
      metrics.render().then(
        ({ body, contentType }) => {
          res.setHeader('Content-Type', contentType);
          res.end(body);
        },
        (e: unknown) => {
          res.statusCode = 500;
          res.end(String(e));
        },
      );
      return;
    }
    served++;
    metrics?.record(req.method ?? 'GET', '/', '200', (performance.now() - t0) / 1000);
    res.setHeader('Content-Type', 'text/plain');
    res.end('ok\n');
  };
  const server = createServer(handle);
  server.keepAliveTimeout = 30_000;
  process.on('message', (m: { type?: string }) => {
    if (m.type === 'served?') process.send!({ type: 'served', count: served } satisfies WorkerMessage);
  });
  server.listen(Number(process.env['BENCH_PORT'] ?? 0), '127.0.0.1', () => {
    process.send!({ type: 'listening', port: (server.address() as AddressInfo).port } satisfies WorkerMessage);
  });
}

function nextMessage<T extends WorkerMessage['type']>(w: Worker, type: T): Promise<Extract<WorkerMessage, { type: T }>> {
  return new Promise((resolve) => {
    const on = (m: WorkerMessage): void => {
      if (m.type !== type) return;
      w.off('message', on);
      resolve(m as Extract<WorkerMessage, { type: T }>);
    };
    w.on('message', on);
  });
}

async function runPrimary(): Promise<void> {
  const workers: Worker[] = [];
  for (let i = 0; i < workerCount; i++) workers.push(cluster.fork());
  const listening = await Promise.all(workers.map((w) => nextMessage(w, 'listening')));
  const appPort = listening[0]!.port;

  let metricsPort: number | null = null;
  if (mode === 'aggregator') {
    const { AggregatorRegistry } = await import('prom-client');
    const registry = new AggregatorRegistry();
    const server = createServer((_req, res) => {
      registry.clusterMetrics().then(
        (body) => {
          res.setHeader('Content-Type', registry.contentType);
          res.end(body);
        },
        (e: unknown) => {
          res.statusCode = 500;
          res.end(String(e));
        },
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    metricsPort = (server.address() as AddressInfo).port;
  }

  process.on('message', (m: { type?: string }) => {
    if (m.type !== 'served?') return;
    void Promise.all(
      workers.map((w) => {
        const answer = nextMessage(w, 'served');
        w.send({ type: 'served?' });
        return answer;
      }),
    ).then((answers) => {
      const total = answers.reduce((sum, a) => sum + a.count, 0);
      process.send!({ type: 'served', total } satisfies PrimaryMessage);
    });
  });
  const stop = (): void => {
    for (const w of workers) w.process.kill('SIGKILL');
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('disconnect', stop);
  process.send!({ type: 'ready', appPort, metricsPort, workerPids: workers.map((w) => w.process.pid!) } satisfies PrimaryMessage);
}

if (cluster.isPrimary) await runPrimary();
else await runWorker();
